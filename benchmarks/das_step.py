"""Figure (DAS issue): a Boundless DAS training step at most 0.75x the time of pyvene's on the same model, site,
position and batch.

SmolLM2-135M-Instruct, block output (resid_post) of layer 15, last token, batch 16 x 40 tokens, fp32, 2 threads.
Both steps: source forward, base forward with the Boundless rotated-space interchange, cross-entropy on the
counterfactual label at the last position, backward, optimiser step; model weights frozen. pyvene 0.1.8
(`pip install -r benchmarks/requirements.txt`) runs the whole source forward and computes the orthogonal
parametrisation on every access; interp-nb stops the source pass at the site, computes the rotation once per
call, and asks the base run for the last position's logits only. Interleaved repetitions.
Run: python benchmarks/das_step.py [reps]"""
import sys, torch
from _common import pin_threads, interleaved, ratio_table, print_table
import pyvene as pv
from interp_nb.core import load_model
from interp_nb.das import RotatedInterchange, LMRunner, das_optimizer, das_step

reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
pin_threads(2)
torch.manual_seed(0)
model, tok = load_model('smollm2-135m-instruct', device='cpu')
B, S, LAYER = 16, 40, 15
base = torch.randint(100, 20000, (B, S)); source = torch.randint(100, 20000, (B, S))
mask = torch.ones(B, S, dtype=torch.long)
labels = torch.randint(100, 20000, (B,))

# interp-nb
runner = LMRunner(model, tok, f'blocks.{LAYER}.resid_post', position=-1, batch_size=B)
ours = RotatedInterchange(runner.d, seed=0)
opt = das_optimizer(ours)
enc = dict(base={'input_ids': base, 'attention_mask': mask}, source={'input_ids': source, 'attention_mask': mask},
           base_pos=torch.full((B,), S - 1), source_pos=torch.full((B,), S - 1), labels=labels)

# pyvene
cfg = pv.IntervenableConfig(representations=[pv.RepresentationConfig(LAYER, 'block_output', 'pos', 1)],
                            intervention_types=pv.BoundlessRotatedSpaceIntervention)
ivm = pv.IntervenableModel(cfg, model)
ivm.disable_model_gradients()
iv = list(ivm.interventions.values())[0]
iv = iv[0] if isinstance(iv, (tuple, list)) else iv
popt = torch.optim.Adam([{'params': iv.rotate_layer.parameters()}, {'params': [iv.intervention_boundaries], 'lr': 1e-2}], lr=1e-3)


def pyvene_step():
    _, out = ivm({'input_ids': base, 'attention_mask': mask}, [{'input_ids': source, 'attention_mask': mask}],
                 {'sources->base': S - 1})
    loss = torch.nn.functional.cross_entropy(out.logits[:, -1], labels)
    popt.zero_grad(); loss.backward(); popt.step()


def bare_fwd_bwd():
    model.requires_grad_(True)
    out = model(input_ids=base, attention_mask=mask, use_cache=False)
    torch.nn.functional.cross_entropy(out.logits[:, -1], labels).backward()
    model.zero_grad(set_to_none=True); model.requires_grad_(False)


times = interleaved({'pyvene 0.1.8 Boundless DAS step': pyvene_step,
                     'interp-nb Boundless DAS step': lambda: das_step(runner, ours, opt, enc),
                     'bare full forward+backward': bare_fwd_bwd}, reps=reps)
rows = ratio_table(times, 'pyvene 0.1.8 Boundless DAS step')
print(f"SmolLM2-135M, layer {LAYER} block output, last token, batch {B} x {S} tokens, fp32, {torch.get_num_threads()} threads, {reps} interleaved repetitions")
print_table(rows, 'pyvene step')
print(f"das_step_vs_pyvene: {rows[1][2]:.2f}x")
