"""patch_sweep's shortcuts (resume from the corrupted run at the patched layer, skip patches that change nothing) give the
numbers of the plain sweep and of an independent per-(layer, position) loop; `resume` leaves the model as it found it."""
import pytest, torch
from interp_nb.core import tiny_model, TINY_FAMILIES
from interp_nb.sites import run, resume, capture, patch, block, model_info, SiteError
from interp_nb.patching import patch_sweep, atp_sweep


def _pair(fam):
    m, t = tiny_model(fam)
    if t.pad_token is None: t.pad_token = t.eos_token
    t.padding_side = 'left'
    clean = t(["the cat sat on the mat", "a dog ran"], return_tensors='pt', padding=True)
    corrupted = {k: v.clone() for k, v in clean.items()}
    corrupted['input_ids'][:, -2] = (corrupted['input_ids'][:, -2] + 1) % 50  # one token differs, late in the prompt
    return m, clean, corrupted


def _metric(f, rows): return f[:, 3] - f[:, 5]


def _loop(m, clean, corrupted, kind, answer_pos):
    "The sweep written out: one full patched forward per (layer, position, prompt)."
    n, s = clean['input_ids'].shape
    src = capture(m, clean, f'blocks.*.{kind}')
    out = torch.zeros(model_info(m).n_layers, s)
    for l in range(out.shape[0]):
        site = f'blocks.{l}.{kind}'
        for p in range(s):
            logits = run(m, corrupted, {site: patch(src[site], pos=p)})
            out[l, p] = _metric(logits[torch.arange(n), answer_pos], torch.arange(n)).mean()
    return out


@pytest.mark.parametrize('fam', TINY_FAMILIES)
def test_sweep_shortcuts_equal_the_plain_sweep(fam):
    m, clean, corrupted = _pair(fam)
    for kind in ('resid_pre', 'attn.out', 'attn.z', 'mlp.neurons', 'resid_post'):
        fast = patch_sweep(m, clean, corrupted, _metric, kind=kind, progress=False)
        plain = patch_sweep(m, clean, corrupted, _metric, kind=kind, reuse=False, progress=False)
        torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)


def test_sweep_equals_an_independent_loop_with_answers_before_the_end():
    m, clean, corrupted = _pair('llama')
    answer = torch.tensor([4, 3])  # not the last position: the full logits path
    for kind in ('resid_pre', 'mlp.out'):
        want = _loop(m, clean, corrupted, kind, answer)
        got = patch_sweep(m, clean, corrupted, _metric, kind=kind, answer_pos=answer, batch_size=5, progress=False)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    end = torch.full((2,), clean['input_ids'].shape[1] - 1)
    sub = patch_sweep(m, clean, corrupted, _metric, layers=[1], positions=[5, 2], progress=False)
    torch.testing.assert_close(sub, _loop(m, clean, corrupted, 'resid_pre', end)[[1]][:, [5, 2]], rtol=1e-5, atol=1e-5)


def test_shortcuts_skip_work():
    "Count the rows that go through block 0's MLP: the plain sweep sends every job through it at every layer."
    m, clean, corrupted = _pair('llama')
    seen = []
    h = block(m, 0).mlp.register_forward_hook(lambda mod, a, o: seen.append(o.shape[0]))
    try:
        patch_sweep(m, clean, corrupted, _metric, reuse=False, progress=False); plain = sum(seen); seen.clear()
        patch_sweep(m, clean, corrupted, _metric, progress=False); fast = sum(seen)
    finally: h.remove()
    s = clean['input_ids'].shape[1]
    assert plain == 2 + 2 * 2 * s, plain  # one clean capture, then 2 layers x 2 prompts x s positions
    assert fast < plain / 2, (fast, plain)


def test_resume_restores_a_dispatched_model():
    "accelerate's dispatch wraps `forward` on the module itself; resume must put that wrapper back."
    from accelerate.hooks import ModelHook, add_hook_to_module
    m, clean, _ = _pair('llama')
    add_hook_to_module(block(m, 0), ModelHook())
    wrapped = block(m, 0).forward
    r1 = capture(m, clean, 'blocks.1.resid_pre')['blocks.1.resid_pre']
    torch.testing.assert_close(resume(m, clean, 1, r1), run(m, clean))
    assert block(m, 0).forward is wrapped
    with pytest.raises(SiteError, match='layer must be an int'): resume(m, clean, 2, r1)
    assert block(m, 0).forward is wrapped


def _fd_effect(m, clean, corrupted, site, pos, eps=1e-2, frozen=None):
    "The derivative of M along clean - corrupted at one position (a central difference in fp64; some buffers stay fp32, so eps is not tiny), and M itself."
    n = clean['input_ids'].shape[0]
    a, a0 = capture(m, clean, site)[site], capture(m, corrupted, site)[site]
    keep = {f: patch(v) for f, v in (frozen or {}).items()}  # activations held at the corrupted run's values
    def M(x): return _metric(run(m, corrupted, {site: patch(x, pos=pos), **keep})[:, -1], None).mean()
    return ((M(a0 + eps * (a - a0)) - M(a0 - eps * (a - a0))) / (2 * eps)).item(), M(a0).item()


@pytest.mark.parametrize('kind', ['resid_pre', 'attn.z', 'mlp.out'])
def test_atp_is_the_first_order_term(kind):
    "Each cell of atp_sweep equals the corrupted metric plus the finite-difference derivative along clean - corrupted."
    m, clean, corrupted = _pair('gemma3')
    m = m.double()
    grid = atp_sweep(m, clean, corrupted, _metric, kind=kind)
    s = clean['input_ids'].shape[1]
    for l in range(2):
        for p in (s - 2, s - 1):
            d, base = _fd_effect(m, clean, corrupted, f'blocks.{l}.{kind}', p)
            assert abs(grid[l, p].item() - (base + d)) < 1e-5, (kind, l, p, grid[l, p].item(), base + d)
    for p in range(s - 2):  # before the first differing token clean == corrupted: no effect
        torch.testing.assert_close(grid[:, p], torch.full((2,), base, dtype=grid.dtype))


def test_grad_drop_averages_estimates_with_each_layer_dropped():
    "2 layers: a layer-1 resid_pre cell is |AtP| (dropping layer 0 changes nothing downstream) plus |AtP with block 1's attention and MLP frozen|."
    m, clean, corrupted = _pair('llama')
    m = m.double()
    gd = atp_sweep(m, clean, corrupted, _metric, grad_drop=True)
    atp = atp_sweep(m, clean, corrupted, _metric)
    s = clean['input_ids'].shape[1]
    frozen = capture(m, corrupted, ['blocks.1.attn.out', 'blocks.1.mlp.out'])
    for p in (s - 2, s - 1):
        direct, base = _fd_effect(m, clean, corrupted, 'blocks.1.resid_pre', p, frozen=frozen)
        want = abs(atp[1, p].item() - base) + abs(direct)
        assert abs(gd[1, p].item() - want) < 1e-5, (p, gd[1, p].item(), want)
    assert bool((gd >= 0).all())
