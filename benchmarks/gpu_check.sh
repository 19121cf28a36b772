#!/usr/bin/env bash
# The project's first CUDA run (issue 9), as one short script for a machine with one GPU (about 9 minutes at most):
# the CUDA tests, then both benchmarks with --device cuda for the 4- and 16-image configurations (precision,
# compile, memory modes, sets per step; hide + reveal of a 16 x 1024 x 1024 set). Figures go to $OUT (or
# ./gpu_check_out) with the GPU's name; paste them into the README's performance section.
#     bash benchmarks/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
out="${OUT:-gpu_check_out}"
mkdir -p "$out"
python3 -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"; print(torch.__version__, torch.cuda.get_device_name(0))' \
    | tee "$out/gpu.txt" || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$out/gpu.txt"
run() {  # run NAME SECONDS COMMAND...: a stage with its own time limit, its output kept even if it fails
    local name=$1 limit=$2
    shift 2
    echo "== $name" | tee "$out/$name.txt"
    timeout "$limit" "$@" 2>&1 | tee -a "$out/$name.txt"
}
run tests 120 python3 -m pytest -q tests/test_performance.py tests/test_device.py tests/test_networks.py
run train4 150 python3 -m benchmarks.bench_train --device cuda --opt options/train/train_InvMIHNet_4images.yml \
    --crop 144 --iters 10 --variants single bf16 fp16 compile bf16-compile checkpoint invertible sets2 sets4
run train16 120 python3 -m benchmarks.bench_train --device cuda --opt options/train/train_InvMIHNet_16images.yml \
    --crop 144 --iters 5 --variants single bf16 checkpoint invertible bf16-invertible
run models16 120 python3 -m benchmarks.bench_models --device cuda --opt options/test/test_InvMIHNet_16images.yml \
    --size 1024 --repeats 2 --warmup 1 --precision fp32 bf16 fp16 --chunk 0 4
echo "figures in $out/"
