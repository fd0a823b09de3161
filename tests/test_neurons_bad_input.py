"Neuron descriptions, issue #27: non-finite activations, too few distinct candidates, ties and duplicate windows, servers that reject n > 1 or live elsewhere, model checks on saved exemplars."
import copy, json, math, warnings
import pytest, torch
from test_neurons import _Server, _ok  # the loopback OpenAI-compatible server
from interp_nb.core import tiny_model
from interp_nb.neurons import (collect_exemplars, Exemplars, ChatExplainer, openai_chat, ExplainerError, TokenStatsExplainer,
                               RelevanceSimulator, describe_neurons, pearson, auc)

torch.set_num_threads(1)


@pytest.fixture(scope='module')
def tiny(): return tiny_model('llama', seed=0)


def _rec(unit=0):
    top = [dict(window=i, tokens=[' The', ' money', ' is', ' here'], acts=[0., 2., 0.1, 0.]) for i in range(4)]
    rnd = [dict(window=10 + i, tokens=[' a', ' cat', ' is', ' here'], acts=[0., 0., 0.1, 0.]) for i in range(4)]
    return dict(model='m', site='blocks.0.mlp.neurons', unit=unit, max=2., mean=0.1, top=top, random=rnd, bottom=[])


def _windows(n_rows=(0, 1, 2, 1, 0, 2, 0, 1, 2, 2, 0, 1, 0), seq_len=12):
    "Windows made of three distinct rows repeated: their activations tie exactly."
    base = torch.randint(0, 256, (3, seq_len), generator=torch.Generator().manual_seed(0))
    return base[torch.tensor(n_rows)].tolist()


# ---- 1. non-finite activations and scores -------------------------------------------------------------------------

def test_collect_rejects_non_finite_activations(tiny):
    model = copy.deepcopy(tiny[0])
    with torch.no_grad(): model.model.layers[0].mlp.up_proj.weight[5] = float('nan')
    wins = _windows()
    with pytest.raises(ValueError, match=r'non-finite activation.*blocks\.0\.mlp\.neurons unit 5.*window 0'):
        collect_exemplars(model, wins, 'blocks.0.mlp.neurons', units=[3, 5], k=2, n_random=2, progress=False)
    ex = collect_exemplars(model, wins, 'blocks.0.mlp.neurons', units=[3, 4], k=2, n_random=2, progress=False)  # finite units still work
    assert torch.isfinite(ex.top_vals).all() and torch.isfinite(ex.mean).all()


def test_pearson_and_auc_reject_non_finite():
    with pytest.raises(ValueError, match=r'non-finite .* in x \('): pearson([1., float('nan'), 3.], [1., 2., 3.])
    with pytest.raises(ValueError, match=r'non-finite .* in y \('): pearson([1., 2., 3.], [1., float('inf'), 3.])
    assert pearson([1, 1, 1], [1, 2, 3]) == 0.0  # a constant simulation keeps scoring 0
    with pytest.raises(ValueError, match=r'NaN value\(s\) in pos'): auc([float('nan'), 1.], [0.])


# ---- 2. distinct candidates ---------------------------------------------------------------------------------------

def test_chat_explainer_counts_distinct_candidates(tiny, tmp_path):
    greedy = lambda messages, n=1: ['This neuron fires on money.'] * n  # a server that ignores n and temperature
    ex = ChatExplainer(greedy)
    with pytest.warns(UserWarning, match=r'1 distinct description of 3'):
        assert ex(_rec(), 3) == ['money']
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert ex(_rec(1), 3) == ['money']  # warned once, not per unit
    model, tok = tiny
    exm = collect_exemplars(model, _windows(), 'blocks.1.mlp.neurons', units=[1, 2], k=4, n_random=2, progress=False)
    with pytest.warns(UserWarning, match='distinct'):
        res = describe_neurons(exm, tok, {'llm': ChatExplainer(greedy), 'base': TokenStatsExplainer()}, RelevanceSimulator(model, tok),
                               tmp_path, n=3, width=8, progress=False)
    assert [r['explanations']['llm']['n_distinct'] for r in res] == [1, 1]
    assert all(1 <= r['explanations']['base']['n_distinct'] <= 3 for r in res)
    assert json.loads((tmp_path/'unit_1.json').read_text())['explanations']['llm']['n_distinct'] == 1


# ---- 3. ties and duplicate windows --------------------------------------------------------------------------------

def test_exemplar_ties_do_not_depend_on_batch_size(tiny):
    model, _ = tiny
    wins = _windows()
    kw = dict(site='blocks.1.mlp.neurons', units=[0, 1, 2, 3], k=5, k_bottom=3, n_random=2, progress=False)
    exs = [collect_exemplars(model, wins, batch_size=bs, **kw) for bs in (1, 3, 8)]
    for e in exs[1:]:
        for key in ('top_win', 'top_vals', 'bot_win', 'bot_vals', 'top_acts'): assert torch.equal(getattr(e, key), getattr(exs[0], key)), key
    e = exs[0]
    for i in range(4):  # within equal values, the lowest window index comes first
        for vals, win in ((e.top_vals[i], e.top_win[i]), (e.bot_vals[i], e.bot_win[i])):
            pairs = list(zip(vals.tolist(), win.tolist()))
            assert all(a[0] != b[0] or a[1] < b[1] for a, b in zip(pairs, pairs[1:])), pairs
    copies = e.top_win[0].tolist()
    assert len(set(tuple(wins[w]) for w in copies)) < len(copies)  # without dedup the top-k holds copies


