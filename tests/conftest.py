import os, shutil
from pathlib import Path
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


CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync']


@pytest.fixture(scope='module')
def browser():
    """Debian's headless Chromium driven by playwright (which downloads no browser), for the docs and JupyterLab tests.
    Module scope, not session: a module's own servers must start before it (JupyterLab started after playwright's
    driver never ran its cells: the "Run All Cells" click had no effect)."""
    if not Path(CHROMIUM).exists(): pytest.fail('chromium is not installed: `make test` installs it (apt-get install chromium)')
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)  # playwright gives it a fresh profile
        yield b
        b.close()
