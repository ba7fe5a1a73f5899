#!/usr/bin/env bash
# Runs ON the GPU machine (device tool, carry [".gpu"]), after, here:
#   bash scripts/gpu-bundle.sh --prepare && node scripts/gpu-check.mjs cases
# and then, back here, `node scripts/gpu-check.mjs compare DIR` on the files it wrote to $OUT:
#   torch.json         scripts/torch-reference.py over .gpu/cases.json (PyTorch CUDA, float32)
#   webgpu-<id>.json   the bundled harness, `verify --backend webgpu`, for the cases with webgpu seeds
#   log.txt            nvidia-smi, stderr of every step
set -u
out=${OUT:-/tmp/gpu-out}; mkdir -p "$out"
log="$out/log.txt"
{ date; nvidia-smi; } >"$log" 2>&1
webgpu() { # id seeds timeout
  echo "== webgpu $1 (seeds $2)" >>"$log"
  local t0=$SECONDS
  timeout "$3" bash .gpu/entry.sh .gpu/app.mjs verify --backend webgpu --config ".gpu/cfg-$1.json" --seeds "$2" --batch 8 --json >"$out/webgpu-$1.json" 2>>"$log"
  echo "== webgpu $1 rc $? wall $((SECONDS - t0)) s" >>"$log"
}
# the fidelity grid's attention components (scripts/gpu-check.mjs attention), when asked for
if [ -s .gpu/attention-cases.json ]; then
  echo "== torch attention" >>"$log"
  PYTHONUNBUFFERED=1 timeout "${ATTN_TIMEOUT:-240}" python3 scripts/torch-attention.py .gpu/attention-cases.json --out "$out/attention.json" 2>>"$log"
  echo "== torch attention rc $?" >>"$log"
fi
[ "$(head -c 2 .gpu/cases.json 2>/dev/null)" = "[]" ] && { date >>"$log"; exit 0; }
# the WebGPU runs of .gpu/webgpu.txt ("id seeds"), then PyTorch over .gpu/cases.json
first=1
while read -r id seeds; do
  [ -n "$id" ] || continue
  webgpu "$id" "$seeds" $((30 + 12 * seeds))
  if [ $first = 1 ]; then first=0
    echo "== torch" >>"$log"
    PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-200}" python3 scripts/torch-reference.py .gpu/cases.json --out "$out/torch.json" 2>>"$log"
    echo "== torch rc $?" >>"$log"
  fi
done < .gpu/webgpu.txt
if [ $first = 1 ]; then
  PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-200}" python3 scripts/torch-reference.py .gpu/cases.json --out "$out/torch.json" 2>>"$log"
fi
date >>"$log"
