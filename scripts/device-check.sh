#!/usr/bin/env bash
# The GPU check for a session lent a real GPU (see the developers' guide and
# BENCHMARKS.md): runs the test suite with GPU_REQUIRE_ADAPTER=1, the map
# example and the bench on the machine's adapter, writing logs to $OUT.
#
# The device machine cannot reach crates.io, so it runs binaries built here:
#   cargo test --release --no-run && cargo build --release --examples
#   mkdir -p .devbin && cp target/release/deps/main-<hash> .devbin/gpu-tests \
#     && cp target/release/examples/{bench,map} .devbin/ && strip .devbin/*
# and the Vulkan loader and GL vendor-neutral libraries as .debs in .gl/
# (apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2).
set -uo pipefail
OUT=${OUT:-/tmp/device-out}
mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export XDG_RUNTIME_DIR=/tmp
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[[ -f $nvidia_icd ]] && export VK_DRIVER_FILES=$nvidia_icd
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/gpu.txt"
nproc | tee -a "$OUT/gpu.txt"
echo "== map example"
timeout 120 ./.devbin/map --n 16777216 2>&1 | tee "$OUT/map.txt"
echo "== tests"
GPU_REQUIRE_ADAPTER=1 timeout 300 ./.devbin/gpu-tests --test-threads=8 >"$OUT/tests.txt" 2>&1
echo "tests exit: $?" | tee -a "$OUT/tests.txt"
grep -E 'test result|FAILED|panicked|SKIPPED' "$OUT/tests.txt" | head -30
echo "== bench (calibrates first; every size, both modes, cold start, batch)"
timeout 300 ./.devbin/bench --json --backend gpu,cpu,auto 2>&1 | tee "$OUT/bench.txt"
