"Shared timing helpers for the ratio benchmarks: interleaved repetitions, median and spread."
import statistics, time
import torch


def pin_threads(n: int = 2):
    torch.set_num_threads(n)


def interleaved(fns: dict, reps: int = 7, warmup: int = 1) -> dict:
    "Time each function `reps` times, interleaving them so that machine noise hits all alike; seconds per call."
    for _ in range(warmup):
        for f in fns.values(): f()
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t0 = time.perf_counter(); f(); times[k].append(time.perf_counter() - t0)
    return times


def ratio_table(times: dict, base: str) -> list:
    "Rows (name, median s, ratio median, ratio min-max) of each variant against `base`, per repetition."
    rows = []
    for k, ts in times.items():
        rs = [t / b for t, b in zip(ts, times[base])]
        rows.append((k, statistics.median(ts), statistics.median(rs), min(rs), max(rs)))
    return rows


def print_table(rows, base):
    print(f"| variant | median s | ratio vs {base} | spread |")
    print("|---|---|---|---|")
    for k, t, r, lo, hi in rows: print(f"| {k} | {t:.3f} | {r:.3f}x | {lo:.2f}-{hi:.2f} |")
