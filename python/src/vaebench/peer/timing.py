"""Timing, as the C++ benchmark binary times (see the package's docstring): measure() and the Google
Benchmark JSON entries of its repetitions."""
import statistics
import time

import torch

from .device import sync


def reset_memory_peak(device):
    """As vaebench-bench's Backend::reset_memory_peak: the device allocator's peak on a GPU, the
    process's peak RSS (Linux: "5" to /proc/self/clear_refs) on the CPU."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # the peak then counts from the start of the process


def memory_peak_mib(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def measure(fn, device, repetitions, min_time):
    """Warm up, then per repetition (iterations, mean real s, mean CPU s) per iteration; + warm-up s
    and the peak memory (MiB) of the timed iterations."""
    start, calls = time.perf_counter(), 0
    while calls < 3 or time.perf_counter() - start < 0.1:
        fn()
        sync(device)
        calls += 1
    warmup_seconds = time.perf_counter() - start
    cuda = device.type == "cuda"
    reset_memory_peak(device)
    if cuda:
        begin_ev, end_ev = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    reps = []
    for _ in range(repetitions):
        n, real, cpu = 0, 0.0, 0.0
        while n == 0 or real < min_time:
            c0 = time.process_time()
            if cuda:
                begin_ev.record()
                fn()
                end_ev.record()
                end_ev.synchronize()
                real += begin_ev.elapsed_time(end_ev) / 1e3
            else:
                t0 = time.perf_counter()
                fn()
                real += time.perf_counter() - t0
            cpu += time.process_time() - c0
            n += 1
        reps.append((n, real / n, cpu / n))
    sync(device)
    return reps, warmup_seconds, memory_peak_mib(device)


def gbench_entries(run_name, family, reps, items, flops, nbytes, peak_mib=None, extra=None):
    """Google Benchmark JSON entries (iterations, then aggregates when R > 1) for one benchmark;
    `extra` keys (the model, the data) go on every entry."""
    r = len(reps)
    common = {"family_index": family, "per_family_instance_index": 0, "run_name": run_name}
    rows, values = [], []
    for i, (n, real, cpu) in enumerate(reps):
        v = {"real_time": real * 1e3, "cpu_time": cpu * 1e3, "items_per_second": items / real,
             "TFLOP/s": flops / real / 1e12, "bytes_per_second": nbytes / real}
        values.append(v)
        rows.append({"name": run_name, **common, "run_type": "iteration", "repetitions": r,
                     "repetition_index": i, "threads": 1, "iterations": n, "real_time": v["real_time"],
                     "cpu_time": v["cpu_time"], "time_unit": "ms", "items_per_second": v["items_per_second"],
                     "TFLOP/s": v["TFLOP/s"], "bytes_per_second": v["bytes_per_second"],
                     **({"peak_mem_MiB": peak_mib} if peak_mib is not None else {}), **(extra or {})})
    if r == 1:  # Google Benchmark writes no aggregates for a single repetition
        return rows
    stddev = lambda xs: statistics.stdev(xs)  # sample standard deviation (n - 1)
    stats = {"mean": statistics.mean, "median": statistics.median, "stddev": stddev,
             "cv": lambda xs: stddev(xs) / statistics.mean(xs) if statistics.mean(xs) else 0.0}
    for agg, f in stats.items():
        row = {"name": f"{run_name}_{agg}", **common, "run_type": "aggregate", "repetitions": r, "threads": 1,
               "aggregate_name": agg, "aggregate_unit": "percentage" if agg == "cv" else "time", "iterations": r,
               "time_unit": "ms"}
        row.update({key: f([v[key] for v in values]) for key in values[0]})
        row.update(extra or {})
        rows.append(row)
    return rows
