"""`bench`: throughput of the train step, the train epoch and the evaluation for each mode, precision and
batch size, in Google Benchmark JSON (names, context and FLOP counts: see the package's docstring)."""
import datetime
import json
import math
import os
import platform
import socket
import statistics
import sys

import torch
from safetensors import safe_open

from .config import DEFAULT_CONFIG, INPUT_DIM, is_layered, layered_config, model_name, preset_config
from .data import load_split
from .device import device_name, setup_torch
from .errors import UsageError
from .files import check_writable, write_json_atomically
from .flops import count_flops
from .layers import derive_layers
from .runner import PRECISIONS, Runner
from .timing import gbench_entries, measure

KINDS = ("train_step", "train_epoch", "eval")


def bench_one(kind, mode, batch, device, images, args, epoch_counter, cfg=DEFAULT_CONFIG, precision="fp32"):
    dtype, amp = PRECISIONS[precision]
    runner = Runner(mode, device, args.seed, cfg, dtype=dtype, amp=amp)
    if kind == "train_epoch":
        def fn():
            epoch_counter[0] += 1
            runner.train_epoch(images, batch, args.seed + epoch_counter[0])
        items = images.shape[0]
    else:
        idx = torch.arange(batch, device=device) % images.shape[0]
        x = images[idx].float().div_(255)
        if kind == "train_step":
            fn = lambda: runner.train_step(x)
        else:
            runner.model.eval()  # batch norm, if any, then uses its running statistics (PyTorch's evaluation)
            fn = lambda: runner.eval_batch(x)
        items = batch
    fwd, bwd = count_flops(items, cfg.get("samples", 1), cfg)
    flops = fwd if kind == "eval" else fwd + bwd
    reps, warmup, peak_mib = measure(fn, device, args.repetitions, args.min_time)
    return reps, warmup, items, flops, items * cfg["input_dim"], peak_mib


def context(args, device, skipped, cfg=DEFAULT_CONFIG, data=""):
    return {
        "model": json.dumps(cfg, sort_keys=True),  # as vaebench-bench's context: the config JSON
        "data": data,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host_name": socket.gethostname(),
        "executable": "python_peer.py",
        "num_cpus": os.cpu_count(),
        "library_build_type": "release",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device_name": device_name(device),
        "cuda": torch.version.cuda or "none",
        "threads": str(torch.get_num_threads()),
        "seed": str(args.seed),
        "timer": "cuda_events" if device.type == "cuda" else "perf_counter",
        "skipped": json.dumps(skipped),
    }


