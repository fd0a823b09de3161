"Neuron descriptions: bad input, resumable collection, save/load, the server explainer against a loopback server, partial results."
import json, math, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import numpy as np, pytest, torch
from interp_nb.core import tiny_model
from interp_nb.sites import capture
from interp_nb.data import fortunes
from css import unscoped_selectors
from interp_nb.neurons import (show_unit, token_windows, collect_exemplars, Exemplars, neuron_record, split_record, crop,
                               TokenStatsExplainer, ChatExplainer, openai_chat, ExplainerError, Simulator, RelevanceSimulator, describe_neurons,
                               load_results, shuffled_control, summarize, html_report, pearson, auc, clean_description)

torch.set_num_threads(2)
TEXTS = ["The cat sat on the mat and looked at the dog.", "Money is the root of all evil, said the preacher.",
         "In 1999 she ran five miles a day, every day.", "A fool and his money are soon parted.",
         "The quick brown fox jumps over the lazy dog!"] * 4


@pytest.fixture(scope='module')
def tiny():
    return tiny_model('llama', seed=0)


@pytest.fixture(scope='module')
def windows(tiny):
    return token_windows(tiny[1], TEXTS, seq_len=16)


# ---- corpus -------------------------------------------------------------------------------------------------------

def test_fortunes_parses_entries(tmp_path):
    f = tmp_path/'quotes'
    f.write_text("First   quote,\n\tindented.\n%\nshort\n%\nSecond quote here, long enough.\n%\n")
    ds = fortunes([f], min_chars=10)
    assert ds['text'] == ["First quote,\nindented.", "Second quote here, long enough."]
    assert ds['source'] == ['quotes', 'quotes']


def test_fortunes_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match='apt-get install fortunes'): fortunes(root=tmp_path/'nope')
    (tmp_path/'empty').write_text('%\n%\n')
    with pytest.raises(ValueError, match='no fortune entries'): fortunes([tmp_path/'empty'])
    with pytest.raises(FileNotFoundError, match='does not exist'): fortunes([tmp_path/'missing'])


def test_real_fortunes_corpus():
    ds = fortunes()
    assert len(ds) > 10_000 and not any(t.strip() == '%' for t in ds['text'][:500])


def test_token_windows(tiny, windows):
    tok = tiny[1]
    assert len(set(map(len, windows['input_ids']))) == 1 and len(windows['input_ids'][0]) == 16
    assert token_windows(tok, TEXTS, 16)['input_ids'] == windows['input_ids']  # seeded
    assert token_windows(tok, TEXTS, 16, max_windows=3).num_rows == 3
    with pytest.raises(ValueError, match='corpus is empty'): token_windows(tok, [], 16)
    with pytest.raises(ValueError, match='fewer than one window'): token_windows(tok, ['hi'], 64)


# ---- exemplars ----------------------------------------------------------------------------------------------------

def test_collection_matches_brute_force(tiny, windows):
    model, tok = tiny
    ids = torch.tensor(windows['input_ids'])
    ex = collect_exemplars(model, windows, 'blocks.1.mlp.neurons', units=[3, 7, 50], k=4, n_random=3, k_bottom=2,
                           batch_size=5, skip_first=1, progress=False)
    acts = capture(model, ids, 'blocks.1.mlp.neurons')['blocks.1.mlp.neurons'][..., [3, 7, 50]].float()  # [N, S, 3]
    mx, mn = acts[:, 1:].amax(1), acts[:, 1:].amin(1)
    for i in range(3):
        torch.testing.assert_close(ex.top_vals[i], mx[:, i].topk(4).values)
        torch.testing.assert_close(ex.bot_vals[i], mn[:, i].topk(2, largest=False).values)
        torch.testing.assert_close(ex.top_acts[i], acts[ex.top_win[i], :, i])
        assert torch.equal(ex.top_ids[i], ids[ex.top_win[i]])
        torch.testing.assert_close(ex.rand_acts[i], acts[ex.rand_win, :, i])
    torch.testing.assert_close(ex.mean, acts[:, 1:].mean((0, 1)).double(), rtol=1e-4, atol=1e-6)


def test_collection_bad_input(tiny, windows):
    model, _ = tiny
    with pytest.raises(IndexError, match=r'neuron 128 is out of range: blocks.0.mlp.neurons has 128 units \(0-127\)'):
        collect_exemplars(model, windows, 'blocks.0.mlp.neurons', units=[1, 128], progress=False)
    with pytest.raises(ValueError, match='corpus is empty'): collect_exemplars(model, [], 'blocks.0.mlp.neurons')
    with pytest.raises(ValueError, match='same length'): collect_exemplars(model, [[1, 2, 3], [1, 2]], 'blocks.0.mlp.neurons')
    with pytest.raises(Exception, match='Unknown site'): collect_exemplars(model, windows, 'blocks.9.mlp.neurons')
    with pytest.raises(ValueError, match='one site at a time'): collect_exemplars(model, windows, 'blocks.*.mlp.neurons')


