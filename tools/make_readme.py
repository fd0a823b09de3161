"""Write README.md from nbs/index.ipynb: markdown cells as they are, code cells as Python blocks with their text
output, `#| hide` cells left out. nbdev_readme would do this through Quarto, which our machines cannot install."""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _text(out):
    if out.get('output_type') == 'stream': return ''.join(out['text'])
    data = out.get('data', {})
    return ''.join(data['text/plain']) if 'text/plain' in data and 'image/png' not in data else ''


def readme(nb_path=ROOT/'nbs'/'index.ipynb') -> str:
    nb = json.loads(Path(nb_path).read_text())
    parts = ['<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, then `make readme`. -->']
    for cell in nb['cells']:
        src = ''.join(cell['source']).strip()
        lines = src.splitlines()
        if not src or any(l.replace(' ', '') in ('#|hide', '#|exporti', '#|export') for l in lines[:3]): continue
        if cell['cell_type'] == 'markdown': parts.append(src); continue
        code = '\n'.join(l for l in lines if not l.startswith('#|')).strip()
        if code: parts.append(f"```python\n{code}\n```")
        out = ''.join(_text(o) for o in cell.get('outputs', [])).strip()
        if out: parts.append(f"```\n{out}\n```")
    return '\n\n'.join(parts) + '\n'


if __name__ == '__main__':
    (ROOT/'README.md').write_text(readme())
