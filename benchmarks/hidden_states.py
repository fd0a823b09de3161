"""Figure (probes issue): hidden-state extraction at most 1.10x a bare forward over the same data.

Texts: the contrast pairs of 200 city facts x 3 templates (1,200 texts, ~25 tokens), batch 32, left padding.
Baseline: tokenise each batch and run a bare Hugging Face forward (no grad). Extraction:
`interp_nb.probes.hidden_states(..., cache=False)` of every layer's resid_post at the last token, which
tokenises the same batches and stops the forward after the last block (the vocabulary head never runs).
Interleaved repetitions, 2 threads. Run: python benchmarks/hidden_states.py [model] [reps]"""
import sys, torch
from _common import pin_threads, interleaved, ratio_table, print_table
from interp_nb.core import load_model
from interp_nb.data import encode, batches
from interp_nb.probes import hidden_states, contrast_pairs, fact_dataset, TEMPLATES

name = sys.argv[1] if len(sys.argv) > 1 else 'smollm2-135m-instruct'
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
pin_threads(2)
model, tok = load_model(name, device='cpu')
pairs = contrast_pairs(fact_dataset('cities', 200, 0), TEMPLATES['cities'], test_size=0.01)['train']
texts = list(pairs['neg']) + list(pairs['pos'])


def bare():
    for chunk in batches(texts, 32, progress=False):
        enc = encode(tok, chunk, padding_side='left')
        with torch.no_grad(): model(**enc, use_cache=False)


def extract(): hidden_states(model, tok, texts, 'blocks.*.resid_post', cache=False, progress=False)


times = interleaved({'bare forward': bare, 'hidden_states (all resid_post, last token)': extract}, reps=reps)
rows = ratio_table(times, 'bare forward')
print(f"{name}, {len(texts)} texts, batch 32, fp32, {torch.get_num_threads()} threads, {reps} interleaved repetitions")
print_table(rows, 'bare forward')
print(f"hidden_state_extraction: {rows[1][2]:.2f}x")
