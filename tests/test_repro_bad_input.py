"The reproduction runner under bad input and rough handling: concurrent runs, signals, stale folders, foreign kernels, bad parameters, permissions."
import json, os, signal, socket, subprocess, sys, time
from pathlib import Path
import nbformat, pytest
from interp_nb import repro

from test_repro import _notebook, cli

SLOW = '''
import json, sys, time
from pathlib import Path
from interp_nb.repro import start_run
run = start_run('slow', out_dir, seed=0, wait=wait)
if other: Path(other).mkdir(parents=True); (Path(other)/'theirs.txt').write_text('the other run')
Path(out_dir, 'started').write_text('yes')
time.sleep(wait)
run.finish({'python': sys.executable, 'waited': wait})
'''


@pytest.fixture
def slow(tmp_path, monkeypatch):
    nbs = tmp_path/'nbs'; nbs.mkdir()
    _notebook(nbs/'90_slow.ipynb', "wait = 0.0  # seconds\nn = 3\nrate = 0.5\nsizes = [1, 2]\nflag = False\nname = 'a'\nother = ''\nout_dir = None",
              SLOW)
    monkeypatch.setenv('INTERP_NB_NBS', str(nbs))
    return tmp_path


def _partials(folder: Path) -> list[Path]: return [p for p in folder.iterdir() if '.partial-' in p.name] if folder.exists() else []


def test_run_into_an_out_written_meanwhile_keeps_both(slow):
    "A second run that finishes into the same `--out` refuses to replace the first one's results and says where its own went."
    out = slow/'runs'/'same'
    r = cli('repro', 'slow', '-p', 'other', str(out), '--out', str(out), '-q')
    assert r.returncode == 2, r.stderr
    assert 'written by another run' in r.stderr and 'nothing was overwritten' in r.stderr
    assert (out/'theirs.txt').read_text() == 'the other run'  # the other run's results are intact
    kept = [p for p in out.parent.iterdir() if p.name.startswith('same.') and (p/'metrics.json').exists()]
    assert len(kept) == 1 and str(kept[0]) in r.stderr
    assert not _partials(out.parent)


def test_sigterm_leaves_no_partial_folder(slow):
    out = slow/'runs'/'term'
    p = subprocess.Popen([sys.executable, '-c', 'import sys; from interp_nb.repro import main; sys.exit(main())',
                          'repro', 'slow', '-p', 'wait', '120', '--out', str(out), '-q'], stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):  # wait (at most 60 s) until the notebook is running
            if any((d/'started').exists() for d in _partials(out.parent)): break
            time.sleep(0.1)
        else: pytest.fail('the run never started')
        p.send_signal(signal.SIGTERM)
        err = p.communicate(timeout=60)[1]
    finally: p.kill()
    assert p.returncode == 130 and 'stopped by SIGTERM; the unfinished run was removed' in err and 'repro.py' not in err  # no traceback of ours (the dying kernel may log its own)
    assert not out.exists() and not _partials(out.parent)


def test_stale_partial_of_a_dead_run_is_cleared(slow):
    out = slow/'runs'/'stale'; out.parent.mkdir(parents=True)
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True).stdout.strip()
    host = socket.gethostname()
    gone = out.parent/f'.stale.partial-{host}-{dead}-abcd'; gone.mkdir()
    alive = out.parent/f'.stale.partial-{host}-{os.getpid()}-efgh'; alive.mkdir()
    elsewhere = out.parent/f'.stale.partial-otherhost-{dead}-ijkl'; elsewhere.mkdir()
    r = cli('repro', 'slow', '--out', str(out), '-q')
    assert r.returncode == 0, r.stderr
    assert not gone.exists() and alive.exists() and elsewhere.exists()  # only a dead process on this host is known to be gone


def test_foreign_python3_kernelspec_is_not_used(slow):
    "A kernelspec named python3 that points elsewhere (here: nowhere) does not break the run: the kernel is this environment's Python."
    spec = slow/'jupyter'/'kernels'/'python3'; spec.mkdir(parents=True)
    (spec/'kernel.json').write_text(json.dumps(dict(argv=['/nonexistent/python', '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
                                                    display_name='Foreign', language='python')))
    env = {**os.environ, 'JUPYTER_PATH': str(slow/'jupyter'), 'JUPYTER_DATA_DIR': str(slow/'jupyter')}
    out = slow/'runs'/'kernel'
    r = cli('repro', 'slow', '--out', str(out), '-q', env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads((out/'metrics.json').read_text())['python'] == sys.executable


@pytest.mark.parametrize('key,value,message', [
    ('n', 'abc', "Parameter n of slow must be an integer; got 'abc' (default: 3)"),
    ('n', '2.5', 'must be an integer'),
    ('n', '-5', 'takes no negative value'),
    ('rate', 'fast', 'must be a number'),
    ('flag', 'maybe', 'must be True or False'),
    ('sizes', '3', 'must be a list'),
    ('sizes', "['a']", 'must be a list of ints'),
    ('sizes', '[1, -2]', 'takes no negative value'),
])
def test_bad_parameter_named_before_any_kernel(slow, key, value, message):
    out = slow/'runs'/'bad'
    t0 = time.time()
    r = cli('repro', 'slow', '-p', key, value, '--out', str(out), '-q')
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert 'Traceback' not in r.stderr and not out.parent.exists()  # refused before a folder or a kernel


def test_good_parameters_parse_to_their_types():
    spec = lambda d: dict(default=d, type=repro._default_type(dict(default=d)), help='')
    assert repro._checked('t', 'n', '4', spec('3')) == 4
    assert repro._checked('t', 'rate', '1', spec('0.5')) == 1
    assert repro._checked('t', 'name', '123', spec("'a'")) == '123'  # a string parameter keeps the text
    assert repro._checked('t', 'sizes', '(4, 5)', spec('[1, 2]')) == [4, 5]
    assert repro._checked('t', 'x', 'anything', spec('None')) == 'anything'  # no default type: anything goes
    assert repro._checked('t', 'shift', '-1', spec('-3')) == -1  # negative defaults allow negatives


def test_results_follow_the_umask(slow):
    out = slow/'runs'/'perm'
    r = subprocess.run([sys.executable, '-c', 'import os, sys; os.umask(0o022); from interp_nb.repro import main; sys.exit(main())',
                        'repro', 'slow', '--out', str(out), '-q'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (out.stat().st_mode & 0o777) == 0o755
    for f in out.iterdir(): assert (f.stat().st_mode & 0o777) == 0o644, f
