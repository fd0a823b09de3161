"""One Edge Pruning training step against a bare forward+backward of the same model and batch (interleaved), with peak memory.

    .venv/bin/python benchmarks/edge_pruning_step.py [--model smollm2-135m-instruct] [--batch 8] [--seqs 24 64] [--reps 5]
                                                     [--memory reuse|default]

Variants, per sequence length:
- bare: `model(**batch).logits`, next-token cross-entropy over all positions, backward (weight gradients), the usual
  training step of the model itself.
- step: one full Edge Pruning step as `prune` runs it when nothing is cached: the full model's outputs and the corrupted
  run's writer cache (both without gradients), sampled gates, the edge-masked forward, KL at the last position, backward
  into the masks, AdamW.
- step (cached): the same when the batch's full-model outputs and corrupted cache are kept (`prune` keeps them while they
  fit in `cache_mb`; small tasks then compute them once).
Memory: `prune` runs its loop inside `interp_nb.core.reuse_memory` on a CPU (freed memory stays in the process for the
next step instead of going back to the system and being faulted in again), so by default every variant, bare included,
is timed inside it; `--memory default` times them with glibc's defaults.
Peak memory: a fresh process loads the model and builds the masks, then resets its peak resident size (Linux
`/proc/self/clear_refs`) and runs the variant twice (`--peak VARIANT`): the table shows the peak resident size and the
part of it above the loaded model (what the variant itself needs; the cached variant's cache included).
The last line is `edge_pruning_step: R.RRx`, the uncached step over bare at the longest sequence length.
"""
import argparse, os, subprocess, sys
from pathlib import Path
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import pin_threads, interleaved, ratio_table


def setup(model_name, batch, seq, seed=0):
    from interp_nb.core import load_model
    from interp_nb.edge_pruning import edge_graph, EdgeMasks
    model, tok = load_model(model_name)
    g = torch.Generator().manual_seed(seed)
    V = model.config.vocab_size
    clean = {'input_ids': torch.randint(100, V - 100, (batch, seq), generator=g), 'attention_mask': torch.ones(batch, seq, dtype=torch.long)}
    corr = {'input_ids': torch.randint(100, V - 100, (batch, seq), generator=g), 'attention_mask': clean['attention_mask']}
    last = torch.zeros(batch, seq, dtype=torch.bool); last[:, -1] = True
    graph = edge_graph(model)
    masks = EdgeMasks(graph)
    opt = torch.optim.AdamW([masks.log_alpha])
    return model, clean, corr, last, graph, masks, opt


def variants(model, clean, corr, last, graph, masks, opt):
    from interp_nb.edge_pruning import edge_forward, writer_cache, _frozen
    import torch.nn.functional as F

    def bare():
        model.zero_grad(set_to_none=True)
        logits = model(**clean).logits
        F.cross_entropy(logits[:, :-1].flatten(0, 1), clean['input_ids'][:, 1:].flatten()).backward()

    def kl(out, target):
        lp = F.log_softmax(target, -1)
        return (lp.exp() * (lp - F.log_softmax(out, -1))).sum(-1).mean()

    kept = {}  # the cached variant's full outputs and corrupted cache, made on its first call (its warm-up)

    def masked(full, cache):
        with _frozen(model):
            z, _ = masks.sample()
            loss = kl(edge_forward(model, clean, graph, z, cache, pos=last), full)
            opt.zero_grad(set_to_none=True); loss.backward(); opt.step()

    def step():
        with torch.no_grad(): full, cache = edge_forward(model, clean, graph, pos=last), writer_cache(model, corr, graph)
        masked(full, cache)

    def step_cached():
        if not kept:
            with torch.no_grad(): kept['v'] = edge_forward(model, clean, graph, pos=last), writer_cache(model, corr, graph)
        masked(*kept['v'])

    return {'bare': bare, 'step': step, 'step (cached)': step_cached}


def _status_mb(key):
    for line in open('/proc/self/status'):
        if line.startswith(key + ':'): return int(line.split()[1]) / 1024
    raise KeyError(key)


def peak_mb(args, name, seq):
    cmd = [sys.executable, __file__, '--model', args.model, '--batch', str(args.batch), '--seqs', str(seq), '--peak', name,
           '--memory', args.memory]
    out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
    if out.returncode: raise RuntimeError(out.stderr[-2000:])
    return tuple(map(float, out.stdout.strip().splitlines()[-1].split()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='smollm2-135m-instruct')
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--seqs', type=int, nargs='+', default=[24, 64])
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--peak', default=None)
    ap.add_argument('--memory', choices=['reuse', 'default'], default='reuse')
    args = ap.parse_args()
    pin_threads(args.threads)
    from contextlib import nullcontext
    from interp_nb.core import reuse_memory
    with reuse_memory() if args.memory == 'reuse' else nullcontext() as on:
        if args.memory == 'reuse' and not on: print("reuse_memory is not available here (not glibc): glibc defaults")
        run(args)


def run(args):
    if args.peak:
        fns = variants(*setup(args.model, args.batch, args.seqs[0]))
        base = _status_mb('VmRSS')
        with open('/proc/self/clear_refs', 'w') as f: f.write('5')  # the peak so far was the model's loading
        for _ in range(2 if args.peak in fns else 0): fns[args.peak]()
        peak = max(_status_mb('VmHWM'), base)
        print(peak, peak - base)
        return
    ratios = {}
    print(f"Edge Pruning step vs bare forward+backward: {args.model}, batch {args.batch}, fp32, {args.threads} threads, "
          f"memory: {args.memory}\n")
    print("| tokens | variant | median s | ratio vs bare | spread | peak RSS MB | above the loaded model MB |")
    print("|---|---|---|---|---|---|---|")
    for seq in args.seqs:
        setup_ = setup(args.model, args.batch, seq)
        fns = variants(*setup_)
        times = interleaved(fns, reps=args.reps, warmup=1)
        for k, t, r, lo, hi in ratio_table(times, 'bare'):
            print(f"| {seq} | {k} | {t:.3f} | {r:.2f}x | {lo:.2f}-{hi:.2f} | {'{:.0f} | {:.0f}'.format(*peak_mb(args, k, seq))} |", flush=True)
            ratios[(seq, k)] = r
        print(f"| {seq} | (model loaded, nothing run) |  |  |  | {peak_mb(args, 'setup', seq)[0]:.0f} | 0 |")
    print(f"\nedge_pruning_step: {ratios[(max(args.seqs), 'step')]:.2f}x")


if __name__ == '__main__':
    main()
