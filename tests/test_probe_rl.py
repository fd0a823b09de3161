"Probe reward and RL: bad input, non-finite rewards, adapters never corrupted, lm-eval task files."
import hashlib, json, math
from pathlib import Path
import pytest, torch
from interp_nb.core import tiny_model
from interp_nb.data import to_dataset
from interp_nb.probes import TEMPLATES, contrast_pairs, contrast_states, train_lr, save_probe, load_probe, Probe
from interp_nb.probe_rl import (ProbeReward, RewardError, rl_dataset, rl_finetune, clean_answer, lm_eval_task, split_facts,
                                answer_eval)

SITE = 'blocks.1.resid_post'


@pytest.fixture(scope='module')
def setup():
    m, t = tiny_model('llama')
    facts = to_dataset({'subject': ['Lyon', 'Oslo', 'Quito', 'Lima'] * 3, 'object': ['France', 'Peru', 'Chile', 'Peru'] * 3,
                        'label': [1, 0, 0, 1] * 3})
    tpl = TEMPLATES['qnli'][0]
    pairs = contrast_pairs(facts, [tpl], test_size=0.25)['train']
    hn, hp = contrast_states(m, t, pairs, SITE, cache=False, progress=False)
    probe = train_lr(hn[SITE], hp[SITE], pairs['label'], pairs['template'], on='text', model=m, site=SITE)
    return m, t, facts, tpl, probe


def test_probe_for_another_model_is_refused(setup, tmp_path):
    m, t, facts, tpl, probe = setup
    path = save_probe(probe, tmp_path/'p')
    other, _ = tiny_model('qwen2')
    with pytest.raises(ValueError, match="made on model 'tiny-llama', not on 'tiny-qwen2'"): load_probe(path, model=other)
    bigger, bt = tiny_model('llama', d_model=128, n_heads=4)
    bigger.config.interp_nb_name = 'tiny-llama'
    with pytest.raises(ValueError, match='hidden size 64'): load_probe(path, model=bigger)
    deep_site = Probe(probe.kind, probe.w, probe.b, probe.norm, False, dict(probe.meta, site='blocks.7.resid_post'))
    with pytest.raises(ValueError, match='Valid sites'): ProbeReward(m, t, deep_site)


def test_empty_dataset_is_refused(setup):
    m, t, facts, tpl, probe = setup
    with pytest.raises(ValueError, match='empty'): rl_dataset(t, facts.select([]), tpl)
    with pytest.raises(ValueError, match='empty'): rl_finetune(m, t, lambda **k: [0.0], to_dataset({'prompt': ['x']}).select([]))
    with pytest.raises(ValueError, match='empty'): answer_eval(m, t, to_dataset({'prompt': ['x'], 'label': [1]}).select([]))
    with pytest.raises(ValueError, match="'prompt' column"): rl_finetune(m, t, lambda **k: [0.0], to_dataset({'text': ['x']}))


def test_nan_reward_is_an_error(setup):
    m, t, facts, tpl, probe = setup
    ds = rl_dataset(t, facts, tpl)
    bad = Probe('lr', probe.w * float('nan'), probe.b, probe.norm, False, probe.meta)
    with pytest.raises(RewardError, match='not finite'):
        ProbeReward(m, t, bad)(completions=['No'], probe_prompt=ds['probe_prompt'][:1], template=ds['template'][:1])
    with pytest.raises(ValueError, match='probe_prompt'): ProbeReward(m, t, probe)(completions=['No'])


def test_rewards_follow_the_probe(setup):
    m, t, facts, tpl, probe = setup
    ds = rl_dataset(t, facts, tpl)
    r = ProbeReward(m, t, probe)(completions=['Yes', 'No', 'yes', ' No!'], probe_prompt=ds['probe_prompt'][:4], template=ds['template'][:4])
    assert r[2] == -1.0 and 0 < r[0] < 1 and 0 < r[3] < 1
    direct = ProbeReward(m, t, probe).score([ds['probe_prompt'][0] + ' Yes'], ['Yes'], [ds['template'][0]])
    assert math.isclose(r[0], float(direct[0]), rel_tol=1e-5)


def _hashes(folder):
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in Path(folder).iterdir()}