def read_gbench(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"--merge-into {path}: cannot read Google Benchmark JSON: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list) \
            or not isinstance(doc.get("context", {}), dict):
        raise UsageError(f"--merge-into {path}: not a Google Benchmark JSON (no \"benchmarks\" list)")
    return doc


def bench_config(args):
    """The model to time: --config FILE (a config JSON, a bare layers JSON, or a case / checkpoint
    .safetensors whose metadata carries the config), else the preset --model (with --latent)."""
    if args.config:
        path = args.config
        try:
            if path.endswith(".safetensors"):
                with safe_open(path, framework="pt") as f:
                    cfg = json.loads((f.metadata() or {})["config"])
            else:
                with open(path) as f:
                    cfg = json.load(f)
        except (OSError, ValueError, KeyError) as e:
            raise UsageError(f"--config {path}: cannot read a config: {e}") from e
        if isinstance(cfg, dict) and {"input", "encoder", "decoder"} <= cfg.keys():  # a bare layers JSON
            cfg = layered_config(os.path.splitext(os.path.basename(path))[0], cfg)
        if not isinstance(cfg, dict) or not ("layers" in cfg or "hidden" in cfg):
            raise UsageError(f"--config {path}: neither a vaebench config (\"layers\" or \"hidden\") nor a layers JSON")
        cfg = dict(cfg)
        cfg.pop("batch", None)  # a case's; --batches decides
        if "layers" not in cfg:
            cfg.setdefault("decoder_hidden", list(reversed(cfg["hidden"])))
        for k, v in (("likelihood", "bernoulli"), ("beta", 1.0), ("samples", 1)):
            cfg.setdefault(k, v)
        if args.latent:
            raise UsageError("--latent goes with --model; --config gives the latent itself")
    else:
        cfg = preset_config(args.model, args.latent)
    if is_layered(cfg):
        derive_layers(cfg["layers"])  # refuse a model that cannot be built before any timing
        cfg.setdefault("input_dim", math.prod(cfg["layers"]["input"]))
        cfg.setdefault("latent", cfg["layers"]["latent"])
    return cfg


def model_summary(cfg):
    if not is_layered(cfg):
        return f"{cfg['input_dim']}-{cfg['hidden']}-{cfg['latent']}-{cfg['decoder_hidden']} {cfg['activation']}"
    spec = cfg["layers"]
    return (f"{'x'.join(map(str, spec['input']))}, {len(spec['encoder'])} encoder layers, z{spec['latent']}, "
            f"{len(spec['decoder'])} decoder layers, {sum(p.macs for p in derive_layers(spec)) / 1e6:.3g} M MACs/image")


def bench_images(cfg, args, device):
    """uint8 [N, D] training images resident on the device, and what they are: MNIST's training split
    for a model of 784 inputs, else seeded uniform bytes of the model's C x H x W (throughput only,
    as vaebench-bench does for a model without its data set: no quality figure means anything)."""
    if cfg["input_dim"] == INPUT_DIM:
        images = load_split(args.data, "train", device)
        return images, f"MNIST train ({images.shape[0]} images)"
    shape = "x".join(map(str, cfg["layers"]["input"])) if is_layered(cfg) else str(cfg["input_dim"])
    gen = torch.Generator().manual_seed(args.seed)
    images = torch.randint(0, 256, (args.synthetic_images, cfg["input_dim"]), generator=gen, dtype=torch.uint8)
    return images.to(device), (f"synthetic {shape} images ({args.synthetic_images} of seeded uniform bytes, "
                               f"torch.Generator seed {args.seed}), not a dataset")


def cmd_bench(args):
    """`bench`: exit status 0; a UsageError for a bad option, file or data set."""
    if not args.out and not args.merge_into:
        raise UsageError("bench: give --out FILE and/or --merge-into FILE")
    for option, path in (("--out", args.out), ("--merge-into", args.merge_into)):
        if path:
            check_writable(option, path)
    if args.merge_into:
        read_gbench(args.merge_into)  # fail now, not after minutes of benchmarking
    cfg = bench_config(args)
    device = setup_torch(args)
    images, data = bench_images(cfg, args, device)
    model = model_name(cfg)
    # Every entry says its model ("model": the report's key) and data; a model other than the MLP is
    # also in the name (.../fp32/model:<m>/batch:<B>), so runs of two models in one file stay apart
    # for every reader (the report indexes rows by name, compare.py matches by name).
    extra = {"model": model, "data": data}
    model_part = "" if model == "mlp" else f"model:{model}/"
    print(f"model {model}: {model_summary(cfg)}; data: {data}", file=sys.stderr, flush=True)
    entries, skipped, family, epoch_counter = [], [], args.family_index_start, [0]
    for mode, precision in ((m, p) for m in args.modes for p in args.precision):
        failed = False
        for kind in args.kinds:
            for batch in (args.epoch_batches or args.batches) if kind == "train_epoch" else args.batches:
                if failed:
                    continue
                run_name = f"{kind}/{mode}/{device.type}/{precision}/{model_part}batch:{batch}/manual_time"
                try:
                    reps, warmup, items, flops, nbytes, peak_mib = bench_one(kind, mode, batch, device, images, args,
                                                                             epoch_counter, cfg, precision)
                except Exception as e:  # noqa: BLE001 -- a failing compile mode must not end the run
                    if mode == "python-eager":
                        raise
                    error = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                    print(f"warning: skipping mode {mode} ({kind} batch {batch} failed): {error}", file=sys.stderr)
                    skipped.append({"mode": mode, "kind": kind, "batch": batch, "error": error})
                    # Also as Google Benchmark's own error entry, so the report lists the mode as failed.
                    entries.append({"name": run_name, "family_index": family, "per_family_instance_index": 0,
                                    "run_name": run_name, "run_type": "iteration", "repetitions": args.repetitions,
                                    "repetition_index": 0, "threads": 1, "iterations": 0, "real_time": 0.0,
                                    "cpu_time": 0.0, "time_unit": "ms", "error_occurred": True,
                                    "error_message": f"torch.compile failed: {error}", **extra})
                    family += 1
                    failed = True
                    continue
                rows = gbench_entries(run_name, family, reps, items, flops, nbytes, peak_mib, extra)
                entries += rows
                family += 1
                times = [real for _, real, _ in reps]
                cv = statistics.stdev(times) / statistics.mean(times) if len(times) > 1 else 0.0
                print(f"{mode} {precision} {kind} batch {batch}: {items / statistics.mean(times):.0f} samples/s "
                      f"(cv {100 * cv:.1f}%, warm-up {warmup:.1f} s)", file=sys.stderr, flush=True)
    ctx = context(args, device, skipped, cfg, data)
    files = {}
    if args.out:
        files[args.out] = {"context": ctx, "benchmarks": entries}
    if args.merge_into:
        doc = read_gbench(args.merge_into)
        doc.setdefault("context", {}).update({f"python_peer.{k}": v for k, v in ctx.items()})
        doc["benchmarks"].extend(entries)
        files[args.merge_into] = doc
    write_json_atomically(files)
    return 0
