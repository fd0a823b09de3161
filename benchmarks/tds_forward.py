"""Figure (TDS issue): analysing a response with one forward per model is at least 20x faster than recomputing
each position separately (what a straightforward implementation, and the seed, do).

SmolLM2-135M-Instruct as both models (the cost does not depend on the weights), a chat prompt plus a
256-token response. Baseline: for every response position t, a forward of both models over prompt + response[:t]
without a cache, reading the last position (rank, top-k and KL computed from it). interp-nb:
`token_shift`, one forward of each model over prompt + response. Run: python benchmarks/tds_forward.py [reps]"""
import sys, time, statistics, torch
from _common import pin_threads
from interp_nb.core import load_model
from interp_nb.tds import token_shift, chat_text

reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
pin_threads(2)
model, tok = load_model('smollm2-135m-instruct', device='cpu')
prompt = tok(chat_text(tok, 'Explain what a haiku is.'), add_special_tokens=False)['input_ids']
g = torch.Generator().manual_seed(0)
response = torch.randint(100, 20000, (256,), generator=g).tolist()
rec = dict(query='q', prompt_ids=prompt, response_ids=response)


@torch.no_grad()
def per_position():
    rows = []
    for t in range(len(response)):
        ids = torch.tensor([prompt + response[:t]])
        la = model(ids, use_cache=False).logits[0, -1].log_softmax(-1)
        lb = model(ids, use_cache=False).logits[0, -1].log_softmax(-1)
        tok_id = response[t]
        rows.append(((lb > lb[tok_id]).sum().item(), lb.exp().topk(5), (la.exp() * (la - lb)).sum().item()))
    return rows


ours = []
for _ in range(reps):
    t0 = time.perf_counter(); token_shift(model, model, tok, [rec], progress=False); ours.append(time.perf_counter() - t0)
t0 = time.perf_counter(); per_position(); base = time.perf_counter() - t0  # one repetition: it is the slow one
ratio = base / statistics.median(ours)
print(f"SmolLM2-135M, prompt {len(prompt)} + response {len(response)} tokens, fp32, {torch.get_num_threads()} threads")
print("| variant | seconds |\n|---|---|")
print(f"| per-position recomputation (both models, {len(response)} x 2 forwards) | {base:.2f} |")
print(f"| token_shift, one forward per model (median of {reps}) | {statistics.median(ours):.2f} |")
print(f"tds_one_forward_speedup: {ratio:.1f}x")
