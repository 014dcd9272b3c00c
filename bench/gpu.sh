#!/usr/bin/env bash
# Issue 7's GPU figures in one go: training images/s and FLOP/s at 64x64 and 256x256 with bf16 autocast,
# eager and then torch.compile'd, against a large bf16 matrix product and convolution timed in the same run.
#   bash bench/gpu.sh [output-dir]        (needs a CUDA torch; writes gpu_eager.json, gpu_compile.json)
set -euo pipefail
out=${1:-.}
python=${PYTHON:-python3}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
"$python" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
common=(--device cuda --sizes 64 256 --skip-rss --rounds 5 --steps-per-round 10)
echo "== eager"
"$python" bench/bench_train.py "${common[@]}" --json "$out/gpu_eager.json"
echo "== torch.compile"
timeout 300 "$python" bench/bench_train.py "${common[@]}" --compile --json "$out/gpu_compile.json" \
  || echo "torch.compile run failed or ran past 300 s"
