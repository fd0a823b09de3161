"Edge Pruning: errors on bad input, circuit files, JSONL splits (tiny models, byte tokenizer)."
import json, random
import pytest, torch
from interp_nb.core import tiny_model
from interp_nb.edge_pruning import (edge_graph, make_task, prune, keep_top, circuit_mask, check_sparsity, evaluate, save_circuit,
                                    load_circuit, load_masks, edge_forward, writer_cache)
from interp_nb.edge_tasks import load_jsonl_task


@pytest.fixture(scope='module')
def llama():
    return tiny_model('llama', n_layers=2)


def _rows(n=8, seed=0):
    rng = random.Random(seed)
    return [dict(clean=f'copy {c}{d}{c}', corrupted=f'copy {d}{c}{d}', answer=c, wrong=d) for c, d in (rng.sample('abcdefghij', 2) for _ in range(n))]


def _write(path, lines):
    path.write_text('\n'.join(l if isinstance(l, str) else json.dumps(l) for l in lines) + '\n')
    return path


def test_jsonl_missing_predict_names_line(tmp_path):
    p = _write(tmp_path/'t.jsonl', [{"clean": "1 + 2 = <predict>3</predict>", "corrupted": "1 + 4 = <predict>5</predict>"},
                                    {"clean": "5 + 1 = <predict>6</predict>", "corrupted": "1 + 1 = <predict>2</predict>"},
                                    {"clean": "2 + 2 = 4", "corrupted": "2 + 4 = <predict>6</predict>"}])
    with pytest.raises(ValueError, match=r"line 3: 'clean' has no <predict>"): load_jsonl_task(p)


def test_jsonl_malformed_json_names_line(tmp_path):
    p = _write(tmp_path/'t.jsonl', [{"clean": "a <predict>b</predict>", "corrupted": "c <predict>d</predict>"}, '{"clean": "x" "corrupted": 1}'])
    with pytest.raises(ValueError, match='line 2: malformed JSON'): load_jsonl_task(p)


def test_jsonl_missing_key_and_bad_split(tmp_path):
    with pytest.raises(ValueError, match=r"line 1: missing \['corrupted'\]"):
        load_jsonl_task(_write(tmp_path/'a.jsonl', [{"clean": "a <predict>b</predict>"}]))
    with pytest.raises(ValueError, match="line 1: split must be"):
        load_jsonl_task(_write(tmp_path/'b.jsonl', [{"clean": "a <predict>b</predict>", "corrupted": "c <predict>d</predict>", "split": "test"}]))


def test_jsonl_split_honoured(tmp_path):
    p = _write(tmp_path/'t.jsonl', [{"clean": "1 + 2 = <predict>3</predict>", "corrupted": "1 + 4 = <predict>5</predict>", "split": "train"},
                                    {"clean": "5 + 1 = <predict>6</predict>", "corrupted": "1 + 1 = <predict>2</predict>", "split": "validation"},
                                    {"clean": "7 + 1 = <predict>8</predict>", "corrupted": "7 + 2 = <predict>9</predict>", "split": "validation"},
                                    {"clean": "2 + 2 = <predict>4</predict>", "corrupted": "2 + 4 = <predict>6</predict>"}])
    dd = load_jsonl_task(p)
    assert dd['train']['clean'] == ['1 + 2 = ', '2 + 2 = ']
    assert dd['validation']['clean'] == ['5 + 1 = ', '7 + 1 = ', '2 + 2 = ']
    assert dd['validation']['answer'] == ['6', '8', '4'] and dd['validation']['wrong'] == ['2', '9', '6']
    only_train = _write(tmp_path/'u.jsonl', [{"clean": "a <predict>b</predict>", "corrupted": "c <predict>d</predict>", "split": "train"}])
    with pytest.raises(ValueError, match='no examples for the validation split'): load_jsonl_task(only_train)


def test_jsonl_task_runs(tmp_path, llama):
    model, tok = llama
    p = _write(tmp_path/'t.jsonl', [{"clean": f"{a} + {b} = <predict>{(a + b) % 10}</predict>", "corrupted": f"{b} + {b} = <predict>{2 * b % 10}</predict>"}
                                    for a, b in [(1, 2), (3, 4), (2, 5)]])
    task = make_task(tok, load_jsonl_task(p)['train'], 'sums')
    assert len(task) == 3 and evaluate(model, task)['kl'] == 0.


