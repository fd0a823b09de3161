"""Execute notebooks in place so that their stored outputs (plots of the smoke runs, which the docs show) are fresh,
then quieten and clean them. Usage: python tools/run_nb.py [--no-exec] nbs/04_patching.ipynb [...]
`--no-exec` only quietens the outputs already stored (drops stderr and progress bars, shortens local paths)."""
import json, os, re, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault('TQDM_DISABLE', '1')  # progress bars do not belong in stored outputs
PROGRESS = re.compile(r'\d+%\|.*\|| \d+/\d+ \[\d|\? ?(it|ba|examples)/s')
LOCAL = [(re.compile(re.escape(os.path.realpath(tempfile.gettempdir())) + r'/'), '$TMPDIR/'),
         (re.compile(r'(?<![\w$])/tmp/'), '$TMPDIR/'), (re.compile(re.escape(str(Path.home())) + r'/'), '~/')]


def _text(x) -> str: return ''.join(x) if isinstance(x, list) else x


def _is_noise(o: dict) -> bool:
    "stderr (warnings, progress bars) and progress-bar widgets: what a reader of the stored notebook or the docs should not see."
    if o.get('output_type') == 'stream' and o.get('name') == 'stderr': return True
    d = o.get('data', {})
    return 'application/vnd.jupyter.widget-view+json' in d and bool(PROGRESS.search(_text(d.get('text/plain', ''))))


def _local(s: str) -> str:
    for pat, rep in LOCAL: s = pat.sub(rep, s)
    return s


def quiet(book: dict) -> dict:
    "`book` with noisy outputs dropped and local paths in the rest written as `~` and `$TMPDIR`."
    for c in book['cells']:
        if c['cell_type'] != 'code': continue
        outs = [o for o in c.get('outputs', []) if not _is_noise(o)]
        for o in outs:
            if 'text' in o: o['text'] = _local(_text(o['text'])).splitlines(True)
            for k in ('text/plain', 'text/html', 'text/markdown'):
                if k in o.get('data', {}): o['data'][k] = _local(_text(o['data'][k])).splitlines(True)
        c['outputs'] = outs
    book['metadata'].pop('widgets', None)  # widget state is large and makes rendered docs fetch a widget manager
    return book


if __name__ == '__main__':
    args = sys.argv[1:]
    execute = '--no-exec' not in args
    for nb in (Path(a).resolve() for a in args if a != '--no-exec'):
        if execute:
            import papermill as pm
            from interp_nb.repro import EnvKernel
            print(f"executing {nb.relative_to(ROOT)}")
            pm.execute_notebook(str(nb), str(nb), cwd=str(nb.parent), kernel_name='python3',
                                kernel_manager_class=EnvKernel.manager(), progress_bar=False)  # this environment's Python
        nb.write_text(json.dumps(quiet(json.loads(nb.read_text())), indent=1, ensure_ascii=False) + '\n')
        subprocess.run([Path(sys.executable).parent/'nbdev_clean', '--fname', str(nb)], cwd=ROOT, check=True)
