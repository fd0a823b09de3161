"DAS, issue #27: Boundless windows stay ordered and warn when empty, seed=None leaves torch's global stream alone, saved interventions carry the model signature."
import warnings
import pytest, torch
from interp_nb.core import tiny_model
from interp_nb.data import to_dataset
from interp_nb.das import (RotatedInterchange, LMRunner, MLPRunner, das_optimizer, das_step, train_das, iia, _orthogonal,
                           save_intervention, load_intervention, train_mlp, equality_pairs)


def _toy_rows(n=8):
    base = [f"{i} + {i} = " for i in range(n)]; source = [f"{i + 1} - {i} = " for i in range(n)]
    return to_dataset({'base': base, 'source': source, 'label': [str((2 * i) % 10) for i in range(n)]})


def _force(iv, lo, hi):
    "Put the boundaries anywhere, bypassing `set_boundaries`'s check (as an optimiser step can)."
    with torch.no_grad(): iv.lo.fill_(lo); iv.hi.fill_(hi)


def test_crossed_boundaries_still_swap_the_window_between_them():
    iv = RotatedInterchange(64, seed=0, temperature=0.1)
    _force(iv, 0.263, -0.111)  # where the toy ended: before the fix the mask summed to 0
    ordered = RotatedInterchange(64, seed=0, temperature=0.1)
    _force(ordered, -0.111, 0.263)
    torch.testing.assert_close(iv.mask(), ordered.mask())
    assert iv.mask().sum() > 10 and iv.width() > 0
    hb, hs = torch.randn(3, 64), torch.randn(3, 64)
    assert not torch.equal(iv(hb, hs), hb)  # the intervention does something


def test_das_step_keeps_lo_below_hi():
    m, t = tiny_model('llama')
    r = LMRunner(m, t, 'blocks.1.resid_post', -1, batch_size=4)
    iv = RotatedInterchange(r.d, seed=0, temperature=0.1)
    _force(iv, 0.30, 0.29)
    opt = das_optimizer(iv, lr_boundary=0.05)
    enc = r.encode(_toy_rows(4)[:4])
    for _ in range(5):
        das_step(r, iv, opt, enc, width_penalty=10.0)  # a big penalty pushes the boundaries across each other
        assert iv.lo.item() <= iv.hi.item()


def test_set_boundaries_refuses_lo_above_hi():
    with pytest.raises(ValueError, match='lo=0.6.*hi=0.2'): RotatedInterchange(8, boundaries=(0.6, 0.2))
    iv = RotatedInterchange(8)
    with pytest.raises(ValueError, match='lo=0.6.*hi=0.2'): iv.set_boundaries(0.6, 0.2)
    iv.set_boundaries(-0.2, 1.3)  # outside [0, 1] is allowed


def test_empty_window_warns():
    mlp = train_mlp(steps=50)
    r = MLPRunner(mlp, layer=1)
    ds = equality_pairs(64, 'ab')
    iv = RotatedInterchange(r.d, seed=0, temperature=0.1)
    _force(iv, 0.5, 0.5)  # a window narrower than one coordinate: nothing is swapped
    with pytest.warns(UserWarning, match='window is empty'): iia(r, iv, ds)
    iv.set_boundaries(0.0, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        iia(r, iv, ds)  # a normal window does not warn
    _force(iv, 0.53, 0.53)  # between coordinates 8 and 9 of 16, and training leaves it there
    with pytest.warns(UserWarning, match='window is empty'):
        train_das(r, iv, ds, lr_boundary=1e-6, temperature=(0.1, 0.1), progress=False)


def test_unseeded_rotation_leaves_the_global_generator_alone():
    torch.manual_seed(123); want = torch.rand(3)
    torch.manual_seed(123); _orthogonal(8, 'random', None); got = torch.rand(3)
    torch.testing.assert_close(got, want, atol=0, rtol=0)
    torch.manual_seed(123); RotatedInterchange(8, seed=None); got = torch.rand(3)
    torch.testing.assert_close(got, want, atol=0, rtol=0)
    a, b = _orthogonal(8, 'random', None).weight, _orthogonal(8, 'random', None).weight
    assert not torch.equal(a, b)  # still a fresh rotation each time
    torch.testing.assert_close(a @ a.T, torch.eye(8), atol=1e-5, rtol=0)


def test_seeded_rotation_unchanged():
    # the rotation for a given seed is the same matrix as before (QR of a seeded Gaussian, signs fixed)
    g = torch.Generator().manual_seed(7)
    q, rr = torch.linalg.qr(torch.randn(16, 16, generator=g))
    torch.testing.assert_close(_orthogonal(16, 'random', 7).weight, q * torch.sign(torch.diagonal(rr)), atol=1e-6, rtol=0)


def test_saved_intervention_refuses_a_model_of_another_shape(tmp_path):
    m, t = tiny_model('llama')
    r = LMRunner(m, t, 'blocks.1.resid_post', -1)
    iv = RotatedInterchange(r.d, seed=0)
    path = save_intervention(iv, tmp_path/'iv', runner=r)
    import json
    meta = json.loads((path/'intervention.json').read_text())
    assert meta['model'] == 'tiny-llama' and meta['signature']['n_layers'] == 2 and meta['site'] == 'blocks.1.resid_post'
    load_intervention(path, r)
    m3, t3 = tiny_model('llama', n_layers=3)  # same name, same site width, another shape
    with pytest.raises(ValueError, match='n_layers 2 \\(saved\\) vs 3'): load_intervention(path, LMRunner(m3, t3, 'blocks.1.resid_post'))
    # a model passed as model= is recorded the same way
    p2 = save_intervention(iv, tmp_path/'iv2', model=m, site=r.site)
    with pytest.raises(ValueError, match='n_layers 2 \\(saved\\) vs 3'): load_intervention(p2, LMRunner(m3, t3, 'blocks.1.resid_post'))
    # old files (a name only, or nothing) still load
    p3 = save_intervention(iv, tmp_path/'iv3', model='tiny-llama', site=r.site)
    load_intervention(p3, LMRunner(m3, t3, 'blocks.1.resid_post'))


def test_mlp_intervention_round_trip(tmp_path):
    mlp = train_mlp(steps=50)
    r = MLPRunner(mlp, layer=1)
    iv = RotatedInterchange(r.d, k=8, seed=0)
    back = load_intervention(save_intervention(iv, tmp_path/'iv', runner=r), r)  # an nn.Sequential has no config: no signature
    assert torch.equal(back.rotate.weight, iv.rotate.weight)
    back = load_intervention(save_intervention(iv, tmp_path/'iv2', site='mlp.layer1'), r)
    assert torch.equal(back.rotate.weight, iv.rotate.weight)
