#!/usr/bin/env bash
# The GPU check for a session lent a real GPU (see the developers' guide and
# BENCHMARKS.md): the test suite with GPU_REQUIRE_ADAPTER=1, then the bench
# on the machine's adapter against its CPU cores, writing logs to $OUT.
# Each step has its own time limit (about 450 s in all), so that one slow
# step still leaves the others' figures and time for a rerun.
#
# The device machine cannot reach crates.io, so it runs binaries built here
# (release tests, bench and filter_costs in .devbin/) and installs the
# Vulkan loader and GL vendor-neutral libraries from .debs in .gl/:
# `bash scripts/build-devbin.sh` prepares both. Run it with carry
# [".devbin", ".gl"].
set -uo pipefail
OUT=${OUT:-/tmp/device-out}
mkdir -p "$OUT"
# SWEEPS=N runs the steps N times in one call, each in $OUT/run-K/ with a
# calibration of its own: a start costs the session's device time, and a
# sweep takes about 150 s on the H200, so three fit in one call (with
# STEPS="sweep", timeout_s about 560). The device tool brings back at most
# 8 files from $OUT, so a run of several keeps only its lines and its
# calibration there (no chart, no pipeline cache, the card's description
# in the log only): with STEPS="sweep", three runs leave six files, room
# for a tests.txt from a call with STEPS=tests before them.
SWEEPS=${SWEEPS:-1}
if ((SWEEPS > 1)); then
    for k in $(seq 1 "$SWEEPS"); do
        echo "==== run $k of $SWEEPS"
        OUT=$OUT/run-$k SWEEPS=1 ONE_OF_SEVERAL=1 bash "$0"
    done
    exit 0
fi
ONE_OF_SEVERAL=${ONE_OF_SEVERAL:-}
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export XDG_RUNTIME_DIR=/tmp
# The calibration (and the pipeline cache) under $OUT: measured afresh by
# each run's first bench (the pipeline cache starts cold), and brought back
# whole (calibration-*.json) beside the sweep. `src/dispatch/replay.rs`
# reads the figures the bench prints at the top of the sweep; the file
# keeps every figure at full precision.
export GPU_COMPUTE_CACHE_DIR=$OUT/cache
[[ -n $ONE_OF_SEVERAL ]] && GPU_COMPUTE_CACHE_DIR=$(mktemp -d)
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[[ -f $nvidia_icd ]] && export VK_DRIVER_FILES=$nvidia_icd
{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
    nproc
    lscpu | grep -E 'Model name|^CPU\(s\)'
} 2>&1 | tee "$(if [[ -n $ONE_OF_SEVERAL ]]; then echo /dev/null; else echo "$OUT/gpu.txt"; fi)"

# The steps to run (all by default): STEPS="tests sweep recheck filters large batch probe".
STEPS=${STEPS:-tests sweep recheck filters large batch probe}
step() { [[ " $STEPS " == *" $1 "* ]]; }

if step tests; then
    echo "== tests"
    GPU_REQUIRE_ADAPTER=1 timeout 120 ./.devbin/gpu-tests --test-threads=8 >"$OUT/tests.txt" 2>&1
    echo "tests exit: $?" | tee -a "$OUT/tests.txt"
    grep -E 'test result|FAILED|panicked|SKIPPED' "$OUT/tests.txt" | head -30
fi

bench() { # name, limit in seconds, bench arguments
    local name=$1 limit=$2
    shift 2
    echo "== bench $name: $*"
    local t=$SECONDS
    # The log says where each near-tie settled, and on what timings: every
    # look at it (`gpu::dispatch::ties` at debug), not every call's choice.
    RUST_LOG=gpu::dispatch=info,gpu::dispatch::ties=debug timeout "$limit" ./.devbin/bench --json --backend gpu,cpu,auto "$@" >"$OUT/$name.jsonl" 2>&1
    echo "exit $? after $((SECONDS - t)) s" | tee -a "$OUT/$name.jsonl"
}
# Maps, reductions and filters over the default sizes (2^10..2^24, images
# 256x256..3840x2160) in both modes, the cold start, and a chart.
chart=(--plot "$OUT/chart.svg")
[[ -n $ONE_OF_SEVERAL ]] && chart=()
step sweep && bench sweep 260 "${chart[@]}" \
    --kernel device_copy,map_affine,map_transcend,reduce_sum,reduce_max,sum_squares,gaussian_blur_s3,box_blur_r2,sobel,cold_start
