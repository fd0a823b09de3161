"Activation sites on every family: exact patching, padding, errors, hooks, gradients, generation."
import pytest, torch
from interp_nb.core import tiny_model
from interp_nb.sites import (capture, capturing, intervene, run, patch, ablate, steer, site_names, resolve_sites,
                             site_shape, model_info, remove_hooks, SiteError, _HANDLES)
from interp_nb.data import encode, last_pos


def _ids(tok, side='right'):
    return encode(tok, ['the cat sat on the mat', 'hi there'], padding_side=side)


def test_patch_own_value_is_exact_everywhere(tiny):
    m, tok = tiny
    ids = _ids(tok)
    clean = run(m, ids)
    acts = capture(m, ids, site_names(m), stop=False)
    for s in site_names(m):
        assert torch.equal(run(m, ids, {s: patch(acts[s])}), clean), s


def test_site_shapes_match_captures(tiny):
    m, tok = tiny
    ids = _ids(tok)
    acts = capture(m, ids, site_names(m), stop=False)
    for s, a in acts.items(): assert tuple(a.shape[2:]) == site_shape(m, s), s


def test_padding_side_does_not_change_results(tiny):
    m, tok = tiny
    texts = ['the cat sat on the mat', 'hi']
    outs = []
    for side in ('left', 'right'):
        enc = encode(tok, texts, padding_side=side)
        lp = last_pos(enc['attention_mask'])
        logits = run(m, enc)
        acts = capture(m, enc, 'blocks.1.resid_post', pos=lp)['blocks.1.resid_post']
        outs.append((logits[torch.arange(2), lp], acts))
    alone = torch.stack([run(m, encode(tok, [t]))[0, -1] for t in texts])
    for final, _ in outs: torch.testing.assert_close(final, alone, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(outs[0][1], outs[1][1], atol=1e-4, rtol=1e-4)


def test_unknown_site_names_valid_ones():
    m, tok = tiny_model('llama')
    with pytest.raises(SiteError, match=r'Valid sites: embed, blocks\.\{0-1\}'): capture(m, _ids(tok), 'blocks.2.resid_post')
    with pytest.raises(SiteError, match='Unknown site'): capture(m, _ids(tok), 'blocks.0.attn.pattern')
    with pytest.raises(SiteError, match='No site of this model matches'): resolve_sites(m, 'layers.*')


def test_unsupported_architecture_names_supported_ones():
    from transformers import OPTConfig, AutoModelForCausalLM
    m = AutoModelForCausalLM.from_config(OPTConfig(vocab_size=300, hidden_size=32, num_hidden_layers=1,
                                                   ffn_dim=64, num_attention_heads=2, max_position_embeddings=64))
    with pytest.raises(SiteError, match=r"Unsupported architecture OPTForCausalLM .*gemma3_text.*llama"):
        capture(m, torch.tensor([[1, 2, 3]]), 'blocks.0.resid_post')


def test_wrong_positions_and_heads():
    m, tok = tiny_model('qwen2')
    ids = _ids(tok)
    with pytest.raises(SiteError, match='blocks.0.resid_pre: position 99 is out of range for sequence length 22'):
        run(m, ids, {'blocks.0.resid_pre': ablate(pos=99)})
    with pytest.raises(SiteError, match='position -23 is out of range'): run(m, ids, {'blocks.0.resid_pre': ablate(pos=-23)})
    with pytest.raises(SiteError, match='given for 3 rows but the batch has 2'):
        run(m, ids, {'blocks.0.resid_pre': ablate(pos=torch.tensor([0, 1, 2]))})
    with pytest.raises(SiteError, match='integers'): run(m, ids, {'blocks.0.resid_pre': ablate(pos=torch.tensor([0.5, 1.]))})
    with pytest.raises(SiteError, match='head 7 is out of range: the site has 2 heads'):
        run(m, ids, {'blocks.0.attn.k': ablate(heads=7)})
    with pytest.raises(SiteError, match='per-head sites'): run(m, ids, {'blocks.0.mlp.out': ablate(heads=0)})
    with pytest.raises(SiteError, match='position'): capture(m, ids, 'blocks.0.resid_pre', pos=50)


def test_mismatched_batch_sizes():
    m, tok = tiny_model('gpt2')
    ids = _ids(tok)
    other = capture(m, encode(tok, ['a', 'b', 'c']), 'blocks.0.resid_post')['blocks.0.resid_post']
    with pytest.raises(SiteError, match='batch size 3 but the activation has 2'):
        run(m, ids, {'blocks.0.resid_post': patch(other[:, :1].expand(3, 22, -1).contiguous())})
    with pytest.raises(SiteError, match='batch size 3 but the activation has 2'):
        run(m, ids, {'blocks.0.resid_post': patch(other[:, 0])})
    with pytest.raises(SiteError, match='does not fit'): run(m, ids, {'blocks.0.resid_post': patch(torch.zeros(5))})
    with pytest.raises(ValueError, match='mismatched batch sizes'):
        run(m, {'input_ids': ids['input_ids'], 'attention_mask': ids['attention_mask'][:1]})
    with pytest.raises(SiteError, match='returned shape'): run(m, ids, {'blocks.0.resid_post': lambda a: a[:, :1]})


def test_hooks_removed_after_errors():
    m, tok = tiny_model('gemma2')
    with pytest.raises(RuntimeError):
        with intervene(m, {'blocks.*.resid_post': steer(torch.ones(64))}): raise RuntimeError('user code fails')
    with pytest.raises(SiteError): run(m, _ids(tok), {'blocks.0.resid_pre': ablate(pos=99)})
    assert not _HANDLES.get(m)
    assert all(not mod._forward_hooks and not mod._forward_pre_hooks for mod in m.modules())
    # leftover hooks from an interrupted cell can be cleared
    from interp_nb.sites import _hook
    _hook(m, 'blocks.0.resid_post', lambda a: None)
    assert remove_hooks(m) == 1 and all(not mod._forward_hooks for mod in m.modules())


def test_edits_compose_in_order():
    m, tok = tiny_model('llama')
    ids = _ids(tok)
    v = torch.randn(64)
    base = capture(m, ids, 'blocks.0.resid_post')['blocks.0.resid_post']
    both = capture(m, ids, 'blocks.0.resid_post', edits={'blocks.0.resid_post': [steer(v), ablate(pos=0)]})['blocks.0.resid_post']
    assert torch.equal(both[:, 0], torch.zeros_like(both[:, 0]))
    torch.testing.assert_close(both[:, 1:], base[:, 1:] + v)
    with intervene(m, {'blocks.0.resid_post': steer(v)}):  # nested blocks compose too
        nested = capture(m, ids, 'blocks.0.resid_post', edits={'blocks.0.resid_post': ablate(pos=0)})['blocks.0.resid_post']
    assert torch.equal(nested, both)


def test_gradients_flow_through_edits():
    m, tok = tiny_model('gemma3')
    ids = _ids(tok)
    v = torch.zeros(64, requires_grad=True)
    logits = run(m, ids, {'blocks.0.resid_mid': steer(v, pos=-1)}, grad=True)
    logits[:, -1].sum().backward()
    assert v.grad is not None and v.grad.abs().sum() > 0
    h = capture(m, ids, 'blocks.1.mlp.neurons', grad=True)['blocks.1.mlp.neurons']
    assert h.requires_grad


def test_stop_early_skips_later_layers():
    m, tok = tiny_model('llama', n_layers=4)
    fired = []
    m.model.layers[3].register_forward_hook(lambda *a: fired.append(3))
    capture(m, _ids(tok), 'blocks.1.resid_post')
    assert fired == []
    capture(m, _ids(tok), 'blocks.1.resid_post', stop=False)
    assert fired == [3]


def test_capture_during_generation():
    m, tok = tiny_model('qwen3')
    ids = encode(tok, ['ab'])
    with capturing(m, 'blocks.1.resid_post', append=True) as store:
        out = m.generate(**ids, max_new_tokens=3, do_sample=False, pad_token_id=tok.pad_token_id)
    steps = store['blocks.1.resid_post']
    assert len(steps) == 3 and steps[0].shape[1] == 2 and steps[1].shape[1] == 1


def test_bf16_patch_is_exact():
    m, tok = tiny_model('gemma3', dtype=torch.bfloat16)
    ids = _ids(tok)
    acts = capture(m, ids, 'blocks.*.attn.z')
    clean = run(m, ids)
    assert clean.dtype == torch.bfloat16
    assert torch.equal(run(m, ids, {k: patch(v) for k, v in acts.items()}), clean)
