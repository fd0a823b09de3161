"DAS: bad input, pyvene's pitfalls avoided, orthogonality (fp32 and bf16), padding, save/load, every family."
import pytest, torch
from interp_nb.core import tiny_model
from interp_nb.data import to_dataset
from interp_nb.das import (RotatedInterchange, InterchangeEdit, LMRunner, MLPRunner, train_das, iia, das_optimizer, das_step,
                           save_intervention, load_intervention, PRICE_TAGGING, price_pairs, train_mlp, equality_pairs)
from interp_nb.sites import run, capture, SiteError


def _toy_rows(n=8):
    # byte tokenizer: single-token labels are single characters
    base = [f"{i} + {i} = " for i in range(n)]; source = [f"{i + 1} - {i} = " for i in range(n)]
    return to_dataset({'base': base, 'source': source, 'label': [str((2 * i) % 10) for i in range(n)]})


def test_bad_input():
    m, t = tiny_model('llama')
    with pytest.raises(ValueError, match='between 1 and'): RotatedInterchange(64, k=65)
    with pytest.raises(SiteError, match='Valid sites'): LMRunner(m, t, 'blocks.9.resid_post')
    r = LMRunner(m, t, 'blocks.1.resid_post', -1, batch_size=4)
    with pytest.raises(ValueError, match='has size 32 but blocks.1.resid_post has 64'): train_das(r, RotatedInterchange(32), _toy_rows())
    with pytest.raises(ValueError, match='single tokens'): train_das(r, RotatedInterchange(64), _toy_rows().map(lambda x: {'label': 'two'}))
    with pytest.raises(ValueError, match="needs a 'label' column"): train_das(r, RotatedInterchange(64), _toy_rows().remove_columns('label'))
    with pytest.raises(KeyError, match="has no variable 'bracket'"): PRICE_TAGGING['left'].counterfactual({}, {}, 'bracket')
    with pytest.raises(KeyError, match='unknown causal model'): price_pairs(4, 'right')
    with pytest.raises(ValueError, match='init must be'): RotatedInterchange(8, init='zeros')


def test_gradients_reach_rotation_and_boundaries():
    m, t = tiny_model('qwen2')
    r = LMRunner(m, t, 'blocks.0.resid_post', -1, batch_size=4)
    iv = RotatedInterchange(r.d, seed=0)
    opt = das_optimizer(iv)
    enc = r.encode(_toy_rows(4)[:4])
    w0, lo0, hi0 = iv.rotate.weight.detach().clone(), iv.lo.item(), iv.hi.item()
    das_step(r, iv, opt, enc)
    assert iv.lo.grad is not None and iv.hi.grad is not None and iv.lo.grad.abs() > 0 and iv.hi.grad.abs() > 0
    assert iv.rotate.parametrizations.weight.original.grad.abs().sum() > 0
    assert not torch.equal(iv.rotate.weight, w0) and iv.lo.item() != lo0 and iv.hi.item() != hi0
    assert not any(p.grad is not None for p in m.parameters())  # the model stays frozen
    assert 'temperature' not in dict(iv.named_parameters())


def test_orthogonal_after_training_fp32_and_bf16():
    for dtype in (torch.float32, torch.bfloat16):
        m, t = tiny_model('gemma3', dtype=dtype)
        r = LMRunner(m, t, 'blocks.1.resid_mid', -1, batch_size=4)
        iv = RotatedInterchange(r.d, seed=1)
        train_das(r, iv, _toy_rows(16), epochs=3, lr=1e-2, progress=False)
        R = iv.rotate.weight
        assert R.dtype == torch.float32
        torch.testing.assert_close(R @ R.T, torch.eye(r.d), atol=1e-4, rtol=0)


def test_identity_rotation_with_source_equal_base_gives_task_accuracy():
    from interp_nb.das import HIERARCHICAL_EQUALITY
    mlp = train_mlp(steps=300)
    runner = MLPRunner(mlp, layer=1)
    ds = equality_pairs(512, 'ab', seed=3)
    # source = base: the counterfactual label is the task label, so IIA must equal task accuracy
    same = ds.map(lambda r: {'source': r['base'], 'label': HIERARCHICAL_EQUALITY(torch.tensor(r['base']).view(4, 4))})
    task = iia(runner, None, same)
    assert 0.5 < task <= 1
    assert iia(runner, RotatedInterchange(runner.d, k=8, init='identity'), same) == task
    assert iia(runner, RotatedInterchange(runner.d, k=8, seed=5), same) == task
    lm, tok = tiny_model('llama')
    r = LMRunner(lm, tok, 'blocks.1.resid_post', -1, batch_size=4)
    own = _toy_rows(8).map(lambda x: {'source': x['base']})
    assert iia(r, RotatedInterchange(r.d, seed=0), own) == iia(r, None, own)


def test_padding_side_does_not_change_iia():
    m, t = tiny_model('llama')
    rows = to_dataset({'base': ['ab', 'abcdef', 'abc', 'abcd'], 'source': ['xyzw', 'xq', 'xy', 'xyz'], 'label': ['a', 'b', 'c', 'd']})
    r = LMRunner(m, t, 'blocks.0.resid_post', -2, batch_size=4)
    iv = RotatedInterchange(r.d, seed=0)
    enc = r.encode(rows[:4])
    left = r.logits(enc, iv, r.source_states(enc))
    t.padding_side = 'right'
    alone = torch.stack([r.logits(r.encode(rows[i:i + 1]), iv, r.source_states(r.encode(rows[i:i + 1])))[0] for i in range(4)])
    torch.testing.assert_close(left, alone, atol=1e-4, rtol=1e-4)


def test_save_load_round_trip(tmp_path):
    m, t = tiny_model('gpt2')
    r = LMRunner(m, t, 'blocks.1.attn.z', -1, batch_size=4)  # a per-head site: intervened as a whole
    iv = RotatedInterchange(r.d, seed=0)
    train_das(r, iv, _toy_rows(8), epochs=2, lr=1e-2, progress=False)
    path = save_intervention(iv, tmp_path/'iv', model=m.config.interp_nb_name, site=r.site, position=-1)
    back = load_intervention(path, r)
    ds = _toy_rows(8)
    assert iia(r, back, ds) == iia(r, iv, ds)
    assert torch.equal(back.rotate.weight, iv.rotate.weight) and back.lo.item() == iv.lo.item()
    other = LMRunner(m, t, 'blocks.1.resid_post', -1)
    other.d = 32
    with pytest.raises(ValueError, match='has size 64'): load_intervention(path, other)
    m2, t2 = tiny_model('llama')
    with pytest.raises(ValueError, match="made on model 'tiny-gpt2', not on 'tiny-llama'"): load_intervention(path, LMRunner(m2, t2, 'blocks.1.resid_post'))


@pytest.mark.parametrize('fam', ['gpt2', 'llama', 'gemma3', 'qwen2'])
def test_interchange_edit_moves_the_subspace(fam):
    m, t = tiny_model(fam)
    base, src = t(['hello there'], return_tensors='pt'), t(['general kenobi'], return_tensors='pt')
    site = 'blocks.1.resid_pre'
    hs = capture(m, src, site)[site][:, -1]
    iv = RotatedInterchange(m.config.hidden_size if fam != 'gpt2' else m.config.n_embd, k=64)  # the whole space
    out = capture(m, base, site, edits={site: InterchangeEdit(iv, hs, torch.tensor([3]))})[site]
    torch.testing.assert_close(out[0, 3], hs[0], atol=1e-5, rtol=1e-5)
