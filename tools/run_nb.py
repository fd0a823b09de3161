"""Execute notebooks in place so that their stored outputs (plots of the smoke runs, which the docs show) are fresh,
then clean them with nbdev_clean. Usage: python tools/run_nb.py nbs/04_patching.ipynb [...]"""
import json, os, subprocess, sys
from pathlib import Path
import papermill as pm
from interp_nb.repro import EnvKernel

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault('TQDM_DISABLE', '1')  # progress bars do not belong in stored outputs

for nb in sys.argv[1:]:
    nb = Path(nb).resolve()
    print(f"executing {nb.relative_to(ROOT)}")
    pm.execute_notebook(str(nb), str(nb), cwd=str(nb.parent), kernel_name='python3',
                        kernel_manager_class=EnvKernel.manager(), progress_bar=False)  # this environment's Python
    book = json.loads(nb.read_text())
    book['metadata'].pop('widgets', None)  # widget state is large and makes rendered docs fetch a widget manager
    nb.write_text(json.dumps(book, indent=1, ensure_ascii=False) + '\n')
    subprocess.run([Path(sys.executable).parent/'nbdev_clean', '--fname', str(nb)], cwd=ROOT, check=True)
