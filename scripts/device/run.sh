#!/usr/bin/env bash
# On the GPU machine, from the repository root with .devkit carried (scripts/device/kit.sh built it):
#   bash .devkit/run.sh            random GPT-2-small and GPT-2-XL checkpoints (Python's transformers
#                                  writes them), each traced on the CPU and on WebGPU (bench/gpu.ts)
#   SHAPES="small" bash .devkit/run.sh      fewer shapes; GPU_ARGS="--runs 3" passes bench flags
#   bash .devkit/run.sh --local    here, to try the kit: no packages unpacked into /, no Python; a tiny
#                                  random checkpoint written by the bench itself, WebGPU on lavapipe
# Results in $OUT (or /tmp/rl-gpu/out): gpu.jsonl (one JSON line after each checkpoint), gpu.log,
# checkpoints.log, nvidia-smi.txt.
set -uo pipefail
K=$(cd "$(dirname "$0")" && pwd)
W=/tmp/rl-gpu
OUT=${OUT:-$W/out}
mkdir -p "$W" "$OUT"
LOCAL=0
[ "${1:-}" = "--local" ] && LOCAL=1
if [ "$LOCAL" = 0 ]; then
  # The Vulkan loader for NVIDIA's driver (the device README's recipe).
  for f in "$K"/gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
fi
xz -dc "$K/node.xz" > "$W/node" && chmod +x "$W/node"
xz -dc "$K/libonnxruntime.so.1.xz" > "$K/app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1"
"$W/node" --version
if [ "$LOCAL" = 1 ]; then
  ARGS="--random tiny=2,64,4 --lengths 8,32 --runs 3"
else
  SHAPES=${SHAPES:-small xl}
  # shellcheck disable=SC2086
  PYTHONUNBUFFERED=1 python3 "$K/write_checkpoints.py" "$W/ckpt" $SHAPES 2>&1 | tee "$OUT/checkpoints.log"
  ARGS=""
  for s in $SHAPES; do ARGS="$ARGS --model $s=$W/ckpt/$s"; done
fi
# shellcheck disable=SC2086
"$W/node" "$K/app/bench/gpu.js" $ARGS ${GPU_ARGS:-} > "$OUT/gpu.jsonl" 2> "$OUT/gpu.log"
echo "gpu bench exit $?" | tee -a "$OUT/gpu.log"
tail -c 3000 "$OUT/gpu.log"
tail -n 1 "$OUT/gpu.jsonl"
