"""Edge Pruning, issue #27: circuits refused on a model of another shape, corrupt circuit files, JSONL with a BOM, clear
token-length errors, Tracr with an integer vocabulary, Tracr descriptions with missing keys."""
import json
import pytest, torch
from interp_nb.core import tiny_model
from interp_nb.edge_pruning import edge_graph, make_task, save_circuit, load_circuit, load_masks, EdgeMasks
from interp_nb.edge_tasks import load_jsonl_task


@pytest.fixture(scope='module')
def llama():
    return tiny_model('llama', n_layers=2)


def _circuit(tmp_path, model, masks=False):
    graph = edge_graph(model)
    keep = torch.zeros(graph.n_edges, dtype=torch.bool); keep[:12] = True
    return save_circuit(tmp_path/'c.json', model, keep, masks=EdgeMasks(graph) if masks else None), keep


# 1. a circuit is checked against the model's shape and graph, not only its name

@pytest.mark.parametrize('kw, field', [(dict(n_layers=3), 'n_layers'), (dict(n_heads=8), 'n_heads'), (dict(d_model=128), 'd_model')])
def test_circuit_refused_on_same_name_other_shape(tmp_path, llama, kw, field):
    model, _ = llama
    p, keep = _circuit(tmp_path, model, masks=True)
    other, _ = tiny_model('llama', **{'n_layers': 2, **kw})
    assert other.config.interp_nb_name == model.config.interp_nb_name
    with pytest.raises(ValueError, match=field): load_circuit(p, other)
    with pytest.raises(ValueError, match=field): load_masks(p, other)
    k2, meta = load_circuit(p, model)  # the model it was made on still loads it
    assert torch.equal(k2, keep) and meta['signature']['n_layers'] == 2 and meta['n_writers'] == edge_graph(model).n_writers


def test_circuit_records_graph_size(tmp_path, llama):
    model, _ = llama
    p, _ = _circuit(tmp_path, model)
    doc = json.loads(p.read_text())
    doc['n_edges_total'] += 1
    p.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r'n_edges_total'): load_circuit(p, model)


def test_old_circuit_without_signature_loads_and_is_still_checked(tmp_path, llama):
    model, _ = llama
    p, keep = _circuit(tmp_path, model)
    doc = json.loads(p.read_text())
    for k in ('signature', 'n_writers'): doc.pop(k, None)
    p.write_text(json.dumps(doc))
    assert torch.equal(load_circuit(p, model)[0], keep)
    bigger, _ = tiny_model('llama', n_layers=3)
    with pytest.raises(ValueError, match='n_edges_total'): load_circuit(p, bigger)  # the edge count old files hold


# 2. corrupt or truncated files name the file

@pytest.mark.parametrize('cut', [0, 0.5, -2])
def test_truncated_circuit_names_file(tmp_path, llama, cut):
    model, _ = llama
    p, _ = _circuit(tmp_path, model)
    text = p.read_text()
    p.write_text(text[:int(len(text) * cut)] if isinstance(cut, float) else text[:cut])
    with pytest.raises(ValueError, match=r"c\.json.*corrupt or truncated"): load_circuit(p, model)


def test_truncated_masks_names_file(tmp_path, llama):
    model, _ = llama
    p, _ = _circuit(tmp_path, model, masks=True)
    st = p.with_suffix('.safetensors')
    st.write_bytes(st.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"c\.safetensors.*corrupt or truncated"): load_masks(p, model)


# 3. JSONL with a BOM; token-length errors quote what differs

def test_jsonl_with_bom_loads(tmp_path):
    p = tmp_path/'t.jsonl'
    p.write_text(json.dumps({"clean": "1 + 2 = <predict>3</predict>", "corrupted": "1 + 4 = <predict>5</predict>"}) + '\n',
                 encoding='utf-8-sig')
    dd = load_jsonl_task(p)
    assert dd['train']['clean'] == ['1 + 2 = '] and dd['train']['answer'] == ['3']


def test_token_length_error_quotes_answers_when_only_answers_differ(llama):
    _, tok = llama
    rows = [dict(clean='ab', corrupted='cd', answer='xy', corrupted_answer='xyz', wrong='q')]
    with pytest.raises(ValueError, match='different token lengths') as e: make_task(tok, rows)
    msg = str(e.value)
    assert "'xy'" in msg and "'xyz'" in msg and "'ab'" not in msg and "'cd'" not in msg


def test_token_length_error_quotes_prompts_when_prompts_differ(llama):
    _, tok = llama
    with pytest.raises(ValueError, match='different token lengths') as e:
        make_task(tok, [dict(clean='ab', corrupted='abc', answer='x', wrong='y')])
    assert "'ab'" in str(e.value) and "'abc'" in str(e.value)


# 4. Tracr with an integer vocabulary, compiled and then read back from the cache

def test_tracr_integer_vocabulary(tmp_path, monkeypatch):
    pytest.importorskip('tracr')
    from interp_nb import edge_tasks
    from interp_nb.edge_pruning import tracr_task
    monkeypatch.setenv('INTERP_NB_CACHE', str(tmp_path))
    monkeypatch.setitem(edge_tasks.TRACR_PROGRAMS, 'reverse', dict(vocab=(1, 2, 3), max_seq_len=4, length=3))
    outs = []
    for _ in range(2):  # compiled, then from the cache's JSON
        model = edge_tasks.tracr_model('reverse')
        info = model.config.tracr
        ids = edge_tasks.tracr_inputs(model)
        inv, dec = {v: k for k, v in info['input_map'].items()}, {v: k for k, v in info['output_map'].items()}
        got = [[dec[int(i)] for i in row] for row in model(input_ids=ids).logits[:, 1:].argmax(-1)]
        assert got == [[inv[int(i)] for i in row[1:]][::-1] for row in ids]
        assert len(tracr_task(model)) == 27
        outs.append(ids)
    assert torch.equal(*outs)


# 5. tracr_to_torch checks the description it is given

def test_tracr_to_torch_lists_missing_info_keys():
    from interp_nb.edge_tasks import tracr_to_torch
    with pytest.raises(ValueError, match=r"info lacks .*'residual_labels'.*'input_map'"): tracr_to_torch({}, {})
    with pytest.raises(ValueError, match=r"info lacks \['key_size'\]"):
        tracr_to_torch({}, dict(name='p', vocab=['a'], max_seq_len=2, length=1, output='o', n_layers=1, n_heads=1, mlp_hidden=1,
                                causal=False, layer_norm=False, residual_labels=['one'], input_map={'a': 0}, output_map=None))
