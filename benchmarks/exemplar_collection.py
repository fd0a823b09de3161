"""Figure (issue 7): collecting exemplars costs at most 1.15x a bare forward over the same corpus.

SmolLM2-135M-Instruct, fp32, 2 threads, no gradients, the first `n_windows` 64-token windows of the Debian fortunes
corpus in batches of 16. Variants, interleaved per repetition, each over the whole corpus slice:
- bare forward: the HF model on every batch (all layers and the vocabulary head);
- capture only, layer L: `capture(model, batch, 'blocks.L.mlp.neurons')` on every batch (stops after that site), no bookkeeping;
- collect_exemplars, layer L: all 1536 neurons, top-20, bottom-20, 20 random windows (running top-k merges included).
L = 15 (the reproduction's layer; the forward stops halfway) and L = 29 (the last layer: nearly every layer runs, the worst case).
The last line is the worst case against the bare forward; `collect vs capture` isolates the cost of the top-k bookkeeping.
Run: python benchmarks/exemplar_collection.py [n_windows] [reps]"""
import sys, torch
from _common import pin_threads, interleaved, ratio_table, print_table
from interp_nb.core import load_model
from interp_nb.sites import capture
from interp_nb.data import fortunes
from interp_nb.neurons import token_windows, collect_exemplars

n_windows = int(sys.argv[1]) if len(sys.argv) > 1 else 64
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
pin_threads(2)
model, tok = load_model('smollm2-135m-instruct', device='cpu')
ids = torch.tensor(token_windows(tok, fortunes(), seq_len=64, max_windows=n_windows)['input_ids'])
bs = 16


def bare():
    with torch.no_grad():
        for i in range(0, len(ids), bs): model(input_ids=ids[i:i + bs], use_cache=False)


def capture_only(layer):
    def f():
        with torch.no_grad():
            for i in range(0, len(ids), bs): capture(model, ids[i:i + bs], f'blocks.{layer}.mlp.neurons')
    return f


def collect(layer):
    return lambda: collect_exemplars(model, ids, f'blocks.{layer}.mlp.neurons', k=20, k_bottom=20, n_random=20, batch_size=bs, progress=False)


times = interleaved({'bare forward': bare, 'capture only, layer 15': capture_only(15), 'collect_exemplars, layer 15': collect(15),
                     'capture only, layer 29': capture_only(29), 'collect_exemplars, layer 29': collect(29)}, reps=reps)
rows = ratio_table(times, 'bare forward')
print(f"SmolLM2-135M-Instruct, {len(ids)} windows x 64 tokens (batch {bs}), fp32, {torch.get_num_threads()} threads, {reps} interleaved repetitions")
print_table(rows, 'bare forward')
r = {k: v for k, *_, v in [(row[0], row[2]) for row in rows]}
over = [t / c for t, c in zip(times['collect_exemplars, layer 29'], times['capture only, layer 29'])]
print(f"\ncollect vs capture only (layer 29, bookkeeping overhead): {sorted(over)[len(over) // 2]:.3f}x")
print(f"exemplar_collection_layer15: {r['collect_exemplars, layer 15']:.2f}x")
print(f"exemplar_collection: {r['collect_exemplars, layer 29']:.2f}x")
