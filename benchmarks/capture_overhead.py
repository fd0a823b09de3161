"""Figure (foundation issue): capturing every `resid_post` site costs at most 1.10x a bare forward of the same batch.

SmolLM2-135M-Instruct, batch 8 x 128 tokens, fp32, 2 threads, no gradients. Variants, interleaved per repetition:
bare HF forward; `capture(model, ids, 'blocks.*.resid_post')` (stops after the last block, skipping the final norm
and unembedding); the same with `stop=False` (a full forward plus hooks: the pure overhead of capturing).
Run: python benchmarks/capture_overhead.py [model] [reps]"""
import sys, torch
from _common import pin_threads, interleaved, ratio_table, print_table
from interp_nb.core import load_model
from interp_nb.sites import capture

name = sys.argv[1] if len(sys.argv) > 1 else 'smollm2-135m-instruct'
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 9
pin_threads(2)
model, tok = load_model(name, device='cpu')
g = torch.Generator().manual_seed(0)
ids = {'input_ids': torch.randint(100, 20000, (8, 128), generator=g), 'attention_mask': torch.ones(8, 128, dtype=torch.long)}


def bare():
    with torch.no_grad(): model(**ids, use_cache=False)


times = interleaved({'bare forward': bare,
                     'capture resid_post (default, stops early)': lambda: capture(model, ids, 'blocks.*.resid_post'),
                     'capture resid_post, stop=False (full forward)': lambda: capture(model, ids, 'blocks.*.resid_post', stop=False)},
                    reps=reps)
rows = ratio_table(times, 'bare forward')
print(f"{name}, batch 8 x 128, fp32, {torch.get_num_threads()} threads, {reps} interleaved repetitions")
print_table(rows, 'bare forward')
print(f"capture_resid_post_full_forward: {rows[2][2]:.2f}x")
print(f"capture_resid_post: {rows[1][2]:.2f}x")
