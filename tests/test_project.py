"Project checks: notebooks are clean, the package is exported from them, every notebook runs, README is in step."
import hashlib, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NOTEBOOKS = sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))


def _snapshot():
    files = [*(ROOT/'nbs').rglob('*.ipynb'), *(ROOT/'interp_nb').rglob('*.py'), ROOT/'README.md']
    return {str(p.relative_to(ROOT)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in files if '.ipynb_checkpoints' not in p.parts and '__pycache__' not in p.parts}


def _no_change(cmd):
    before = _snapshot()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    after = _snapshot()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"{' '.join(map(str, cmd))} changed {changed}: run `make export` and commit"


def test_nbdev_clean_gives_no_diff(): _no_change([BIN/'nbdev_clean'])


def test_nbdev_export_gives_no_diff(): _no_change([BIN/'nbdev_export'])


def test_readme_is_generated_from_index(): _no_change([sys.executable, 'tools/make_readme.py'])


@pytest.mark.parametrize('nb', NOTEBOOKS)
def test_notebook_runs(nb):
    r = subprocess.run([BIN/'nbdev_test', '--path', f'nbs/{nb}', '--do_print'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, (r.stdout + r.stderr)[-6000:]


@pytest.mark.parametrize('nb', NOTEBOOKS)
def test_stored_outputs_stay_small(nb):
    "Outputs are committed where they teach; no widget state, no huge outputs."
    import json
    book = json.loads((ROOT/'nbs'/nb).read_text())
    assert 'widgets' not in book['metadata'], 'widget state in notebook metadata: run tools/run_nb.py, which strips it'
    size = (ROOT/'nbs'/nb).stat().st_size
    assert size < 400_000, f"{nb} is {size/1e3:.0f} kB"


@pytest.mark.parametrize('nb', NOTEBOOKS)
def test_stored_outputs_are_quiet(nb):
    "What the docs show of a run: no stderr, no frozen progress bars, no local paths, no `np.float64(...)` reprs."
    import json, re
    book = json.loads((ROOT/'nbs'/nb).read_text())
    problems = []
    for i, c in enumerate(book['cells']):
        for o in c.get('outputs', []):
            text = json.dumps(o)
            if o.get('name') == 'stderr': problems.append(f'cell {i}: stderr output')
            if re.search(r'\d+%\|', text) or re.search(r'\?(it|ba|examples)/s', text): problems.append(f'cell {i}: a progress bar')
            if re.search(r'(?<![\w$])(/tmp/|/root/|/home/\w+/|\.venv/)', text): problems.append(f'cell {i}: a local path')
            if re.search(r'np\.float(32|64)\(', text): problems.append(f'cell {i}: a numpy scalar repr')
    assert not problems, f"{nb}: {problems[:8]} (tools/run_nb.py --no-exec {nb} quietens stored outputs)"