class _Interrupt(Exception): pass


def test_collection_resumes_after_interruption(tiny, windows, tmp_path):
    model, _ = tiny
    kw = dict(site='blocks.0.mlp.neurons', units=list(range(0, 128, 9)), k=3, n_random=4, k_bottom=1, batch_size=2, checkpoint_every=2,
              progress=False)
    ref = collect_exemplars(model, windows, **kw)
    calls, armed = [], [True]
    def boom(mod, args, kwargs):
        calls.append(1)
        if armed[0] and len(calls) == 6: armed[0] = False; raise _Interrupt
    h = model.register_forward_pre_hook(boom, with_kwargs=True)
    try:
        with pytest.raises(_Interrupt): collect_exemplars(model, windows, path=tmp_path, **kw)
        meta = json.loads((tmp_path/'exemplars.json').read_text())
        assert meta['done'] is False and meta['next'] == 4  # checkpoint after batches 2 and 4; batch 6 was interrupted
        with pytest.raises(ValueError, match='unfinished collection'): Exemplars.load(tmp_path)
        calls.clear()
        ex = collect_exemplars(model, windows, path=tmp_path, **kw)
        assert len(calls) == meta['n_batches'] - 4  # only the batches after the checkpoint ran again
    finally: h.remove()
    for k in ('top_vals', 'top_win', 'top_acts', 'top_ids', 'bot_vals', 'bot_win', 'rand_win', 'rand_acts', 'act_sum'):
        assert torch.equal(getattr(ex, k), getattr(ref, k)), k
    loaded = Exemplars.load(tmp_path, model)
    assert torch.equal(loaded.top_acts, ref.top_acts) and loaded.units == ref.units
    calls.clear()
    h = model.register_forward_pre_hook(boom, with_kwargs=True)
    try: again = collect_exemplars(model, windows, path=tmp_path, **kw)  # finished: loads, runs nothing
    finally: h.remove()
    assert not calls and torch.equal(again.top_win, ref.top_win)
    with pytest.raises(ValueError, match='k: saved 3, now 5'): collect_exemplars(model, windows, path=tmp_path, **{**kw, 'k': 5})
    other, _ = tiny_model('gpt2')
    with pytest.raises(ValueError, match="made on model 'tiny-llama', not on 'tiny-gpt2'"): Exemplars.load(tmp_path, other)


def test_any_site_and_records(tiny, windows):
    model, tok = tiny
    ex = collect_exemplars(model, windows, 'blocks.0.attn.z', units=[0, 63], k=4, n_random=4, progress=False)  # [heads, d_head] flattened
    rec = neuron_record(ex, 63, tok)
    assert len(rec['top']) == 4 and len(rec['top'][0]['tokens']) == 15 == len(rec['top'][0]['acts'])  # skip_first=1
    assert math.isclose(rec['max'], max(rec['top'][0]['acts']), rel_tol=1e-4)
    with pytest.raises(IndexError, match='unit 5 was not collected'): neuron_record(ex, 5, tok)
    a, b = split_record(rec)
    assert {w['window'] for w in a['top']}.isdisjoint(w['window'] for w in b['top'])
    assert {w['window'] for w in a['random']}.isdisjoint(w['window'] for w in b['random'])
    w = dict(tokens=list('abcdefghij'), acts=[0, 0, 0, 0, 0, 0, 0, 9, 0, 0])
    assert crop(w, 4)['tokens'] == list('efgh')  # the peak h, three tokens of context before it


# ---- explainers ---------------------------------------------------------------------------------------------------

def _rec(unit=0, word=' money'):
    top = [dict(window=i, tokens=[' The', word, ' is', ' here'], acts=[0., 2., 0.1, 0.]) for i in range(4)]
    rnd = [dict(window=10 + i, tokens=[' a', ' cat', ' is', ' here'], acts=[0., 0., 0.1, 0.]) for i in range(4)]
    return dict(model='m', site='blocks.0.mlp.neurons', unit=unit, max=2., mean=0.1, top=top, random=rnd, bottom=[])


def test_token_stats_baseline():
    assert TokenStatsExplainer()(_rec(), 2) == ['the token money', 'the token after the']
    r = _rec(word=' &')
    assert TokenStatsExplainer()(r, 1) == ['the token "&"']


