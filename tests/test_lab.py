"""Interactive use, tested as a person would use it: JupyterLab started on loopback, a notebook opened in headless
Chromium, its cells run from the Run menu, and the library's ipywidgets browsers (`interp_nb.tds.browse`, an
IntSlider; `interp_nb.neurons.browse`, a Dropdown) rendered and driven. Moving the slider or picking another unit
must change what is shown, which needs the widget frontend (jupyterlab_widgets) and a live kernel round trip."""
import json, os, secrets, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
JUPYTER = Path(sys.executable).parent/'jupyter'
DONE = 'ALL CELLS RAN'

# The smallest real inputs: two tiny random Llamas as base and "aligned" model (token_shift on two short
# generations) and the MLP neurons of the first block over a few windows; the whole notebook runs in seconds.
CELLS = [
    "from interp_nb.core import tiny_model\nfrom interp_nb import tds, neurons",
    "base, tok = tiny_model('llama', seed=0)\naligned, _ = tiny_model('llama', seed=1)\n"
    "queries = ['first query', 'second query']\n"
    "recs = tds.generate(aligned, tok, queries, max_new_tokens=6, chat=False, progress=False)\n"
    "ts = tds.token_shift(base, aligned, tok, recs, progress=False)\n"
    "tds.browse(ts, queries)",
    "windows = neurons.token_windows(tok, ['the cat sat on the mat. ' * 8, 'a dog ran in the park. ' * 8], seq_len=12)\n"
    "ex = neurons.collect_exemplars(base, windows, site='blocks.0.mlp.neurons', units=[0, 1], k=2, n_random=2, progress=False)\n"
    "neurons.browse([neurons.neuron_record(ex, u, tok) for u in (0, 1)])",
    f"print({DONE!r})",  # Run All stops at the first error: this line shows every cell before it ran cleanly
]


def _notebook(path):
    cells = [dict(cell_type='code', id=f'c{i}', metadata={}, execution_count=None, outputs=[], source=s) for i, s in enumerate(CELLS)]
    meta = dict(kernelspec=dict(name='python3', display_name='Python 3 (ipykernel)', language='python'))
    path.write_text(json.dumps(dict(cells=cells, metadata=meta, nbformat=4, nbformat_minor=5), indent=1))


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def _ours(marker):
    "Pids of processes whose command line names `marker` (our temporary folder): the server and the kernels it started."
    pids = []
    for p in Path('/proc').iterdir():
        try:
            if p.name.isdigit() and marker in (p/'cmdline').read_bytes().decode(errors='replace'): pids.append(int(p.name))
        except OSError: pass
    return pids


def _stop(proc, marker):
    "Stop the server's process group, then any kernel it left (kernels run in sessions of their own)."
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        if proc.poll() is None:
            try: os.killpg(proc.pid, sig)
            except ProcessLookupError: pass
            try: proc.wait(wait)
            except subprocess.TimeoutExpired: pass
    for pid in _ours(marker):
        try: os.kill(pid, signal.SIGKILL)
        except ProcessLookupError: pass


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('lab')
    (tmp/'nbs').mkdir()
    _notebook(tmp/'nbs'/'browse.ipynb')
    port, token = _free_port(), secrets.token_hex(16)
    # Runtime (kernel connection files), settings and workspaces in our folder: the kernels' command lines then
    # name it (so teardown finds them), and no saved layout from a person's own JupyterLab leaks in.
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'TOKENIZERS_PARALLELISM': 'false', 'PYTHONWARNINGS': 'ignore',
           'JUPYTER_RUNTIME_DIR': str(tmp/'runtime'), 'JUPYTERLAB_SETTINGS_DIR': str(tmp/'settings'),
           'JUPYTERLAB_WORKSPACES_DIR': str(tmp/'workspaces')}
    log = open(tmp/'server.log', 'w')
    proc = subprocess.Popen([str(JUPYTER), 'lab', '--no-browser', '--allow-root', '--ip', '127.0.0.1', '--port', str(port),
                             '--ServerApp.port_retries=0', f'--ServerApp.token={token}', '--notebook-dir', str(tmp/'nbs')],
                            cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f'http://127.0.0.1:{port}'
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None: pytest.fail(f'jupyter lab exited ({proc.returncode}):\n{(tmp/"server.log").read_text()[-3000:]}')
            try:
                with urllib.request.urlopen(f'{base}/api/status?token={token}', timeout=5) as r:
                    if r.status == 200: break
            except OSError: pass
            if time.monotonic() > deadline: pytest.fail(f'jupyter lab not ready in 90 s:\n{(tmp/"server.log").read_text()[-3000:]}')
            time.sleep(0.5)
        yield base, token, tmp
    finally:
        _stop(proc, str(tmp))
        log.close()


@pytest.fixture(scope='module')
def page(lab, browser):
    pg = browser.new_page(viewport={'width': 1400, 'height': 1000})
    pg.errors = []
    pg.on('pageerror', lambda e: pg.errors.append(str(e)))
    yield pg
    pg.close()


def _text_changes(page, selector, before, timeout=30):
    "Wait (bounded) until the text of `selector` differs from `before`; returns the new text."
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = page.inner_text(selector)
        if now != before: return now
        page.wait_for_timeout(250)
    return before


def test_widget_browsers_render_and_respond(lab, page):
    base, token, tmp = lab
    page.goto(f'{base}/lab/tree/browse.ipynb?token={token}', wait_until='domcontentloaded')
    page.wait_for_selector('.jp-Notebook .jp-Cell', timeout=60_000)
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=60_000)  # kernel started
    # Run > Run All Cells, from the menu as a person would
    page.click('.lm-MenuBar-item:has-text("Run")')
    page.click('.lm-Menu-item:has-text("Run All Cells")')
    try: page.wait_for_selector(f'.jp-OutputArea-output:has-text("{DONE}")', timeout=90_000)
    finally: page.screenshot(path=str(tmp/'lab.png'))
    text = page.inner_text('.jp-Notebook')
    stderr = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
    assert 'Traceback' not in text and not any('Error' in e for e in stderr), f'kernel error in the notebook:\n{text[-3000:]}'
    assert 'Error displaying widget' not in text and 'Loading widget' not in text, 'the widget frontend is missing'

    # tds.browse: an IntSlider over the examples; the shown example carries its query.
    slider = page.locator('.widget-slider')
    assert slider.count() == 1, 'the tds browser shows one example slider'
    shown = '.widget-vbox >> nth=0 >> .widget-html-content'
    first = page.inner_text(shown)
    assert 'first query' in first and 'second query' not in first
    page.locator('.widget-slider .noUi-handle').first.focus()
    page.keyboard.press('ArrowRight')  # one slider step: example 0 -> 1
    second = _text_changes(page, shown, first)
    assert second != first and 'second query' in second, f'the slider did not change the example: {second[:200]!r}'
    assert page.inner_text('.widget-slider .widget-readout').strip() == '1'

    # neurons.browse: a Dropdown over the units; picking another unit shows its heading.
    unit_view = '.widget-vbox >> nth=1 >> .widget-html-content'
    before = page.inner_text(unit_view)
    assert 'unit 0' in before
    page.locator('.widget-dropdown select').select_option(index=1)
    after = _text_changes(page, unit_view, before)
    assert 'unit 1' in after and after != before, 'the unit dropdown did not change the view'
    page.screenshot(path=str(tmp/'lab_after.png'))
    assert not page.errors, f'page errors: {page.errors}'
