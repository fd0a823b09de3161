"Probes, issue #27: bad input gets a clear error, never a silently wrong number, and nothing saved is lost."
import numpy as np, pytest, torch
import interp_nb.probes as P
from interp_nb.core import tiny_model, save_artifact
from interp_nb.data import to_dataset
from interp_nb.probes import (Template, contrast_pairs, contrast_states, hidden_states, train_ccs, train_lr, train_tpc,
                              random_probe, adapt, orient, accuracy, auroc, save_probe, load_probe)

SITE = 'blocks.1.resid_post'


def _planted(n=60, d=8, seed=0):
    "Contrast states with a planted truth direction, and their labels."
    g = torch.Generator().manual_seed(seed)
    v, y = torch.randn(d, generator=g), torch.arange(n) % 2
    sgn = (2 * y - 1)[:, None].float()
    return torch.randn(n, d, generator=g) - 3 - sgn * v, torch.randn(n, d, generator=g) + 3 + sgn * v, y


# 1. the hidden-state cache must see the weights
def test_cache_key_sees_the_weights(tmp_path, monkeypatch):
    monkeypatch.setenv('INTERP_NB_CACHE', str(tmp_path))
    texts = ['one', 'two three']
    m0, t = tiny_model('llama', seed=0)
    m1, _ = tiny_model('llama', seed=1)
    h0 = hidden_states(m0, t, texts, SITE, progress=False)[SITE]
    h1 = hidden_states(m1, t, texts, SITE, progress=False)[SITE]
    assert torch.equal(h1, hidden_states(m1, t, texts, SITE, cache=False, progress=False)[SITE])
    assert not torch.equal(h0, h1)
    assert torch.equal(h0, hidden_states(m0, t, texts, SITE, progress=False)[SITE])  # still cached for the same weights
    with torch.no_grad(): m0.model.layers[1].mlp.down_proj.weight.mul_(2)  # an in-place edit
    h0b = hidden_states(m0, t, texts, SITE, progress=False)[SITE]
    assert torch.equal(h0b, hidden_states(m0, t, texts, SITE, cache=False, progress=False)[SITE])
    assert not torch.equal(h0, h0b)


# 2. labels of metrics and orient
def test_minus_one_labels_are_refused():
    hn, hp, y = _planted()
    probe = train_lr(hn, hp, y)
    assert accuracy(probe.prob(hn, hp), y) == 1.0
    pm = 2 * y - 1  # {-1, 1}
    with pytest.raises(ValueError, match='labels must be 0 or 1'): orient(probe, hn, hp, pm)
    with pytest.raises(ValueError, match='labels must be 0 or 1'): accuracy(probe.prob(hn, hp), pm)
    with pytest.raises(ValueError, match='labels must be 0 or 1'): auroc(probe.prob(hn, hp), pm)


def test_column_labels_do_not_broadcast():
    hn, hp, y = _planted()
    p = train_lr(hn, hp, y).prob(hn, hp)
    with pytest.raises(ValueError, match=r'labels must be 1-D.*\(60, 1\)'): accuracy(p, y[:, None])
    with pytest.raises(ValueError, match=r'labels must be 1-D'): auroc(p, y[:, None])
    with pytest.raises(ValueError, match='59 labels for 60 scores'): accuracy(p, y[:-1])
    with pytest.raises(ValueError, match='59 labels for 60 pairs'): orient(train_ccs(hn, hp, restarts=1, epochs=2), hn, hp, y[:-1])


def test_label_forms_are_accepted():
    hn, hp, y = _planted()
    probe = train_lr(hn, hp, y)
    p = probe.prob(hn, hp)
    forms = [y, y.tolist(), y.numpy(), y.bool(), y.numpy().astype(bool), [bool(v) for v in y], y.float(), y.bfloat16(), y.numpy().astype(np.int8)]
    for f in forms:
        assert accuracy(p, f) == 1.0 and auroc(p, f) == 1.0
        assert torch.equal(orient(probe, hn, hp, f).w, probe.w)
        assert torch.equal(train_lr(hn, hp, f).w, probe.w)