# The sweep's points where Auto's regret was over 10 %, timed again on
# their own (both modes, the first four kernel and size pairs, 25 s each):
# a second sample tells a wrong choice from the noise of one.
if step recheck && [[ -f $OUT/sweep.jsonl ]]; then
    echo "== recheck of the points over 10 %"
    grep '"regret"' "$OUT/sweep.jsonl" | awk '
        { match($0, /"kernel": "[a-z0-9_]+"/); k = substr($0, RSTART + 11, RLENGTH - 12)
          match($0, /"n": [0-9]+/); n = substr($0, RSTART + 5, RLENGTH - 5)
          match($0, /"regret": -?[0-9.]+/); r = substr($0, RSTART + 10, RLENGTH - 10) + 0
          if (r > 0.10) print k, n }' | sort -u | head -4 | while read -r kernel n; do
        case $n in # image kernels report pixels: back to the bench's sizes
            65536) image=256x256 ;; 786432) image=1024x768 ;;
            2073600) image=1920x1080 ;; 8294400) image=3840x2160 ;; *) image=16x16 ;;
        esac
        echo "-- $kernel $n"
        timeout 25 ./.devbin/bench --json --backend gpu,cpu,auto --kernel "$kernel" \
            --n "$n" --image "$image" >>"$OUT/recheck.jsonl" 2>&1
    done
    grep -h '"regret"' "$OUT/recheck.jsonl" 2>/dev/null
fi
# Every filter against the dispatcher's estimate of it, on one thread, on
# all cores and on the GPU, after calibrating (the filters' costs per pixel).
if step filters && [[ -x ./.devbin/filter_costs ]]; then
    echo "== filter costs"
    timeout 90 ./.devbin/filter_costs --gpu >"$OUT/filter_costs.txt" 2>&1
    echo "exit $?" | tee -a "$OUT/filter_costs.txt"
fi
# Arrays large enough that the resident kernels, not the call latency,
# decide: the fraction of the card's copy bandwidth (2^25 is one chunk, the
# largest size the kernel-only timings take).
step large && bench large 60 --kernel device_copy,map_affine,reduce_sum --n 33554432,67108864,268435456
# The batch pipeline and its memory.
step batch && bench batch 100 --kernel batch,batch_memory
# The same GPU work after different histories in one process, with the
# card's clocks sampled beside it (read only: nothing is set).
if step probe; then
    echo "== gpu state probe"
    nvidia-smi --query-gpu=timestamp,pstate,clocks.sm,clocks.mem,power.draw,utilization.gpu \
        --format=csv -lms 20 >"$OUT/clocks.csv" 2>&1 &
    sampler=$!
    date +%s%3N >"$OUT/probe-clock-start.txt"
    timeout 90 ./.devbin/bench --gpu-state-probe >"$OUT/probe.jsonl" 2>&1
    echo "probe exit $?" | tee -a "$OUT/probe.jsonl"
    kill "$sampler"
    cat "$OUT/probe.jsonl"
fi
# Where each near-tie on data kept on both devices settled, look by look.
if [[ -f $OUT/sweep.jsonl ]]; then
    echo "== near-tie looks (sweep)"
    grep -h 'near-tie of' "$OUT/sweep.jsonl" | sed 's/^.*near-tie of/near-tie of/' | head -40
fi
# Auto's regret: the points over 10 % in each mode, and how many there were.
if [[ -f $OUT/sweep.jsonl ]]; then
    echo "== regret over 10 % (sweep)"
    grep '"regret"' "$OUT/sweep.jsonl" | awk '
        { match($0, /"mode": "[a-z]+"/); mode = substr($0, RSTART + 9, RLENGTH - 10)
          match($0, /"regret": -?[0-9.]+/); r = substr($0, RSTART + 10, RLENGTH - 10) + 0
          total[mode]++
          if (r > 0.10) { over[mode]++; print } }
        END { for (m in total) printf "%s: %d of %d over 10 %%\n", m, over[m] + 0, total[m] }'
fi
grep -hs '"kernel"' "$OUT"/*.jsonl | grep -E '"(regret|of_copy)"' | head -5
# A run of several brings back its calibration beside its lines.
if [[ -n $ONE_OF_SEVERAL ]]; then
    cp "$GPU_COMPUTE_CACHE_DIR"/calibration-*.json "$OUT"/ 2>/dev/null
fi
