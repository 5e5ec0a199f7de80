"""Random GPT-2-shaped checkpoints in the Hugging Face layout (config.json + one model.safetensors), for
bench/gpu.ts on the GPU machine (scripts/device/run.sh): python3 write_checkpoints.py DIR small xl"""
import os
import sys
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

SHAPES = {
    "small": dict(n_layer=12, n_embd=768, n_head=12),
    "medium": dict(n_layer=24, n_embd=1024, n_head=16),
    "large": dict(n_layer=36, n_embd=1280, n_head=20),
    "xl": dict(n_layer=48, n_embd=1600, n_head=25),
}

def weights(folder):
    return [f for f in os.listdir(folder) if f.endswith(".safetensors")] if os.path.isdir(folder) else []


root = sys.argv[1]
for name in sys.argv[2:]:
    folder = os.path.join(root, name)
    if weights(folder) and os.path.exists(os.path.join(folder, "config.json")):
        continue
    t0 = time.time()
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=50257, n_positions=1024, **SHAPES[name]))
    # Safetensors (transformers' default), one file where the version takes max_shard_size; the
    # engine reads sharded checkpoints too.
    try:
        model.save_pretrained(folder, max_shard_size="50GB")
    except TypeError:
        model.save_pretrained(folder)
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in weights(folder))
    print(f"{name}: {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters, {size / 2**30:.2f} GiB in {len(weights(folder))} file(s), {time.time() - t0:.1f} s", flush=True)
