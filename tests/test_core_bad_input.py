"Bad input for the core (models, artifacts, model inputs): a clear error naming the problem, never a silently wrong result."
import json, os, stat
from pathlib import Path
import pytest, torch
from interp_nb.core import (tiny_model, load_model, save_artifact, load_artifact, model_name, model_signature,
                            model_fingerprint, check_model, atomic_write)
from interp_nb.sites import model_inputs, run


def _saved_tiny(tmp_path, family='llama'):
    m, tok = tiny_model(family)
    d = tmp_path/'model'
    m.save_pretrained(d); tok.save_pretrained(d)
    return m, d


def _weights(d): return next(Path(d).glob('*.safetensors'))


def test_overwritten_weight_bytes_are_refused(tmp_path):
    "Bytes of a weights file overwritten with 0xFF (the header intact) hold NaN: the load refuses instead of running a broken model."
    m, d = _saved_tiny(tmp_path)
    f = _weights(d); data = bytearray(f.read_bytes())
    data[-4000:-2000] = b'\xff' * 2000
    f.write_bytes(bytes(data))
    with pytest.raises(ValueError, match='NaN or infinity'): load_model(d)


def test_truncated_weights_name_the_folder(tmp_path):
    m, d = _saved_tiny(tmp_path)
    f = _weights(d); f.write_bytes(f.read_bytes()[:1000])
    with pytest.raises(ValueError, match='corrupt or truncated') as e: load_model(d)
    assert str(d) in str(e.value)


def test_model_name_drops_a_trailing_slash(tmp_path):
    m, d = _saved_tiny(tmp_path)
    a, _ = load_model(str(d)); b, _ = load_model(str(d) + '/')
    assert model_name(a) == model_name(b) == str(d)


def test_artifact_refuses_same_name_other_shape(tmp_path):
    m2 = tiny_model('llama', n_layers=2)[0]
    save_artifact(tmp_path, 'probe', {'w': torch.zeros(3)}, {}, model=m2)
    load_artifact(tmp_path, 'probe', tiny_model('llama', n_layers=2, seed=5)[0])  # same shape, other weights: fits
    with pytest.raises(ValueError, match='n_layers 2 \\(saved\\) vs 3'): load_artifact(tmp_path, 'probe', tiny_model('llama', n_layers=3)[0])
    with pytest.raises(ValueError, match='n_heads 4 \\(saved\\) vs 8'): load_artifact(tmp_path, 'probe', tiny_model('llama', n_heads=8, n_kv_heads=8)[0])


def test_artifact_name_saved_with_trailing_slash_still_matches(tmp_path):
    m = tiny_model('llama')[0]
    save_artifact(tmp_path, 'probe', {'w': torch.zeros(3)}, {'model': 'some/folder/'})
    m.config.interp_nb_name = 'some/folder'
    load_artifact(tmp_path, 'probe', m)


def test_corrupt_artifact_names_the_file(tmp_path):
    save_artifact(tmp_path, 'probe', {'w': torch.zeros(3)}, {})
    f = tmp_path/'probe.safetensors'
    f.write_bytes(f.read_bytes()[:30])
    with pytest.raises(ValueError, match='corrupt or truncated') as e: load_artifact(tmp_path, 'probe')
    assert 'probe.safetensors' in str(e.value)


def test_fingerprint_sees_seed_and_in_place_edits():
    a, b = tiny_model('gpt2', seed=0)[0], tiny_model('gpt2', seed=1)[0]
    fa = model_fingerprint(a)
    assert fa != model_fingerprint(b) and fa == model_fingerprint(tiny_model('gpt2', seed=0)[0])
    with torch.no_grad(): a.transformer.h[0].mlp.c_fc.weight[7, 3] += 1e-4
    assert model_fingerprint(a) != fa


def test_signature_of_every_family():
    for fam in ('gpt2', 'llama', 'gemma3'):
        s = model_signature(tiny_model(fam)[0])
        assert (s['n_layers'], s['d_model'], s['n_heads'], s['vocab_size']) == (2, 64, 4, 264), (fam, s)


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try: f = atomic_write(tmp_path/'x.json', '{}')
    finally: os.umask(old)
    assert stat.S_IMODE(f.stat().st_mode) == 0o644


@pytest.mark.parametrize('family', ['gpt2', 'llama'])
def test_model_inputs_refuse_empty_and_too_long(family):
    m, tok = tiny_model(family, max_len=16)
    with pytest.raises(ValueError, match='no rows'): model_inputs(m, torch.zeros(0, 5, dtype=torch.long))
    with pytest.raises(ValueError, match='no tokens'): model_inputs(m, torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match='17 positions.*16'): run(m, torch.zeros(1, 17, dtype=torch.long))
    run(m, torch.zeros(1, 16, dtype=torch.long))  # exactly the context fits


def test_signature_of_a_plain_torch_module():
    "A model without a transformers config (a toy MLP) still has a signature, so artifacts made on it can be checked."
    import torch
    from interp_nb.core import model_signature, check_model
    a, b = torch.nn.Sequential(torch.nn.Linear(4, 8)), torch.nn.Sequential(torch.nn.Linear(4, 16))
    assert model_signature(a) == dict(model_type='Sequential', n_params=40)
    check_model(dict(model='Sequential', signature=model_signature(a)), a)
    with pytest.raises(ValueError, match='n_params 40 \\(saved\\) vs 80'): check_model(dict(signature=model_signature(a)), b)
