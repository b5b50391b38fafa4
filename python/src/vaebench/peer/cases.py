"""`cases`: the peer's results on vaebench's validation cases (docs/case-format.md). Case files are
read, and results files written, by vaebench.casefile; a case file that cannot be used is a
CaseFileError, which the command line reports as it reports a UsageError (stderr, exit status 2)."""
import glob
import os
import sys
import time

import torch

from ..casefile import Case, CaseFileError, read_case, write_results
from .device import setup_torch
from .errors import UsageError
from .objective import kl_weight, objective
from .runner import PRECISIONS, Runner


def load_case_params(model, names, t, path):
    """Every parameter of the model from the case file's param.<name> tensors and batch norm's
    running statistics from its buffer.<name> tensors, by name (state_dict names are the flat
    layout's and nn.BatchNorm2d's); UsageError for any tensor missing on either side, a wrong order
    or shape."""
    model_names = [n for n, _ in model.named_parameters()]
    if model_names != names:
        raise UsageError(f"{path}: parameters {names} do not match the model's {model_names}")
    in_file = sorted(k[len("param."):] for k in t if k.startswith("param."))
    if in_file != sorted(names):
        raise UsageError(f"{path}: param.* tensors {in_file} are not the `parameters` metadata {sorted(names)}")
    state = {n: t["param." + n] for n in names}
    state |= {k[len("buffer."):]: v for k, v in t.items() if k.startswith("buffer.")}
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # a shape mismatch
        raise UsageError(f"{path}: {str(e).strip()}") from e
    if result.missing_keys or result.unexpected_keys:
        raise UsageError(f"{path}: state not loaded: missing {result.missing_keys}, "
                         f"unexpected {result.unexpected_keys}")


def compute_case(mode, device, path, dtype=torch.float32, amp=None):
    """The results tensors of one case with one mode, in float32 (the peers' precision; what is timed),
    with amp bfloat16 the same under autocast (written in float32), or with dtype float64 the same code in
    float64 (a check of the model at the fp64 tolerances). `path`: a case file (CaseFileError when it is
    not one), or a Case already read."""
    case = path if isinstance(path, Case) else read_case(path)
    cfg, adam, names, t, path = case.config, case.adam, case.parameters, case.tensors, case.path
    x = t["x"].to(dtype).to(device)
    # K = 1 noise as [B, Z], the example's shape; K > 1 as [K, B, Z] (broadcast over the images).
    noise = lambda e: (e[0] if cfg["samples"] == 1 else e).to(dtype).to(device)

    def fresh_runner():
        runner = Runner(mode, device, 0, cfg, adam, dtype, amp)
        load_case_params(runner.model, names, t, path)
        return runner

    runner = fresh_runner()
    recon, kl = (v.clone() for v in runner.per_image(x, noise(t["eps"])))
    weight = cfg["beta"] * kl_weight(cfg, recon.shape[0])
    out = {"out.recon": recon, "out.kl": kl, "out.loss": recon + weight * kl, "out.elbo": -(recon + kl)}
    # That forward ran in training mode: batch norm updated its running statistics once.
    out.update({"running." + n: b.detach().clone() for n, b in runner.model.named_buffers()})
    runner.train_step(x, noise(t["eps"]))  # the timed step function; its backward leaves the gradient
    out.update({"grad." + n: p.grad.detach().clone() for n, p in runner.model.named_parameters()})
    steps = adam["steps"]
    if steps > 0:
        runner = fresh_runner()  # Adam from the same start
        # adam.loss is the batch's summed loss (docs/case-format.md), whatever the objective reduces.
        per_sum = x.shape[0] if objective(cfg)["batch"] == "mean" else 1
        losses = [runner.train_step(x, noise(t["adam.eps"][s]))[0].item() * per_sum for s in range(steps)]
        out["adam.loss"] = torch.tensor(losses, dtype=dtype)
        out.update({"adam.param." + n: p.detach().clone() for n, p in runner.model.named_parameters()})
    # num_batches_tracked stays an integer (I64), as in a state_dict.
    return {k: (v if k.endswith("num_batches_tracked") else v.to(dtype)).contiguous().cpu() for k, v in out.items()}


def cmd_cases(args):
    """`cases`: exit status 0; a UsageError for a bad option, a CaseFileError for a bad case file."""
    files = sorted(glob.glob(os.path.join(args.dir, "*.safetensors")))
    if args.case:
        wanted = args.case.split(",")
        missing = [c for c in wanted if os.path.join(args.dir, c + ".safetensors") not in files]
        if missing:
            raise UsageError(f"--case: no case file {missing[0]}.safetensors in {args.dir}")
        files = [f for f in files if os.path.basename(f)[:-len(".safetensors")] in wanted]
    if not files:
        raise UsageError(f"{args.dir}: no case files (write them with `vaebench cases export DIR`)")
    device = setup_torch(args)
    out_root = args.out or args.dir.rstrip("/") + "-results"
    for mode in args.modes:
        folder = os.path.join(out_root, mode)
        os.makedirs(folder, exist_ok=True)
        start, failures = time.perf_counter(), 0
        for path in files:
            case = os.path.basename(path)[:-len(".safetensors")]
            target = os.path.join(folder, case + ".safetensors")
            try:
                tensors = compute_case(mode, device, path, *PRECISIONS[args.precision])
            except (UsageError, CaseFileError):
                raise
            except Exception as e:  # noqa: BLE001 -- a failing compile mode must not end the run
                if mode == "python-eager":
                    raise
                failures += 1
                if os.path.exists(target):
                    os.remove(target)  # no stale result may stand in for this run's
                error = str(e).strip().splitlines()[0] if str(e).strip() else ""
                print(f"warning: {mode} failed on case {case}: {type(e).__name__}: {error}", file=sys.stderr)
                continue
            write_results(target, tensors, {  # whole files only
                "implementation": f"bench/python_peer.py {mode} (torch {torch.__version__})",
                "precision": args.precision, "device": device.type, "case": case})
        print(f"{mode} on {device.type}: {len(files) - failures}/{len(files)} cases in "
              f"{time.perf_counter() - start:.1f} s -> {folder}", file=sys.stderr, flush=True)
    return 0
