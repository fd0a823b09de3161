"""Re-render the stored outputs of `show_doc(...)` cells from the exported package, without executing the notebook:
signatures, docstrings and source-link line numbers stay current after an edit. Run `nbdev_export` first.
Usage: python tools/refresh_showdoc.py nbs/30_tds.ipynb [...]"""
import importlib, inspect, json, re, sys
from pathlib import Path
from nbdev.showdoc import show_doc


def _lines(s: str) -> list[str]:
    ls = s.split('\n'); return [l + '\n' for l in ls[:-1]] + ([ls[-1]] if ls[-1] else [])


def _namespace(nb: dict) -> dict:
    "The exported module of the notebook (its `#| default_exp`), with `show_doc`, as a namespace to evaluate the cells in."
    for c in nb['cells']:
        m = re.search(r'^#\|\s*default_exp\s+(\S+)', ''.join(c['source']), re.M)
        if m: return {**vars(importlib.import_module(f'interp_nb.{m[1]}')), 'show_doc': show_doc}
    raise SystemExit('no #| default_exp cell: not an exported notebook')


def _render(expr: str, ns: dict) -> dict:
    r = eval(expr, ns)
    md = r._repr_markdown_()
    if '#LNone' in md:  # nbdev finds no line outside a kernel: take it from the source
        obj = eval(re.fullmatch(r'show_doc\((.+?)(,.*)?\)', expr, re.S)[1], ns)
        md = md.replace('#LNone', f'#L{inspect.getsourcelines(inspect.unwrap(obj))[1]}')
    return dict(data={'text/markdown': _lines(md), 'text/plain': _lines(repr(r))}, execution_count=None, metadata={},
                output_type='execute_result')


def refresh(path: Path) -> int:
    nb = json.loads(path.read_text()); ns = _namespace(nb); n = 0
    for c in nb['cells']:
        src = ''.join(c['source']).strip()
        if c['cell_type'] == 'code' and re.fullmatch(r'show_doc\([^\n]+\)', src):
            c['outputs'] = [_render(src, ns)]; n += 1
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    return n


if __name__ == '__main__':
    for p in sys.argv[1:]: print(f"{p}: {refresh(Path(p))} show_doc outputs re-rendered")