def test_exemplar_dedup(tiny, tmp_path):
    model, _ = tiny
    wins = _windows()
    kw = dict(site='blocks.1.mlp.neurons', units=[0, 1, 2, 3], k=5, k_bottom=2, n_random=2, progress=False, dedup=True)
    exs = [collect_exemplars(model, wins, batch_size=bs, **kw) for bs in (1, 3, 8)]
    e = exs[0]
    assert e.meta['k'] == 3 and e.meta['dedup'] is True  # only three distinct windows exist
    for i in range(4):
        assert sorted(e.top_win[i].tolist()) == [0, 1, 2]  # first occurrences only
        assert len(set(e.bot_win[i].tolist())) == 2 and set(e.bot_win[i].tolist()) <= {0, 1, 2}
    for x in exs[1:]: assert torch.equal(x.top_win, e.top_win) and torch.equal(x.bot_win, e.bot_win)
    collect_exemplars(model, wins, path=tmp_path, batch_size=3, **kw)
    with pytest.raises(ValueError, match='dedup: saved True, now False'):
        collect_exemplars(model, wins, path=tmp_path, batch_size=3, **{**kw, 'dedup': False})


# ---- 4. OpenAI-compatible servers ---------------------------------------------------------------------------------

def _llama_cpp(status):
    "A server like llama.cpp's: one choice per request only, a different description each time."
    count = [0]
    def reply(path, body):
        if body.get('n', 1) > 1:
            return status, dict(error=dict(code=status, message='Only one completion choice is allowed', type='invalid_request_error'))
        count[0] += 1
        return _ok(f'thing number {count[0]}')
    return reply


@pytest.mark.parametrize('status', [400, 500])
def test_openai_chat_falls_back_to_single_requests(status):
    with _Server(_llama_cpp(status)) as s:
        chat = openai_chat(s.root + '/v1', 'm', retries=1, backoff=0.01, timeout=10)
        assert chat([{'role': 'user', 'content': 'hi'}], 3) == ['thing number 1', 'thing number 2', 'thing number 3']
        assert [b['n'] for b in s.requests] == [3, 1, 1, 1]
        s.requests.clear()
        assert len(chat([{'role': 'user', 'content': 'hi'}], 2)) == 2
        assert [b['n'] for b in s.requests] == [1, 1]  # remembered: no second rejected request


def test_openai_chat_fewer_choices_falls_back_to_single_requests():
    with _Server(lambda path, body: _ok('a')) as s:  # ignores n: always one choice
        out = openai_chat(s.root + '/v1', 'm', retries=1, backoff=0.01, timeout=10)([{'role': 'user', 'content': 'hi'}], 4)
        assert out == ['a'] * 4 and [b['n'] for b in s.requests] == [4, 1, 1, 1]


def test_openai_chat_404_names_url_and_hints_v1():
    def reply(path, body): return (404, dict(error='not found')) if not path.startswith('/v1/') else _ok('x')
    with _Server(reply) as s:
        with pytest.raises(ExplainerError, match=rf"404.*{s.root}/chat/completions.*/v1"):
            openai_chat(s.root, 'm', retries=2, backoff=0.01, timeout=10)([{'role': 'user', 'content': 'hi'}])
        assert len(s.requests) == 1


def test_openai_chat_max_tokens_key():
    with _Server(lambda path, body: _ok('x')) as s:
        msgs = [{'role': 'user', 'content': 'hi'}]
        openai_chat(s.root + '/v1', 'm', max_tokens=7, max_tokens_key='max_completion_tokens', timeout=10)(msgs)
        openai_chat(s.root + '/v1', 'm', max_tokens_key=None, timeout=10)(msgs)
        openai_chat(s.root + '/v1', 'm', max_tokens=9, timeout=10)(msgs)
        a, b, c = s.requests
        assert a['max_completion_tokens'] == 7 and 'max_tokens' not in a
        assert 'max_tokens' not in b and 'max_completion_tokens' not in b
        assert c['max_tokens'] == 9


# ---- 5. saved exemplars know their model --------------------------------------------------------------------------

def test_saved_exemplars_refuse_model_of_other_shape(tiny, tmp_path):
    model, _ = tiny
    wins = _windows()
    kw = dict(site='blocks.0.mlp.neurons', units=[1, 2], k=2, n_random=2, progress=False)
    collect_exemplars(model, wins, path=tmp_path, **kw)
    meta = json.loads((tmp_path/'exemplars.json').read_text())
    assert meta['model'] == 'tiny-llama' and meta['signature']['d_mlp'] == 128
    other, _ = tiny_model('llama', d_mlp=256)  # same name, another shape
    with pytest.raises(ValueError, match=r"another shape than 'tiny-llama'.*d_mlp 128 \(saved\) vs 256"): Exemplars.load(tmp_path, other)
    with pytest.raises(ValueError, match=r"another shape.*d_mlp 128 \(saved\) vs 256"): collect_exemplars(other, wins, path=tmp_path, **kw)
    assert Exemplars.load(tmp_path, model).units == [1, 2]
