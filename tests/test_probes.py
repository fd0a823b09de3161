"Probes: bad input, save/load across models, per-template normalisation, caching."
import pytest, torch
from interp_nb.core import tiny_model
from interp_nb.data import to_dataset
from interp_nb.probes import (Template, TEMPLATES, contrast_pairs, hidden_states, contrast_states, train_ccs, train_lr,
                              train_tpc, save_probe, load_probe, Norm, zero_shot, fact_dataset, accuracy, city_facts)


def _facts(labels):
    return to_dataset({'subject': ['Lyon'] * len(labels), 'object': ['France'] * len(labels), 'label': labels})


def test_bad_labels_are_named():
    with pytest.raises(ValueError, match=r"row 1 has None"): contrast_pairs(_facts([1, None]), TEMPLATES['cities'])
    with pytest.raises(ValueError, match=r'row 0 has 0.5'): contrast_pairs(_facts([0.5, 1.0]), TEMPLATES['cities'])
    with pytest.raises(ValueError, match="no 'label' column"): contrast_pairs(to_dataset({'subject': ['a']}), TEMPLATES['cities'])


def test_templates_must_produce_both_answers():
    with pytest.raises(ValueError, match='two different answers'): Template('t', 'Q {subject}? {answer}', answers=('Yes',))
    with pytest.raises(ValueError, match='two different answers'): Template('t', 'Q {subject}? {answer}', answers=('', 'Yes'))
    with pytest.raises(ValueError, match='must end with'): Template('t', 'Q {subject}?')
    with pytest.raises(ValueError, match="needs field 'country'"):
        contrast_pairs(_facts([0, 1]), [Template('t', 'Is {subject} in {country}? {answer}')])


def test_unknown_site_and_empty_input():
    m, t = tiny_model('gpt2')
    with pytest.raises(ValueError, match='Valid sites'): hidden_states(m, t, ['a'], 'blocks.5.resid_post', cache=False)
    with pytest.raises(ValueError, match='no texts'): hidden_states(m, t, [], 'blocks.0.resid_post', cache=False)
    with pytest.raises(ValueError, match='unknown dataset'): fact_dataset('boolq', 10)


def test_states_shape_checks():
    a = torch.randn(10, 8)
    with pytest.raises(ValueError, match='one shape'): train_ccs(a, torch.randn(10, 9))
    with pytest.raises(ValueError, match='3 labels for 10 pairs'): train_lr(a, a + 1, [0, 1, 0])
    with pytest.raises(ValueError, match='labels must be 0 or 1'): train_lr(a, a + 1, [0, 1, 2] + [0] * 7)


def test_cache_is_reused(tmp_path, monkeypatch):
    monkeypatch.setenv('INTERP_NB_CACHE', str(tmp_path))
    m, t = tiny_model('llama')
    h1 = hidden_states(m, t, ['one', 'two three'], 'blocks.1.resid_post')
    files = list((tmp_path/'hidden').glob('*.safetensors'))
    assert len(files) == 1
    assert torch.equal(h1['blocks.1.resid_post'], hidden_states(m, t, ['one', 'two three'], 'blocks.1.resid_post')['blocks.1.resid_post'])
    assert len(list((tmp_path/'hidden').glob('*.safetensors'))) == 1  # the second call was a cache hit
    m.model.layers[1].mlp.down_proj.weight.data.zero_()  # a changed model must not hit the old entry (the key holds the weights)
    h2 = hidden_states(m, t, ['one', 'two three'], 'blocks.1.resid_post')
    assert not torch.equal(h1['blocks.1.resid_post'], h2['blocks.1.resid_post'])
    assert len(list((tmp_path/'hidden').glob('*.safetensors'))) == 2


def _trained(fam='llama', seed=0):
    m, t = tiny_model(fam, seed=seed)
    pairs = contrast_pairs(_facts([0, 1] * 6), TEMPLATES['cities'][:2], test_size=0.3)
    site = 'blocks.1.resid_post'
    hn, hp = contrast_states(m, t, pairs['train'], site, cache=False, progress=False)
    y = torch.tensor(pairs['train']['label'])
    return m, site, pairs, hn[site], hp[site], y


def test_probe_round_trip_and_model_check(tmp_path):
    m, site, pairs, hn, hp, y = _trained()
    g = pairs['train']['template']
    for probe in (train_lr(hn, hp, y, g, model=m, site=site), train_ccs(hn, hp, g, restarts=2, epochs=20, model=m, site=site),
                  train_tpc(hn, hp, g, model=m, site=site)):
        back = load_probe(save_probe(probe, tmp_path/probe.kind), model=m)
        assert torch.equal(back.prob(hn, hp, g), probe.prob(hn, hp, g))
        assert back.meta['model'] == 'tiny-llama' and back.meta['site'] == site
    other, _ = tiny_model('gpt2')
    with pytest.raises(ValueError, match="made on model 'tiny-llama', not on 'tiny-gpt2'"): load_probe(tmp_path/'lr', model=other)
    wide, _ = tiny_model('llama', d_model=96, n_heads=4)
    wide.config.interp_nb_name = 'tiny-llama'
    with pytest.raises(ValueError, match='hidden size 64 but blocks.1.resid_post of this model has 96'): load_probe(tmp_path/'lr', model=wide)
    with pytest.raises(FileNotFoundError): load_probe(tmp_path/'missing')


def test_norm_is_per_template():
    h = torch.randn(4, 3)
    n = Norm.fit(h, h + 1, ['a', 'a', 'b', 'b'])
    x = n(h, 'neg', ['a', 'a', 'b', 'b'])
    torch.testing.assert_close(x[:2].mean(0), torch.zeros(3)); torch.testing.assert_close(x[2:].mean(0), torch.zeros(3))
    with pytest.raises(ValueError, match=r"no normalisation statistics for template\(s\) \['c'\]"): n(h, 'neg', ['c'] * 4)
    with pytest.raises(ValueError, match='2 template names for 4 rows'): n(h, 'neg', ['a', 'b'])


def test_zero_shot_needs_single_token_answers():
    m, t = tiny_model('llama')  # byte tokenizer: ' Yes' is four tokens
    pairs = contrast_pairs(_facts([0, 1, 0, 1]), TEMPLATES['cities'][:1], test_size=0.5)
    with pytest.raises(ValueError, match='answers must be single tokens'): zero_shot(m, t, pairs['test'], progress=False)


def test_city_facts_are_balanced_and_seeded():
    a, b = city_facts(40, seed=3), city_facts(40, seed=3)
    assert a['subject'] == b['subject'] and sum(a['label']) == 20
    wrong = [r for r in a if not r['label']]
    assert all(r['object'] != r['truth'] for r in wrong)