# 3. non-finite states and losses
def test_nan_states_are_refused():
    hn, hp, y = _planted()
    bad = hn.clone(); bad[3, 2] = float('nan')
    for fit in (lambda a, b: train_ccs(a, b, restarts=1, epochs=2), lambda a, b: train_lr(a, b, y), train_tpc, random_probe):
        with pytest.raises(ValueError, match=r'h_neg has non-finite values \(NaN or inf\) in 1 row'): fit(bad, hp)
        with pytest.raises(ValueError, match=r'h_pos has non-finite'): fit(hp, bad.clone().fill_(float('inf')))
    probe = train_lr(hn, hp, y)
    with pytest.raises(ValueError, match='h_neg has non-finite'): adapt(probe, bad, hp)


def test_non_finite_loss_is_refused(monkeypatch):
    hn, hp, _ = _planted()
    monkeypatch.setattr(P, 'ccs_loss', lambda pn, pp: torch.full(pn.shape[:-1], float('nan')) + 0 * pn.sum(-1))
    with pytest.raises(ValueError, match='CCS loss became non-finite'): train_ccs(hn, hp, restarts=2, epochs=3)


def test_non_finite_lr_fit_is_refused():
    hn, hp, y = _planted()
    with pytest.raises(ValueError, match='non-finite'): train_lr(hn, hp, y, l2=float('nan'))


# 4. TPC is an exact, deterministic principal component
def test_tpc_is_exact_and_deterministic():
    g = torch.Generator().manual_seed(0)
    hn = torch.randn(80, 16, generator=g)
    hp = hn + torch.randn(80, 16, generator=g) * torch.linspace(0.2, 2, 16)
    x = (hp - hp.mean(0)) - (hn - hn.mean(0))
    xc = (x - x.mean(0)).double().numpy()
    top = np.linalg.svd(xc, full_matrices=False)[2][0]
    ws = []
    for seed in range(5):
        torch.manual_seed(seed)
        state = torch.get_rng_state()
        ws.append(train_tpc(hn, hp).w)
        assert torch.equal(torch.get_rng_state(), state)  # the global RNG is not touched
    assert all(torch.equal(w, ws[0]) for w in ws)
    cos = abs(float(ws[0].double() @ torch.from_numpy(top))) / float(ws[0].double().norm())
    assert cos > 1 - 1e-5


# 5. a probe refuses a same-name model of another shape
def test_probe_refuses_other_layer_count(tmp_path):
    hn, hp, y = _planted(d=64)
    m, _ = tiny_model('llama')
    deep, _ = tiny_model('llama', n_layers=3)
    assert deep.config.interp_nb_name == m.config.interp_nb_name
    trained = train_lr(hn, hp, y, model=m, site=SITE)  # the model is known from training
    bare = train_lr(hn, hp, y, site=SITE)  # ... or given when saving
    for probe, path, kw in ((trained, tmp_path/'a', {}), (bare, tmp_path/'b', dict(model=m))):
        save_probe(probe, path, **kw)
        assert load_probe(path, model=m).meta['signature']['n_layers'] == 2
        with pytest.raises(ValueError, match=r'n_layers 2 \(saved\) vs 3'): load_probe(path, model=deep)
    shallow, _ = tiny_model('llama', n_layers=1)  # the probe's site does not exist there: the shape is named, not the site
    with pytest.raises(ValueError, match=r'n_layers 2 \(saved\) vs 1'): load_probe(tmp_path/'a', model=shallow)


def test_old_probe_files_without_signature_still_load(tmp_path):
    hn, hp, y = _planted(d=64)
    probe = train_lr(hn, hp, y, ['a/b', 'c'] * 30)
    t = {'w': probe.w, 'b': probe.b.reshape(1)}
    for g, st in probe.norm.stats.items(): t.update({f'norm/{g}/{k}': v for k, v in st.items()})
    save_artifact(tmp_path, 'probe', t, dict(kind='lr', diff=True, model='tiny-llama', site=SITE, d=64))  # the old layout
    m, _ = tiny_model('llama', n_layers=3)
    back = load_probe(tmp_path, model=m)
    assert torch.equal(back.prob(hn, hp, ['a/b', 'c'] * 30), probe.prob(hn, hp, ['a/b', 'c'] * 30))