def test_failed_run_keeps_saved_adapter(setup, tmp_path):
    m, t, facts, tpl, probe = setup
    ds = rl_dataset(t, facts, tpl)
    out = tmp_path/'adapter'
    _, log = rl_finetune(tiny_model('llama')[0], t, lambda completions=None, **k: [0.5] * len(completions), ds, out=out, steps=1,
                         prompts_per_step=2, num_generations=2, progress=False)
    assert (out/'adapter_config.json').exists() and log and log[0]['reward'] == pytest.approx(0.5)
    before = _hashes(out)
    calls = []
    def failing(completions=None, **k):
        calls.append(1)
        if len(calls) > 1: raise RewardError('reward went bad')
        return [0.1] * len(completions)
    with pytest.raises(RewardError, match='reward went bad'):
        rl_finetune(tiny_model('llama')[0], t, failing, ds, out=out, steps=3, prompts_per_step=2, num_generations=2, progress=False)
    assert _hashes(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ['adapter']


def test_lm_eval_task_files(setup, tmp_path):
    m, t, facts, tpl, probe = setup
    ds = rl_dataset(t, facts, tpl)
    d = lm_eval_task(ds, tmp_path, 'toy')
    rows = [json.loads(l) for l in (d/'toy.jsonl').read_text().splitlines()]
    assert [r['label'] for r in rows] == [1 - y for y in ds['label']]  # choices are ['Yes', 'No']
    assert "doc_to_choice: ['Yes', 'No']" in (d/'toy.yaml').read_text()


def test_splits_are_disjoint():
    s = split_facts('cities', 20, 10, 10, seed=1)
    subj = [set(s[k]['subject']) for k in ('probe', 'rl', 'eval')]
    assert not (subj[0] & subj[1]) and not (subj[0] & subj[2]) and not (subj[1] & subj[2])
    assert [len(s[k]) for k in ('probe', 'rl', 'eval')] == [20, 10, 10]


def test_clean_answer():
    assert [clean_answer(x) for x in ['Yes.', '\nNo', 'No no', '']] == ['Yes', 'No', 'No no', '']


def test_reward_scores_each_distinct_text_once(setup):
    m, t, facts, tpl, probe = setup
    ds = rl_dataset(t, facts, tpl)
    reward, calls = ProbeReward(m, t, probe), []
    score = reward.score
    reward.score = lambda texts, *a: calls.append(len(texts)) or score(texts, *a)
    pp, tp = [ds['probe_prompt'][0]] * 4 + [ds['probe_prompt'][1]] * 4, [ds['template'][0]] * 8
    r = reward(completions=['Yes', 'No', 'Yes.', 'Maybe', 'No', 'No', 'No', 'Yes'], probe_prompt=pp, template=tp)
    assert calls == [4]  # two prompts x two answers, the invalid one unscored
    assert r[0] == r[2] and r[4] == r[5] == r[6] and r[3] == -1.0
    assert r[1] == pytest.approx(float(score([pp[1] + ' No'], ['No'], tp[:1])[0]), rel=1e-5)
    third = ds['probe_prompt'][2]
    again = reward(completions=['No', 'Yes', 'Yes'], probe_prompt=[pp[0], third, pp[0]], template=tp[:3])  # later steps revisit prompts
    assert calls == [4, 1] and again[0] == r[1] and again[2] == r[0]  # only the unseen (third prompt, 'Yes') is scored


def test_completion_only_scoring_matches_trl():
    "trl's fused LM head gives the same completion log-probs and gradients whether it scores every position or only those."
    from trl.trainer.utils import add_fused_lm_head
    from interp_nb.probe_rl import completion_logps_only
    m, _ = tiny_model('llama')
    add_fused_lm_head(m)
    ids = torch.randint(5, 200, (3, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids); mask[0, :3] = 0  # left padding
    labels = ids.masked_fill(mask == 0, -100); labels[:, :-2] = -100  # only the 2 completion tokens count
    def run():
        m.zero_grad()
        out = m(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
        out.log_probs[:, -2:].sum().backward()
        return out.log_probs[:, -2:].detach(), m.model.norm.weight.grad.clone()
    every, grad_every = run()
    with completion_logps_only(): only, grad_only = run()
    import trl.trainer.utils as tu
    assert not tu._use_triton(torch.device('cpu'))  # the context restores trl
    assert torch.allclose(every, only, atol=1e-5) and torch.allclose(grad_every, grad_only, atol=1e-5)
    assert every.abs().min() > 0  # real log-probs, not masked zeros


def test_lora_layers_and_held_out_log(setup, tmp_path):
    m, t, facts, tpl, probe = setup
    ds = rl_dataset(t, facts, tpl)
    const = lambda completions=None, **k: [float(i % 2) for i in range(len(completions))]
    with pytest.raises(ValueError, match=r'lora_layers must lie in 0\.\.1'):
        rl_finetune(tiny_model('llama')[0], t, const, ds, lora_layers=[2], steps=1, progress=False)
    model, log = rl_finetune(tiny_model('llama')[0], t, const, ds, out=tmp_path/'a', steps=3, prompts_per_step=2, num_generations=2,
                             lora_layers=[1], eval_ds=ds, eval_every=2, progress=False)
    assert [h['step'] for h in log] == [1, 2, 3]
    assert 'eval_accuracy' not in log[0] and all(0 <= log[i]['eval_accuracy'] <= 1 for i in (1, 2))
    cfg = json.loads((tmp_path/'a'/'adapter_config.json').read_text())
    assert cfg['layers_to_transform'] == [1]
    lora = {n.split('.layers.')[1].split('.')[0] for n, _ in model.named_parameters() if 'lora_' in n}
    assert lora == {'1'}


def test_calibration_balances_the_answers_without_labels(setup):
    m, t, facts, tpl, probe = setup
    from interp_nb.probe_rl import calibrate_answers, answer_ids
    from interp_nb.data import encode
    ds = rl_dataset(t, facts, tpl).remove_columns(['label'])  # calibration must not need labels
    def p_answers(model):
        enc = encode(t, ds['prompt'], padding_side='left', add_special_tokens=not t.chat_template)
        with torch.no_grad(): return model(**enc).logits[:, -1].softmax(-1)[:, answer_ids(t)].mean(0)
    def policy():  # a random tiny model's logits are too flat to reach 1/2; sharper ones start far from it, like SmolLM2
        model = tiny_model('llama')[0]
        with torch.no_grad(): model.lm_head.weight.mul_(20)
        return model
    start = p_answers(policy())
    model, log = calibrate_answers(policy(), t, ds, steps=30, batch_size=4, lr=1e-2, progress=False)
    end = p_answers(model)
    assert start.sum() < 0.01 and end.sum() > 0.8 and abs(end[0] - end[1]) < 0.2, (start, end)
    assert len(log) == 30 and log[-1]['loss'] < log[0]['loss']
    assert not any('lora' in n for n, _ in model.named_parameters())  # merged into the weights
    with pytest.raises(ValueError, match='empty'): calibrate_answers(m, t, ds.select([]), progress=False)


def test_answer_eval_margin_auc_and_yes_share(setup):
    m, t, facts, tpl, probe = setup
    from interp_nb.probe_rl import answer_ids, yes_share
    from interp_nb.probes import auroc
    ds = rl_dataset(t, facts, tpl)
    res = answer_eval(m, t, ds, batch_size=5)  # batches of unequal prompt lengths, left-padded
    no, yes = answer_ids(t)
    with torch.no_grad():  # each prompt alone, unpadded
        lg = torch.stack([m(**t(p, return_tensors='pt', add_special_tokens=not t.chat_template)).logits[0, -1] for p in ds['prompt']])
    torch.testing.assert_close(res['margin'], lg[:, yes] - lg[:, no], rtol=1e-4, atol=1e-4)
    assert res['auc'] == auroc(res['margin'], ds['label']) and 0 <= res['auc'] <= 1
    assert res['yes_share'] == yes_share(res['answers'])
    assert yes_share(['Yes', 'No', 'Yes.', 'yes']) == 0.25 and yes_share([]) == 0
    from interp_nb.probe_rl import answer_accuracy
    assert answer_accuracy(['Yes', 'No', 'No', 'Yes.'], [1, 1, 0, 1]) == 0.5 and answer_accuracy([], []) == 0
    assert res['accuracy'] == answer_accuracy(res['answers'], ds['label'])


def test_balance_term_shifts_rewards_by_the_batch_yes_share(setup):
    m, t, facts, tpl, probe = setup
    ds = rl_dataset(t, facts, tpl)
    plain, bal = ProbeReward(m, t, probe), ProbeReward(m, t, probe, balance=0.8, target_yes=0.25)
    comp, pp, tp = ['Yes', 'Yes', 'No', 'Maybe', 'Yes'], ds['probe_prompt'][:5], ds['template'][:5]
    r0, logged = plain(completions=comp, probe_prompt=pp, template=tp), {}
    r1 = bal(completions=comp, probe_prompt=pp, template=tp, log_metric=logged.__setitem__)
    shift = 0.8 * (3 / 4 - 0.25)  # 3 of the 4 valid answers say 'Yes'; the invalid one does not count
    assert logged['balance_shift'] == pytest.approx(shift)
    for a, x0, x1 in zip(comp, r0, r1):
        if a == 'Maybe': assert x1 == -1.8  # invalid answers stay below every valid one
        else: assert x1 == pytest.approx(x0 - shift if a == 'Yes' else x0 + shift)
    # at the target share the term vanishes and the thesis's reward is left as it is
    at_target = ProbeReward(m, t, probe, balance=0.8, target_yes=0.5)(completions=['Yes', 'No'], probe_prompt=pp[:2], template=tp[:2])
    assert at_target == pytest.approx(plain(completions=['Yes', 'No'], probe_prompt=pp[:2], template=tp[:2]))
    with pytest.raises(ValueError, match='balance'): ProbeReward(m, t, probe, balance=-1.0)
    with pytest.raises(ValueError, match='target_yes'): ProbeReward(m, t, probe, target_yes=1.5)


def test_answer_scores_are_the_rewards_of_both_answers(setup):
    m, t, facts, tpl, probe = setup
    ds = rl_dataset(t, facts, tpl).select(range(4))
    reward = ProbeReward(m, t, probe)
    s = reward.answer_scores(ds)
    assert s.shape == (4, 2)
    r = reward(completions=['No', 'Yes', 'Yes', 'No'], probe_prompt=ds['probe_prompt'], template=ds['template'])
    assert r == pytest.approx([s[0, 0].item(), s[1, 1].item(), s[2, 1].item(), s[3, 0].item()])
    with pytest.raises(ValueError, match='empty'): reward.answer_scores(ds.select([]))
