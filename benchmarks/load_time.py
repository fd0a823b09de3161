"""Figure (foundation issue): a second `load_model('smollm2-135m-instruct')` takes under 5 s.

Materialises the model if needed (the one-time GGUF dequantisation, timed when it happens), then times
`load_model` in fresh processes (the cost a new notebook or CLI run pays, file in the OS cache) and a
second call inside one process. Run: python benchmarks/load_time.py [model]"""
import statistics, subprocess, sys, time

name = sys.argv[1] if len(sys.argv) > 1 else 'smollm2-135m-instruct'
code = ("import time, interp_nb.core as c; t=time.perf_counter(); c.load_model({!r}, device='cpu'); "
        "print(time.perf_counter()-t)").format(name)
t0 = time.perf_counter()
first = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
print(f"first load in a fresh process (materialises if not cached): {float(first.stdout):.2f} s (wall {time.perf_counter()-t0:.1f} s)")
fresh = [float(subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout) for _ in range(3)]
from interp_nb.core import load_model
load_model(name, device='cpu')
t = time.perf_counter(); load_model(name, device='cpu'); same = time.perf_counter() - t
print("| load | seconds |\n|---|---|")
print(f"| fresh process (median of 3) | {statistics.median(fresh):.2f} |")
print(f"| second call, same process | {same:.2f} |")
print(f"second_load_{name}: {statistics.median(fresh):.2f} s")
