"""Figures (performance round 2, items 2 and 3): the IOI `resid_pre` patching sweep of the flagship reproduction
(nbs/04_patching.ipynb, SmolLM2-135M-Instruct, template 0, smoke size 8 prompts x 14 tokens x 30 layers) with the
shortcuts at most 0.5x the plain sweep (`reuse=False`, the implementation before them) and at most 0.5x
TransformerLens's `get_act_patch_resid_pre` on the same model and prompts; attribution patching (`atp_sweep`) of the
whole grid at most 3x a bare forward+backward of the same batch (full model, gradients of the weights, as in the
other step benchmarks). fp32, 2 threads, interleaved repetitions; the grids are checked against each other first.
TransformerLens is a peer for this benchmark only (`pip install -r benchmarks/requirements.txt`); without it that
row is skipped.
Run: python benchmarks/patch_sweep.py [reps] [n_prompts]"""
import sys, torch
from _common import pin_threads, interleaved, ratio_table, print_table
from interp_nb.core import load_model
from interp_nb.data import ioi_dataset, encode, single_token, IOI_TEMPLATES
from interp_nb.patching import patch_sweep, atp_sweep

reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
n = int(sys.argv[2]) if len(sys.argv) > 2 else 8
pin_threads(2)
model, tok = load_model('smollm2-135m-instruct', device='cpu')
ds = ioi_dataset(tok, n=n, seed=0, templates=[IOI_TEMPLATES[0]])
clean, corrupted = encode(tok, ds['clean']), encode(tok, ds['corrupted'])
good = torch.tensor([single_token(tok, a) for a in ds['answer']]); bad = torch.tensor([single_token(tok, w) for w in ds['wrong']])
metric = lambda f, rows: f[torch.arange(len(rows)), good[rows]] - f[torch.arange(len(rows)), bad[rows]]

fns = {'plain sweep (reuse=False)': lambda: patch_sweep(model, clean, corrupted, metric, reuse=False, progress=False),
       'patch_sweep (resume + skip no-ops)': lambda: patch_sweep(model, clean, corrupted, metric, progress=False)}
fast, plain = fns['patch_sweep (resume + skip no-ops)'](), fns['plain sweep (reuse=False)']()
print(f"max |fast - plain| = {(fast - plain).abs().max():.2e}")
try:
    from _tl_peer import tl_model, tl_resid_pre_sweep
    tlm = tl_model(model, tok)
    tl_metric = lambda logits: (logits[:, -1].gather(1, good[:, None]) - logits[:, -1].gather(1, bad[:, None])).mean()
    tl_run = lambda: tl_resid_pre_sweep(tlm, clean['input_ids'], corrupted['input_ids'], tl_metric)
    print(f"max |fast - TransformerLens| = {(fast - tl_run()).abs().max():.2e}")
    fns['TransformerLens get_act_patch_resid_pre'] = tl_run
except ImportError as e: print(f"TransformerLens row skipped: {e}")


def bare_fwd_bwd():
    model.requires_grad_(True)
    out = model(input_ids=corrupted['input_ids'], attention_mask=corrupted['attention_mask'], use_cache=False)
    metric(out.logits[:, -1], torch.arange(n)).mean().backward()
    model.zero_grad(set_to_none=True); model.requires_grad_(False)

fns['atp_sweep (whole grid)'] = lambda: atp_sweep(model, clean, corrupted, metric)
fns['bare forward+backward'] = bare_fwd_bwd
times = interleaved(fns, reps=reps)
print(f"SmolLM2-135M-Instruct, IOI template 0, {n} prompts x {clean['input_ids'].shape[1]} tokens, resid_pre x 30 layers, "
      f"fp32, {torch.get_num_threads()} threads, {reps} interleaved repetitions")
print_table(ratio_table(times, 'plain sweep (reuse=False)'), 'plain sweep')
ratio = lambda k, base: dict((r[0], r[2]) for r in ratio_table(times, base))[k]  # median of per-repetition ratios
if 'TransformerLens get_act_patch_resid_pre' in times:
    print(f"patch_sweep_vs_transformerlens: {ratio('patch_sweep (resume + skip no-ops)', 'TransformerLens get_act_patch_resid_pre'):.3f}x")
print(f"patch_sweep_vs_plain: {ratio('patch_sweep (resume + skip no-ops)', 'plain sweep (reuse=False)'):.3f}x")
print(f"atp_vs_fwd_bwd: {ratio('atp_sweep (whole grid)', 'bare forward+backward'):.3f}x")
