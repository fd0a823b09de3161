import os
os.environ.setdefault('HF_HUB_OFFLINE', '1')  # a hub name must fail fast, not retry for half a minute
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
import pytest, torch
from interp_nb.core import tiny_model, TINY_FAMILIES


@pytest.fixture(params=TINY_FAMILIES)
def tiny(request):
    "A tiny model and tokenizer of each supported family."
    return tiny_model(request.param)


@pytest.fixture(scope='session')
def smol():
    "The real SmolLM2-135M-Instruct (materialised by the set-up; loads in seconds)."
    from interp_nb.core import load_model
    return load_model('smollm2-135m-instruct')
