#!/usr/bin/env bash
# Issue 4's figures: three rounds in one run, alternating the blur anchors
# (imageproc and OpenCV, ../shared/anchors/run.sh blur) with our bench on the
# CPU backend, so that the machine's drift hits both alike.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example bench
for round in 1 2 3; do
  echo "# round $round"
  bash ../shared/anchors/run.sh blur 2>/dev/null | grep -E '"(imageproc|opencv)"' | grep -v sobel
  ./target/release/examples/bench --json --backend cpu --kernel gaussian_blur_s3,box_blur_r2 --image 3840x2160 2>/dev/null
done
