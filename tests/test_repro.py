"The reproduction runner and the `interp-nb` command, on toy notebooks."
import json, os, subprocess, sys
from pathlib import Path
import nbformat, pytest
from interp_nb import repro

TOY = '''
from interp_nb.repro import start_run
run = start_run('toy', out_dir, seed=seed, x=x)
if fail: raise ValueError('boom at x=%s' % x)
import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
fig, ax = plt.subplots(); ax.plot([0, x]); run.savefig(fig, 'line.png')
run.finish({'x_squared': x * x, 'label': label})
'''


def _notebook(path, params, body):
    nb = nbformat.v4.new_notebook()
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'python3', 'language': 'python'}
    p = nbformat.v4.new_code_cell(params); p.metadata['tags'] = ['parameters']
    nb.cells = [nbformat.v4.new_markdown_cell('# toy'), p, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


@pytest.fixture
def toys(tmp_path, monkeypatch):
    nbs = tmp_path/'nbs'; nbs.mkdir()
    _notebook(nbs/'90_toy.ipynb', "x = 2  # a number\nfail = False\nlabel = 'a'\nseed = 0\nout_dir = None", TOY)
    _notebook(nbs/'91_nometrics.ipynb', "out_dir = None", "y = 1")
    nbformat.write(nbformat.v4.new_notebook(), nbs/'92_plain.ipynb')  # no parameters cell: not a reproduction
    monkeypatch.setenv('INTERP_NB_NBS', str(nbs))
    return tmp_path


def cli(*args, env=None):
    return subprocess.run([sys.executable, '-c', 'import sys; from interp_nb.repro import main; sys.exit(main())', *args],
                          capture_output=True, text=True, env=env or os.environ.copy())


def test_list_shows_parameters(toys):
    r = cli('list')
    assert r.returncode == 0, r.stderr
    assert 'toy  (90_toy.ipynb)' in r.stdout and 'x = 2    # a number' in r.stdout
    assert 'plain' not in r.stdout and 'out_dir' not in r.stdout


def test_repro_writes_results(toys):
    out = toys/'runs'/'t1'
    r = cli('repro', 'toy', '-p', 'x', '3', '-p', 'label', 'hello world', '--out', str(out), '-q')
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ['90_toy.ipynb', 'line.png', 'metrics.json']
    m = json.loads((out/'metrics.json').read_text())
    assert m['x_squared'] == 9 and m['label'] == 'hello world' and m['params'] == {'seed': 0, 'x': 3}
    assert {'versions', 'seconds', 'runner'} <= set(m)
    assert str(out/'metrics.json') in r.stdout and 'line.png' in r.stdout
    assert not [p for p in out.parent.iterdir() if p.name.startswith('.')]  # no temporary folder left
    again = cli('repro', 'toy', '--out', str(out), '-q')
    assert again.returncode == 2 and 'already exists' in again.stderr


def test_unknown_reproduction_lists_valid(toys):
    r = cli('repro', 'nope')
    assert r.returncode == 2 and "Unknown reproduction 'nope'" in r.stderr and 'toy, nometrics' in r.stderr


def test_unknown_parameter_lists_valid(toys):
    r = cli('repro', 'toy', '-p', 'y', '1', '--out', str(toys/'x'))
    assert r.returncode == 2 and 'Unknown parameter(s) y for toy. Valid: x, fail, label, seed' in r.stderr
    r = cli('repro', 'toy', '-p', 'out_dir', '/tmp/elsewhere')
    assert r.returncode == 2 and 'out_dir' in r.stderr
    assert not (toys/'x').exists()


def test_failed_run_names_cell_and_leaves_no_result(toys):
    out = toys/'runs'/'bad'
    r = cli('repro', 'toy', '-p', 'fail', 'true', '--out', str(out), '-q')
    assert r.returncode == 1
    assert 'failed in cell' in r.stderr and 'ValueError: boom at x=2' in r.stderr
    assert not out.exists() and (out.parent/'bad.failed'/'90_toy.ipynb').exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith('.')]


def test_run_without_metrics_fails(toys):
    with pytest.raises(repro.ReproFailed, match='wrote no metrics.json'):
        repro.run_repro('nometrics', out=toys/'runs'/'nm', progress=False)
    assert not (toys/'runs'/'nm').exists()


def test_parse_value():
    assert [repro.parse_value(v) for v in ['3', '-1.5', 'False', 'none', "['a', 'b']", 'smollm2-135m-instruct']] == \
        [3, -1.5, False, None, ['a', 'b'], 'smollm2-135m-instruct']


def test_missing_notebook_folder(monkeypatch, tmp_path):
    monkeypatch.setenv('INTERP_NB_NBS', str(tmp_path/'absent'))
    with pytest.raises(repro.ReproError, match='No notebooks folder'): repro.reproductions()


def test_models_command_lists_offline_models():
    r = cli('models')
    assert r.returncode == 0 and 'smollm2-135m-instruct' in r.stdout and 'gemma-3-270m' in r.stdout
