#!/usr/bin/env bash
# The project's CUDA check, one command for a machine with one GPU, at most 10 minutes (every stage has its own
# time limit, 550 s in all): the cuda-marked tests (pytest -m cuda), both benchmarks with --device cuda for the 4-
# and 16-image configurations (precision, compile, memory modes, sets per step; hide + reveal of a 16 x 1024 x 1024
# set), and the demo training on CUDA with its validation PSNR. Figures go to $OUT (or ./gpu_check_out) with the
# GPU's name. The fake-CUDA tests (tests/test_fake_cuda.py) need no GPU: they run in the ordinary suite.
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
run tests 90 python3 -m pytest -q -p no:cacheprovider -m cuda
run train4 130 python3 -m benchmarks.bench_train --device cuda --opt options/train/train_InvMIHNet_4images.yml \
    --crop 144 --iters 10 --variants fp32-nchw fp32-cl bf16-recast bf16-nchw bf16 fp16 compile bf16-compile \
    checkpoint invertible sets2 sets4 --results "$out/train_step_4images_cuda.json"
run train16 90 python3 -m benchmarks.bench_train --device cuda --opt options/train/train_InvMIHNet_16images.yml \
    --crop 144 --iters 5 --variants fp32-nchw fp32-cl bf16-recast bf16 checkpoint invertible bf16-invertible \
    --results "$out/train_step_16images_cuda.json"
run models16 90 python3 -m benchmarks.bench_models --device cuda --opt options/test/test_InvMIHNet_16images.yml \
    --size 1024 --repeats 2 --warmup 1 --precision fp32 bf16 bf16-recast fp16 --layout contiguous channels_last \
    --chunk 0 4 --results "$out/hide_reveal_16images_cuda.json"
# The demo (options/train/train_InvMIHNet_4images_demo.yml: 1500 iterations, validation every 500) on cuda:0,
# its experiment folder outside the repository; the log, with its validation PSNR lines, is kept.
demo="$(mktemp -d)"
python3 - "$demo" <<'EOF'
import sys
import yaml
opt = yaml.safe_load(open('options/train/train_InvMIHNet_4images_demo.yml'))
opt.update(name='gpu_check_demo', gpu_ids=[0])
opt['path']['root'] = sys.argv[1]
open(f'{sys.argv[1]}/demo.yml', 'w').write(yaml.safe_dump(opt))
EOF
run demo 150 python3 train.py -opt "$demo/demo.yml"
grep -h 'validation:\|rolled back\|Training finished' "$demo"/experiments/gpu_check_demo/train_*.log \
    | tee "$out/demo_psnr.txt"
rm -rf "$demo"
echo "figures in $out/"