def test_clean_description():
    assert clean_description('  This neuron fires on "words about money".\nMore text') == 'words about money'
    assert clean_description('**Answer:** the letter e') == 'the letter e'
    assert clean_description('\n\n') == ''


class _Server:
    """A loopback OpenAI-compatible server. `replies`: canned (status, body) pairs given in turn, the last one repeated, or a
    function `reply(path, body) -> (status, body)`. Request bodies are recorded in `requests`, their paths in `paths`."""
    def __init__(self, replies):
        self.requests, self.paths, srv = [], [], self
        canned = list(replies) if not callable(replies) else None
        answer = replies if canned is None else lambda path, body: canned.pop(0) if len(canned) > 1 else canned[0]
        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
                srv.requests.append(body); srv.paths.append(self.path)
                status, payload = answer(self.path, body)
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status); self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data))); self.end_headers(); self.wfile.write(data)
            def log_message(self, *a): pass
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), H)
        self.root = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = self.root + '/v1'
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
    def __enter__(self): return self
    def __exit__(self, *a): self.httpd.shutdown(); self.httpd.server_close()


def _ok(*texts):
    return 200, dict(id='x', object='chat.completion', created=0, model='m',
                     choices=[dict(index=i, finish_reason='stop', message=dict(role='assistant', content=t)) for i, t in enumerate(texts)])


def test_server_explainer_ok_and_fewer_choices_than_asked():
    with _Server([_ok('This neuron fires on money.'), _ok('coins and cash')]) as s:
        ex = ChatExplainer(openai_chat(s.url, 'test-model', backoff=0.01))
        assert ex(_rec(), 2) == ['money', 'coins and cash']
        assert [r['n'] for r in s.requests] == [2, 1] and s.requests[0]['model'] == 'test-model'
        assert '[[ money]]' in s.requests[0]['messages'][-1]['content']  # the peak token is highlighted


def test_server_explainer_retries_malformed_then_succeeds():
    bad = [(200, 'not json {'), (200, dict(choices=[])), _ok(''), (503, dict(error='overloaded'))]
    with _Server(bad + [_ok('money')]) as s:
        t0 = time.time()
        assert ChatExplainer(openai_chat(s.url, 'm', retries=4, backoff=0.02))(_rec(), 1) == ['money']
        assert len(s.requests) == 5 and time.time() - t0 >= 0.02 * (1 + 2 + 4 + 8)  # exponential backoff


def test_server_explainer_gives_up_with_clear_error():
    with _Server([(200, dict(choices=None))]) as s:
        with pytest.raises(ExplainerError, match=r'failed 3 times; last error: malformed response'):
            openai_chat(s.url, 'm', retries=2, backoff=0.01)([{'role': 'user', 'content': 'hi'}])
        assert len(s.requests) == 3
    with _Server([(404, dict(error=dict(message='model nope does not exist')))]) as s:
        with pytest.raises(ExplainerError, match='refused the request.*404'):
            openai_chat(s.url, 'nope', retries=3, backoff=0.01)([{'role': 'user', 'content': 'hi'}])
        assert len(s.requests) == 1  # a client error is not retried


def test_server_unreachable():
    import socket
    with socket.socket() as sk: sk.bind(('127.0.0.1', 0)); port = sk.getsockname()[1]  # a port nobody listens on
    with pytest.raises(ExplainerError, match=rf'127.0.0.1:{port}/v1 .*failed 2 times; last error: APIConnectionError'):
        openai_chat(f'http://127.0.0.1:{port}/v1', 'm', retries=1, backoff=0.01, timeout=5)([{'role': 'user', 'content': 'hi'}])


# ---- simulator and pipeline ---------------------------------------------------------------------------------------

def test_simulator_reads_digits_at_the_tabs(tiny):
    model, tok = tiny
    sim = Simulator(model, tok, batch_size=3)
    toks = [[' a', ' cat'], [' the', ' dog', '\n', ' sat'], [' x']]
    cached = sim.simulate([('cats', t) for t in toks])
    sim.cache_prefix = False
    plain = sim.simulate([('cats', t) for t in toks])
    for c, p, t in zip(cached, plain, toks):
        assert c.shape == (len(t),) and ((0 <= c) & (c <= 9)).all()
        np.testing.assert_allclose(c, p, atol=1e-4)
    ids, reads = sim.listing(toks[1])  # by hand: full logits at the tab positions, softmax over the digits
    full = torch.tensor([sim.prefix('cats') + ids])
    with torch.no_grad(): logits = model(input_ids=full).logits[0, [len(sim.prefix('cats')) + r for r in reads]][:, sim.digits]
    np.testing.assert_allclose(plain[1], (logits.softmax(-1) @ torch.arange(10.)).numpy(), atol=1e-4)
    with pytest.raises(ValueError, match='no tokens'): sim.simulate([('cats', [])])