# 6. clear label errors
@pytest.mark.parametrize('labels,err,msg', [
    ([0, 1] * 29 + [1, None], ValueError, r'labels must be 0 or 1.*row 59 has None'),
    (None, TypeError, r'labels must be .*0/1.*got NoneType'),
    ('01' * 30, TypeError, r'labels must be .*0/1.*got str'),
    (['yes', 'no'] * 30, ValueError, r"labels must be 0 or 1.*row 0 has 'yes'"),
    (torch.zeros(60, 1), ValueError, r'labels must be 1-D.*\(60, 1\)'),
    ([[0], [1]] * 30, ValueError, r'labels must be 1-D.*\(60, 1\)'),
    ([0, 1] * 29 + [1, float('nan')], ValueError, r'labels must be 0 or 1.*row 59 has nan'),
    (torch.tensor([0., 1.] * 29 + [1., float('nan')]), ValueError, r'labels must be 0 or 1.*row 59 has nan'),
    ([0, 1] * 29 + [1, [0]], (TypeError, ValueError), r'labels'),
    (3, TypeError, r'labels must be .*got int'),
])
def test_label_errors_name_labels(labels, err, msg):
    hn, hp, y = _planted()
    with pytest.raises(err, match=msg): train_lr(hn, hp, labels)
    p = train_lr(hn, hp, y).prob(hn, hp)
    with pytest.raises(err, match=msg): accuracy(p, labels)
    with pytest.raises(err, match=msg): auroc(p, labels)


def test_one_class_labels_still_refused_for_lr():
    hn, hp, _ = _planted()
    with pytest.raises(ValueError, match='all one class'): train_lr(hn, hp, [1] * 60)


# 7. CCS needs at least one epoch and one restart
@pytest.mark.parametrize('kw,msg', [(dict(epochs=0), 'epochs must be an integer >= 1, got 0'),
                                    (dict(restarts=0), 'restarts must be an integer >= 1, got 0'),
                                    (dict(restarts=-2), 'restarts must be an integer >= 1, got -2'),
                                    (dict(epochs=2.5), 'epochs must be an integer >= 1, got 2.5')])
def test_ccs_needs_an_epoch_and_a_restart(kw, msg):
    hn, hp, _ = _planted()
    with pytest.raises(ValueError, match=msg): train_ccs(hn, hp, **kw)


# 8. template names with '/' survive a save and a load
def test_template_names_with_slash_round_trip(tmp_path):
    hn, hp, y = _planted()
    groups = ['qa/short', 'qa/long/v2', 'plain'] * 20
    for probe in (train_lr(hn, hp, y, groups, scale=True), train_ccs(hn, hp, groups, restarts=1, epochs=3)):
        back = load_probe(save_probe(probe, tmp_path/probe.kind))
        assert sorted(back.norm.stats) == sorted(probe.norm.stats)
        assert torch.equal(back.prob(hn, hp, groups), probe.prob(hn, hp, groups))


def test_template_names_with_slash_from_real_pairs(tmp_path):
    m, t = tiny_model('llama')
    facts = to_dataset({'subject': ['Lyon', 'Oslo'] * 4, 'object': ['France', 'Peru'] * 4, 'label': [1, 0] * 4})
    pairs = contrast_pairs(facts, [Template('a/b', 'Is {subject} in {object}? {answer}'), Template('c', '{subject}, {object}? {answer}')])
    tr = pairs['train']
    hn, hp = contrast_states(m, t, tr, SITE, cache=False, progress=False)
    probe = train_lr(hn[SITE], hp[SITE], tr['label'], tr['template'], model=m, site=SITE)
    back = load_probe(save_probe(probe, tmp_path), model=m)
    assert torch.equal(back.prob(hn[SITE], hp[SITE], tr['template']), probe.prob(hn[SITE], hp[SITE], tr['template']))
