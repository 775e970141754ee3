#!/usr/bin/env bash
# Compile check of `--features cuda` where there is no GPU and no CUDA toolkit: nvcc, the
# CUDA runtime headers and NVVM come from NVIDIA's PyPI wheels into DIR (default
# /tmp/biowave-cuda), candle's kernels are built to PTX for sm_90 and biowave is type-checked
# against candle's CUDA backend. Running on a GPU still needs a real driver; this only
# proves the feature builds. Usage: scripts/cuda_build_check.sh [DIR]   (~7 min on 2 cores)
set -euo pipefail
dir=${1:-/tmp/biowave-cuda}
python3 -m pip install -q --target "$dir" nvidia-cuda-nvcc nvidia-cuda-runtime \
    nvidia-cuda-cccl nvidia-cuda-crt nvidia-nvvm
root=$(dirname "$(find "$dir/nvidia" -path '*/bin/nvcc' | head -n 1)")/..
root=$(cd "$root" && pwd)
[ -e "$root/lib64" ] || ln -s lib "$root/lib64"
nvcc_version=$("$root/bin/nvcc" --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
read -r major minor <<<"$nvcc_version"
# cudarc knows toolkit versions up to its release; newer ones build against the major's .0 API.
export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-$((major * 1000))}
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90} CUDA_ROOT=$root CUDA_PATH=$root CUDA_HOME=$root
export PATH=$root/bin:$PATH CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/cuda-check}
echo "nvcc $major.$minor at $root; cudarc API $CUDARC_CUDA_VERSION; sm_$CUDA_COMPUTE_CAP"
cd "$(dirname "$0")/.."
cargo check --features cuda --all-targets