def test_relevance_simulator_is_a_log_probability_ratio(tiny):
    model, tok = tiny
    sim = RelevanceSimulator(model, tok, template='About {description}:', neutral='nothing')
    toks = [' a', ' cat', 'cat', ' cat']
    pred = sim.simulate([('cats', toks), ('dogs', toks[:2])])
    assert [p.shape for p in pred] == [(4,), (2,)] and pred[0][1] == pred[0][3]
    lp = lambda text: model(input_ids=tok(text, return_tensors='pt')['input_ids']).logits[0, -1].log_softmax(-1)
    with torch.no_grad(): want = (lp('About cats:') - lp('About nothing:'))[[sim.token_id(t) for t in toks]]
    np.testing.assert_allclose(pred[0], want.numpy(), atol=1e-4)
    assert sim.token_id('cat') != sim.token_id(' cat')
    with pytest.raises(ValueError, match='no tokens'): sim.simulate([('cats', [])])
    with pytest.raises(ValueError, match='description'): RelevanceSimulator(model, tok, template='About it:')
    rec = {'unit': 0, 'top': [dict(tokens=toks, acts=[0., 1., 0., 1.])], 'random': [dict(tokens=[' a'], acts=[0.])]}
    assert set(sim.score(['cats', 'dogs'], rec)[1]) == {'description', 'corr', 'detection'}


def test_scores():
    assert math.isclose(pearson([1, 2, 3], [2, 4, 6.5]), 0.9986, rel_tol=1e-3)
    assert pearson([1, 1, 1], [1, 2, 3]) == 0.0
    with pytest.raises(ValueError, match='equal length'): pearson([1, 2], [1])
    assert auc([3, 4], [1, 2]) == 1.0 and auc([1], [1]) == 0.5


class _Flaky:
    "An explainer that fails from its `fail_at`-th call on, like a server that went away."
    def __init__(self, fail_at=None): self.calls, self.fail_at = 0, fail_at
    def __call__(self, rec, n=1):
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at: raise ExplainerError('server at http://x went away')
        return [f'unit {rec["unit"]} thing {i}' for i in range(n)]


def test_partial_results_are_kept(tiny, windows, tmp_path):
    model, tok = tiny
    ex = collect_exemplars(model, windows, 'blocks.1.mlp.neurons', units=[1, 2, 3, 4], k=4, n_random=4, progress=False)
    sim = Simulator(model, tok, batch_size=8)
    flaky = _Flaky(fail_at=3)
    with pytest.raises(ExplainerError, match=r'went away \(unit 3; 2 unit\(s\) finished, results so far in'):
        describe_neurons(ex, tok, {'base': TokenStatsExplainer(), 'llm': flaky}, sim, tmp_path, n=2, width=8, progress=False)
    done = load_results(tmp_path)
    assert [r['unit'] for r in done] == [1, 2, 3] and set(done[2]['explanations']) == {'base'}  # unit 3's baseline is kept
    good = _Flaky()
    res = describe_neurons(ex, tok, {'base': TokenStatsExplainer(), 'llm': good}, sim, tmp_path, n=2, width=8, progress=False)
    assert good.calls == 2 and [r['unit'] for r in res] == [1, 2, 3, 4]  # only units 3 and 4 were explained again
    e = res[0]['explanations']['llm']
    assert len(e['candidates']) == 2 and e['best'] in [c['description'] for c in e['candidates']] and -1 <= e['test_corr'] <= 1
    ctl = shuffled_control(res, sim, 'llm', width=8)
    assert all(c['from_unit'] != c['unit'] for c in ctl)
    m = summarize(res, ctl)
    assert {'llm_corr_mean', 'base_corr_std', 'shuffled_corr_mean', 'shuffled_detection_median'} <= set(m)
    m2 = summarize(res, {'llm': ctl, 'base': shuffled_control(res, sim, 'base', width=8)})
    assert m2['shuffled_llm_corr_mean'] == m['shuffled_corr_mean'] and 'shuffled_base_detection_std' in m2
    page = html_report(res, tmp_path/'r.html')
    assert (tmp_path/'r.html').read_text() == page and 'src=' not in page and 'http' not in page
    assert page.count("<section") == 4 and 'title="' in page
    assert unscoped_selectors(page, 'nd-view') == [] and unscoped_selectors(show_unit(res[0]).data, 'nd-view') == []


def test_html_escapes_tokens():
    r = {**_rec(), 'explanations': {}}
    r['top'][0]['tokens'][1] = '<script>'
    page = html_report([r])
    assert '<script>' not in page.split('<script>document')[0] and '&lt;script&gt;' in page
