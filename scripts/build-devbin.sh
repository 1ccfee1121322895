#!/usr/bin/env bash
# Prepares what scripts/device-check.sh needs on a lent GPU machine, which
# cannot reach crates.io or apt: release binaries in .devbin/ (the
# integration tests, the bench and filter_costs, stripped) and the Vulkan
# loader and GL vendor-neutral libraries as .debs in .gl/. Run it here, then
# the device tool with carry [".devbin", ".gl"].
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
tests=$(cargo test --release --no-run --test main --message-format=json 2>/dev/null |
    grep -o '"executable":"[^"]*"' | cut -d'"' -f4 | grep '/main-' | tail -1)
if [[ -z $tests ]]; then
    echo "no test binary found (cargo test --release --no-run --test main)" >&2
    exit 1
fi
cargo build --release --example bench --example filter_costs
mkdir -p .devbin
cp "$tests" .devbin/gpu-tests
cp target/release/examples/bench target/release/examples/filter_costs .devbin/
strip .devbin/*
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
    mkdir -p .gl
    (cd .gl && apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
ls -la .devbin .gl
