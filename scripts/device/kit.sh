#!/usr/bin/env bash
# Builds .devkit/ (git-ignored, about 45 MB): what a run on the GPU machine (the `device` tool) needs
# and that machine lacks: node, onnxruntime-node's binding and library (linux x64), the GPU bench
# (bench/gpu.ts, bundled with esbuild), the Vulkan/GL loader packages (Debian's, as the device
# README says) and the two scripts that run there. Run from anywhere: bash scripts/device/kit.sh
# Then, on a session lent the machine, one call (carry .devkit; about 5-8 minutes):
#   run: bash .devkit/run.sh      carry: [".devkit"]      timeout_s: 580
# ($OUT gets gpu.jsonl, gpu.log, checkpoints.log, nvidia-smi.txt.) Try it here first: bash .devkit/run.sh --local
set -euo pipefail
cd "$(dirname "$0")/../.."
K=.devkit
rm -rf "$K"
mkdir -p "$K/gl" "$K/app/bench"
ORT=node_modules/onnxruntime-node
BIN=bin/napi-v6/linux/x64
mkdir -p "$K/app/node_modules/onnxruntime-node/$BIN"
cp -r "$ORT/package.json" "$ORT/dist" "$K/app/node_modules/onnxruntime-node/"
cp "$ORT/$BIN/onnxruntime_binding.node" "$K/app/node_modules/onnxruntime-node/$BIN/"
cp -r node_modules/onnxruntime-common "$K/app/node_modules/"
echo "[kit] compressing node and libonnxruntime (a minute)"
xz -T0 -6 -c "$(command -v node)" > "$K/node.xz"
xz -T0 -6 -c "$ORT/$BIN/libonnxruntime.so.1" > "$K/libonnxruntime.so.1.xz"
npx esbuild bench/gpu.ts --bundle --platform=node --target=node20 --external:onnxruntime-node --log-level=warning --outfile="$K/app/bench/gpu.js"
cp scripts/device/run.sh scripts/device/write_checkpoints.py "$K/"
echo "[kit] Vulkan/GL loaders (Debian packages)"
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
mkdir -p /tmp/amd64/partial
# shellcheck disable=SC2086
apt-get $o update -qq
# shellcheck disable=SC2086
(cd "$K/gl" && apt-get $o download -qq libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
du -sh "$K"
