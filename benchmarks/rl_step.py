"""Figure (probe-reward RL issue): a GRPO step of `rl_finetune` on CPU, trl as it is against interp-nb's
completion-only scoring (`completion_logps_only`) and bf16 autocast.

SmolLM2-135M-Instruct as policy, the RL prompts of the repro (QNLI-shaped facts in the chat template, about 70 tokens),
16 prompts x 4 sampled answers of 2 tokens per step, LoRA on blocks 15-29, KL penalty on (so the reference forward
runs). The reward is a fixed random number per (prompt, answer): the probe reward is cached per text and is not what
is timed here. Baseline: trl's own CPU path, which projects every prompt position through the LM head. Each variant
runs `steps` GRPO steps; the table gives the median seconds of steps 2.. and the ratio to the baseline.
Run: python benchmarks/rl_step.py [steps] [rounds]"""
import sys, statistics, contextlib, random
from _common import pin_threads
import interp_nb.probe_rl as rl
from interp_nb.core import load_model
from interp_nb.probes import TEMPLATES

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
pin_threads(2)
_, tok = load_model('smollm2-135m-instruct')
facts = rl.split_facts('qnli', 0, 64, 1)['rl']
ds = rl.rl_dataset(tok, facts, TEMPLATES['qnli'][0])
fixed = {}
def reward(completions=None, probe_prompt=None, **kw):
    return [fixed.setdefault((p, rl.clean_answer(c)), random.Random(hash((p, c)) % 2**32).random()) for c, p in zip(completions, probe_prompt)]
reward.__name__ = 'fixed_random'

def run(scoring_all: bool, bf16: bool) -> list:
    policy, _ = load_model('smollm2-135m-instruct')
    real = rl.completion_logps_only
    if scoring_all: rl.completion_logps_only = contextlib.nullcontext  # trl as it is
    try:
        _, log = rl.rl_finetune(policy, tok, reward, ds, steps=steps, lr=1e-4, prompts_per_step=16, num_generations=4, beta=0.2,
                                lora_layers=list(range(15, 30)), bf16=bf16, progress=False)
    finally: rl.completion_logps_only = real
    return [h['seconds'] for h in log if h.get('seconds')][1:]

variants = {'trl as is (every position), fp32': (True, False), 'completion tokens only, fp32': (False, False),
            'completion tokens only, bf16 autocast': (False, True)}
times = {k: [] for k in variants}
for _ in range(rounds):
    for k, v in variants.items(): times[k] += run(*v)
base = statistics.median(times['trl as is (every position), fp32'])
print(f"SmolLM2-135M policy, {len(tok(ds['prompt'][0])['input_ids'])} tokens in the first prompt, 16 prompts x 4 answers per step, {steps} steps x {rounds} rounds, 2 threads")
print("| variant | median s per step | speedup vs trl as is |\n|---|---|---|")
for k, ts in times.items(): print(f"| {k} | {statistics.median(ts):.1f} | {base / statistics.median(ts):.2f}x |")