def test_token_length_mismatch(llama):
    model, tok = llama
    with pytest.raises(ValueError, match=r'row 1: clean and corrupted inputs have different token lengths \(\d+ vs \d+\)'):
        make_task(tok, [dict(clean='ab', corrupted='cd', answer='x', wrong='y'), dict(clean='ab', corrupted='abc', answer='x', wrong='y')])
    g = edge_graph(model)
    clean = {'input_ids': torch.randint(3, 50, (2, 5)), 'attention_mask': torch.ones(2, 5, dtype=torch.long)}
    corr = {'input_ids': torch.randint(3, 50, (2, 6)), 'attention_mask': torch.ones(2, 6, dtype=torch.long)}
    with pytest.raises(ValueError, match='same batch size and token length'):
        edge_forward(model, clean, g, torch.ones(g.n_edges), writer_cache(model, corr, g))


def test_unknown_task_and_metric(llama):
    model, tok = llama
    from interp_nb.edge_tasks import tracr_model, compile_tracr
    with pytest.raises(ValueError, match="unknown Tracr program 'sort'"): tracr_model('sort')
    with pytest.raises(ValueError, match="unknown Tracr program"): compile_tracr('sort')
    with pytest.raises(ValueError, match='metric must be one of'): make_task(tok, _rows(), metric='accuracy')


@pytest.mark.parametrize('bad', [1.0, -0.01, 1.5, '0.9', True, None])
def test_sparsity_outside_range(llama, bad):
    model, tok = llama
    task = make_task(tok, _rows(4), 'copy')
    with pytest.raises(ValueError, match=r'must be a number in \[0, 1\)'): check_sparsity(bad)
    with pytest.raises(ValueError, match=r'must be a number in \[0, 1\)'): prune(model, task, target=bad, steps=1, progress=False)
    with pytest.raises(ValueError, match=r'must be a number in \[0, 1\)'): keep_top(torch.randn(10), bad)


def test_circuit_round_trip_and_mismatch(tmp_path, llama):
    model, tok = llama
    task = make_task(tok, _rows(8), 'copy')
    res = prune(model, task, target=0.5, steps=5, batch_size=4, warmup=1, progress=False)
    keep = circuit_mask(res.masks, 0.8)
    g = edge_graph(model)
    assert int(keep.sum()) == round(0.2 * g.n_edges)
    p = save_circuit(tmp_path/'c.json', model, keep, masks=res.masks, task='copy', target=0.8)
    doc = json.loads(p.read_text())
    assert doc['n_edges'] == int(keep.sum()) and all(len(e) == 2 for e in doc['edges']) and doc['task'] == 'copy'
    k2, meta = load_circuit(p, model)
    assert torch.equal(k2, keep) and meta['target'] == 0.8
    assert torch.equal(load_masks(p, model).log_alpha.detach(), res.masks.log_alpha.detach())
    other, _ = tiny_model('gpt2', n_layers=2)
    with pytest.raises(ValueError, match="holds a circuit of model"): load_circuit(p, other)
    with pytest.raises(ValueError, match="holds masks of model"): load_masks(p, other)
    doc['edges'].append(['blocks.7.mlp.out', 'output'])
    (tmp_path/'bad.json').write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"edge \d+ \['blocks.7.mlp.out', 'output'\] is not an edge"): load_circuit(tmp_path/'bad.json', model)
    (tmp_path/'none.json').write_text('[]')
    with pytest.raises(ValueError, match='not a circuit file'): load_circuit(tmp_path/'none.json', model)
    with pytest.raises(ValueError, match='entries but the graph has'): save_circuit(tmp_path/'x.json', model, keep[:-1])


def test_prune_counts_must_be_positive(llama):
    model, tok = llama
    task = make_task(tok, _rows(2), 'copy')
    for kw in (dict(steps=0), dict(batch_size=0), dict(samples=0)):
        with pytest.raises(ValueError, match='must be positive'): prune(model, task, target=0.5, progress=False, **kw)


def test_prune_samples_average_the_gate_noise(llama):
    "More gate draws per step give a different (averaged) update; one draw reproduces the single-sample run exactly."
    model, tok = llama
    task = make_task(tok, _rows(4), 'copy')
    run = lambda k: prune(model, task, target=0.5, steps=3, batch_size=4, lr=0.5, warmup=1, samples=k, seed=0, progress=False).masks.log_alpha.detach()
    one, again, four = run(1), run(1), run(4)
    assert torch.equal(one, again)
    assert not torch.allclose(one, four)



def test_mask_gradients_match_finite_differences():
    "The custom backward (writer gradients gathered from every downstream reader, mask gradients formed once) is the true gradient (GPT-2 in float64: its norms keep the dtype)."
    import copy
    model, tok = tiny_model('gpt2', n_layers=2)
    model = copy.deepcopy(model).double()
    task = make_task(tok, _rows(2), 'copy')
    graph = edge_graph(model)
    corrupt = writer_cache(model, task.corrupted, graph)
    loss = lambda m: edge_forward(model, task.clean, graph, m, corrupt, pos=task.loss_mask).pow(2).mean()
    m = torch.rand(graph.n_edges, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_()
    for p in model.parameters(): p.requires_grad_(False)
    loss(m).backward()
    sl = graph.group_slices()
    picks = [sl[0].start, sl[1].start, sl[2].stop - 1, sl[-1].start, sl[-1].stop - 1] + torch.randint(0, graph.n_edges, (5,), generator=torch.Generator().manual_seed(1)).tolist()
    h = 1e-5
    with torch.no_grad():
        for j in picks:
            e = torch.zeros_like(m); e[j] = h
            fd = (loss(m + e) - loss(m - e)) / (2 * h)
            assert torch.allclose(m.grad[j], fd, rtol=1e-5, atol=1e-9), (j, m.grad[j].item(), fd.item())


class _PlainMix:
    "The reader mixing with plain autograd ops (every mask block sliced from the edge vector, every writer delta concatenated)."
    seen = []
    @staticmethod
    def apply(mv, base, st, g, *chunks):
        if g == 0: _PlainMix.seen.clear()
        _PlainMix.seen.extend(chunks)
        d = torch.cat(_PlainMix.seen).flatten(1)
        out = mv[st.sl[g]].view(-1, st.nw[g]) @ d
        return out if base is None else out + base


@pytest.mark.parametrize('family,ablate,nodes', [('llama', 'corrupt', False), ('gemma3', 'zero', False), ('gemma3', 'corrupt', False), ('qwen2', 'corrupt', True)])
def test_mask_gradients_match_plain_autograd(monkeypatch, family, ablate, nodes):
    "Mask (and node) gradients of the custom backward equal those of the same forward written with plain autograd ops."
    import interp_nb.edge_pruning as ep
    from interp_nb.edge_pruning import EdgeMasks
    model, tok = tiny_model(family, n_layers=3)
    task = make_task(tok, _rows(2), 'copy')
    graph = edge_graph(model)
    corrupt = None if ablate == 'zero' else writer_cache(model, task.corrupted, graph)
    grads = []
    for mix in (ep._Mix, _PlainMix):
        monkeypatch.setattr(ep, '_Mix', mix)
        masks = EdgeMasks(graph, nodes=nodes, init=0.0, seed=0)
        torch.manual_seed(1)
        z, zn = masks.sample()
        with ep._frozen(model):  # no weight gradients; the shared tiny model gets its flags back
            edge_forward(model, task.clean, graph, z, corrupt, nodes=zn, pos=task.loss_mask).pow(2).mean().backward()
        grads.append([masks.log_alpha.grad] + ([masks.node_log_alpha.grad] if nodes else []))
    for a, b in zip(*grads):
        assert a.abs().max() > 0
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


def test_keep_writers_needs_the_full_model(llama):
    model, tok = llama
    g = edge_graph(model)
    task = make_task(tok, _rows(2), 'copy')
    with pytest.raises(ValueError, match='keep_writers needs masks=None'):
        edge_forward(model, task.clean, g, torch.ones(g.n_edges), keep_writers=True)


@pytest.mark.parametrize('family', ['qwen2', 'gemma3', 'gpt2'])
def test_input_norm_folded_into_projections(family):
    "For RMS-style input norms the gain is folded into the per-head projections (same numbers); a LayerNorm keeps the module."
    from interp_nb.edge_pruning import _layer, _in_proj, _proj
    model, _ = tiny_model(family, n_layers=1)
    L = _layer(model, 0)
    assert (L.rms is None) == (family == 'gpt2')
    x = torch.randn(L.wq.shape[0], 2, 5, L.wq.shape[-1], generator=torch.Generator().manual_seed(0)) * 3 + 1
    with torch.no_grad():
        torch.testing.assert_close(_in_proj(L, x, L.wq, L.bq), _proj(L.ln1(x), L.wq, L.bq), rtol=1e-5, atol=1e-5)


def test_outputs_kept_before_caches(llama):
    "When the corrupted cache does not fit in cache_mb, the full model's outputs (small) are still kept."
    from interp_nb.edge_pruning import _States
    model, tok = llama
    task = make_task(tok, _rows(4), 'copy')
    states = _States(model, edge_graph(model), limit_mb=0.01)
    out, cache = states(0, task)
    assert out.numel() * 4 < 0.01 * 2**20 < cache.nbytes()
    assert (0, 'out') in states.store and (0, 'cache') not in states.store
    again, _ = states(0, task)
    assert again is out


def test_reuse_memory_off_glibc(monkeypatch):
    import platform
    from interp_nb.core import reuse_memory
    monkeypatch.setattr(platform, 'libc_ver', lambda *a, **k: ('', ''))
    with reuse_memory() as on: assert on is False
