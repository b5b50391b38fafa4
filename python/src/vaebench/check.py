"""vaebench.check: a PyTorch VAE, as written, against the double-precision reference.

1. One forward is traced (vaebench.trace) into the layer list, the heads, the output transform.
2. The judge writes a case for that layer list and the declared objective: synthetic inputs x,
   the noise eps, initial parameters in PyTorch's shapes.
3. A copy of the model takes the case's parameters (mapped by structure, or by the map given),
   runs its forward on x with the case's eps fed to its own noise draw, and the loss as the code
   computes it; its backward gives every gradient.
4. The judge compares the loss (and recon and KL where the code gives them) and every gradient
   with the reference's, at the tolerances of the model's precision, and names the mistake
   when one of the catalogue matches.
The user's model is never modified: every run is on a deep copy.
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from . import judge as judge_cli
from .casefile import read_case, write_results
from .errors import VaeCheckError
from .loss import call_loss
from .noise import NoiseFeeder
from .objective import Objective
from .trace import Architecture, _descends, output_tensors, trace_architecture


@dataclass
class CheckResult:
    """The verdict. `passed`; `diagnosis` names the mistake (or says none matches) when it failed."""

    passed: bool
    model: str
    architecture: str  # the layer list as the judge prints it
    precision: str
    parameter_map: List[Tuple[str, str]]  # (the model's name, the case layout's name)
    loss_form: str
    diagnosis: Optional[str]
    named: List[str]
    table: str
    rows: List[dict] = field(repr=False)
    notes: List[str]
    judge: dict
    seconds: float

    def __str__(self) -> str:
        width = max((len(a) for a, _ in self.parameter_map), default=0)
        lines = [f"vaebench.check: {self.model} -- {'PASS' if self.passed else 'FAIL'} "
                 f"({self.precision}, judged by {self.judge.get('program', '?')} {self.judge.get('git_sha', '')}, "
                 f"{self.seconds:.1f} s)",
                 f"  loss read as: {self.loss_form}"] + [f"  note: {n}" for n in self.notes[:1]]
        lines += ["", self.table.rstrip(), "", "  parameters (model -> case):"]
        lines += [f"    {a:<{width}} -> {b}" for a, b in self.parameter_map]
        return "\n".join(lines) + "\n"


def check(model: nn.Module, loss: Optional[Callable] = None, *, objective: Objective = Objective(), batch: int = 16,
          input_shape: Optional[Sequence[int]] = None, param_map: Optional[Dict[str, str]] = None,
          forward: Optional[Callable[[nn.Module, torch.Tensor], Any]] = None,
          autocast: Optional[torch.dtype] = None, seed: int = 0, keep_files: Optional[str] = None) -> CheckResult:
    """Judges `model` and `loss` against the reference; see docs/check-your-vae.md.

    model: the VAE (nn.Module); its dtype and device are the check's (fp64, fp32, bf16; CPU or CUDA).
    loss: how the training code computes the loss (vaebench.loss documents the forms read); None
        when the forward returns it.
    objective: what that loss computes (sum or mean over the batch, the likelihood, the KL weight).
    batch: images in the case. input_shape: one image's shape as the model takes it (default: a
        Linear first layer's in_features; a conv model needs it, e.g. (1, 28, 28)).
    param_map: {model parameter name: case name}, overriding the structural map.
    forward: how to call the model (default: model(x)). autocast: e.g. torch.bfloat16.
    keep_files: a folder to keep the case, results and verdict files in.
    """
    start = time.perf_counter()
    if not isinstance(model, nn.Module):
        raise VaeCheckError(f"model: a torch.nn.Module is needed, not {type(model).__name__}")
    if not isinstance(batch, int) or batch < 1:
        raise VaeCheckError(f"batch={batch!r}: a positive int is needed")
    if not isinstance(objective, Objective):
        raise VaeCheckError(f"objective: a vaebench.Objective is needed, not {type(objective).__name__}")
    call = forward or (lambda m, x: m(x))
    first = next((p for p in model.parameters()), None)
    if first is None:
        raise VaeCheckError(f"model {type(model).__name__} has no parameters")
    dtype, device = first.dtype, first.device
    shape = _input_shape(model, input_shape)
    amp = (lambda: torch.autocast(device_type=device.type, dtype=autocast)) if autocast else contextlib.nullcontext

    # 1. The architecture, from a forward of a copy on probe data.
    probe = copy.deepcopy(model).train()
    with amp():
        arch, probe_out, rec = trace_architecture(probe, torch.rand(batch, *shape, dtype=dtype, device=device), None,
                                                  call)
    parts_at = _returned_positions(rec, arch, probe_out)
    config = {"beta": objective.beta, "init": "torch", "input_dim": _numel(shape), "latent": arch.latent,
              "likelihood": objective.likelihood, "samples": 1, "seed": seed, "layers": arch.layers_json(),
              "objective": objective.to_json(arch.output_transform, arch.clamp)}
    folder = keep_files or tempfile.mkdtemp(prefix="vaebench-check-")
    os.makedirs(folder, exist_ok=True)
    try:
        case_path = os.path.join(folder, f"check-b{batch}.safetensors")
        judge_cli.write_case(case_path, config, batch, adam_steps=0)
        case = read_case(case_path)
        # 2. The model's own computation on the case.
        names = _parameter_map(model, arch, case.parameters, case.buffers, param_map)
        subject = copy.deepcopy(model).train()
        _load(subject, names, case, dtype, device)
        x = case.tensors["x"].to(dtype=dtype, device=device).reshape(batch, *shape)
        eps = case.tensors["eps"][0].to(dtype=dtype, device=device)
        feeder = NoiseFeeder(eps)
        with amp():
            with feeder:
                out = call(subject, x)
            feeder.check_draws("the checked forward")
            tensors = output_tensors(out)
            parts = {k: tensors[i] for k, i in parts_at.items() if i is not None and i < len(tensors)}
            value = call_loss(loss, out, x, parts, objective.m_n(batch))
        value.loss.backward()
        results = {"total.loss": value.loss.detach().double().reshape(1)}
        if value.recon is not None:
            results["total.recon"] = value.recon.detach().double().reshape(1)
        if value.kl is not None:
            results["total.kl"] = value.kl.detach().double().reshape(1)
        params = dict(subject.named_parameters())
        buffers = dict(subject.named_buffers())
        for theirs, ours in names:
            if ours.startswith("buffer."):
                results["running." + ours[7:]] = buffers[theirs].detach()
                continue
            g = params[theirs].grad
            results["grad." + ours] = torch.zeros_like(params[theirs]) if g is None else g.detach()
        precision = _precision(dtype, device, autocast, arch)
        results_path = os.path.join(folder, "results.safetensors")
        # Half-precision values go to the file as float32 (the format takes either; float32 is exact).
        write_results(results_path,
                      {k: v.float() if v.dtype in (torch.bfloat16, torch.float16) else v for k, v in results.items()},
                      {"precision": precision, "device": str(device), "implementation": type(model).__name__})
        # 3. The verdict.
        doc, table = judge_cli.judge(case_path, results_path, type(model).__name__, precision)
    finally:
        if not keep_files:
            shutil.rmtree(folder, ignore_errors=True)
    verdict = doc["case"]
    diagnosis = verdict.get("diagnosis", {})
    return CheckResult(passed=bool(doc["passed"]), model=type(model).__name__, architecture=_summary(table),
                       precision=precision,
                       parameter_map=[(a, b[7:] + " (buffer)" if b.startswith("buffer.") else b) for a, b in names],
                       loss_form=value.form, diagnosis=diagnosis.get("text"), named=list(diagnosis.get("named", [])),
                       table=table, rows=verdict["comparisons"],
                       notes=[f"mean and log-variance heads told apart by {arch.heads_read_by}"] +
                       list(verdict.get("notes", [])),
                       judge=doc["judge"], seconds=time.perf_counter() - start)


def _summary(table: str) -> str:
    for line in table.splitlines():
        if "case " in line and ":" in line:
            return line.split(":", 1)[1].strip()
    return ""


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _input_shape(model: nn.Module, given: Optional[Sequence[int]]) -> Tuple[int, ...]:
    if given is not None:
        shape = tuple(int(s) for s in given)
        if not shape or any(s < 1 for s in shape) or len(shape) not in (1, 3):
            raise VaeCheckError(f"input_shape={given!r}: one image's shape, (D,) or (C, H, W)")
        return shape
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            return (m.in_features,)
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            raise VaeCheckError(f"module '{name}' ({type(m).__name__}) comes first: give input_shape=(C, H, W), "
                                "one image's shape as the model takes it")
    raise VaeCheckError(f"model {type(model).__name__} has no Linear or Conv2d layer to read its input size from")


def _returned_positions(rec: Any, arch: Architecture, out: Any) -> Dict[str, Optional[int]]:
    """Where the reconstruction, mu and logvar sit among the tensors the forward returns."""
    ids = [rec.of_tensor.get(id(t)) for t in output_tensors(out)]
    noise = set(rec.noise_nodes)

    def find(node: int, other: int) -> Optional[int]:
        if node in ids:
            return ids.index(node)
        # What the code made of the head (a ReLU on it: a known mistake) and returns in its place.
        for i, n in enumerate(ids):
            if n is not None and _descends(rec.nodes, n, {node}) and not _descends(rec.nodes, n, noise | {other}):
                return i
        return None

    return {"recon": ids.index(arch.output_node) if arch.output_node in ids else None,
            "mu": find(arch.mu_node, arch.logvar_node), "logvar": find(arch.logvar_node, arch.mu_node)}


def _parameter_map(model: nn.Module, arch: Architecture, ours: List[str], our_buffers: List[str],
                   given: Optional[Dict[str, str]]) -> List[Tuple[str, str]]:
    """(their name, our name) for every case parameter, then ("...", "buffer.<name>") for batch
    norm's running statistics, by structure; `given` overrides. Refuses what does not fit."""
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    pairs: List[Tuple[str, str]] = []
    buffer_pairs: List[Tuple[str, str]] = []
    bn_of = {l.module: l.batch_norm for l in arch.encoder + arch.decoder}
    for module, prefix in arch.structural_names():
        pairs += [(f"{module}.weight", f"{prefix}.weight"), (f"{module}.bias", f"{prefix}.bias")]
        bn = bn_of.get(module)
        if bn:
            pairs += [(f"{bn}.weight", f"{prefix}.bn.weight"), (f"{bn}.bias", f"{prefix}.bn.bias")]
            buffer_pairs += [(f"{bn}.{b}", f"buffer.{prefix}.bn.{b}")
                             for b in ("running_mean", "running_var", "num_batches_tracked")]
    if given:
        unknown = [k for k in given if k not in params]
        if unknown:
            raise VaeCheckError(f"param_map: {unknown} are not parameters of the model; it has {list(params)}")
        bad = [v for v in given.values() if v not in ours]
        if bad:
            raise VaeCheckError(f"param_map: {bad} are not names of the case layout; it has {ours}")
        by_ours = {b: a for a, b in pairs}
        by_ours.update({v: k for k, v in given.items()})
        pairs = [(by_ours[n], n) for n in ours if n in by_ours]
    order = {n: i for i, n in enumerate(ours)}
    if sorted(b for _, b in pairs) != sorted(ours):
        raise VaeCheckError(f"the parameters read from the model ({[b for _, b in pairs]}) are not the case layout's "
                            f"({ours})")
    pairs.sort(key=lambda p: order[p[1]])
    theirs = [a for a, _ in pairs]
    dup = {a for a in theirs if theirs.count(a) > 1}
    if dup:
        raise VaeCheckError(f"parameters {sorted(dup)} map onto more than one case tensor; give param_map")
    for a, b in pairs:
        if a not in params:
            raise VaeCheckError(f"parameter '{a}' (for {b}) is not a parameter of the model")
    if sorted(b[7:] for _, b in buffer_pairs) != sorted(our_buffers):
        raise VaeCheckError(f"batch norm buffers {[a for a, _ in buffer_pairs]} do not match the case's {our_buffers}")
    for a, _ in buffer_pairs:
        if a not in buffers:
            raise VaeCheckError(f"buffer '{a}' is not a buffer of the model")
    return pairs + buffer_pairs


def _load(model: nn.Module, names: List[Tuple[str, str]], case: Any, dtype: torch.dtype, device: torch.device) -> None:
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    with torch.no_grad():
        for theirs, ours in names:
            target = buffers[theirs] if ours.startswith("buffer.") else params[theirs]
            value = case.buffer(ours[7:]) if ours.startswith("buffer.") else case.param(ours)
            if tuple(target.shape) != tuple(value.shape):
                raise VaeCheckError(f"parameter '{theirs}' has shape {list(target.shape)}, the case's {ours} "
                                    f"{list(value.shape)} (PyTorch's shape for that layer)")
            target.copy_(value.to(dtype=target.dtype, device=device))


def _precision(dtype: torch.dtype, device: torch.device, autocast: Optional[torch.dtype], arch: Architecture) -> str:
    if autocast == torch.bfloat16 or dtype == torch.bfloat16:
        return "bf16"
    if autocast is not None:
        raise VaeCheckError(f"autocast={autocast}: the judge has tolerances for bfloat16 autocast only")
    if dtype == torch.float64:
        return "fp64"
    if dtype != torch.float32:
        raise VaeCheckError(f"the model's dtype {dtype}: fp64, fp32 or bf16 are judged")
    if device.type == "cuda":
        convs = any(l.kind != "dense" for l in arch.encoder + arch.decoder)
        if torch.backends.cuda.matmul.allow_tf32 or (convs and torch.backends.cudnn.allow_tf32):
            return "tf32"  # products on tensor cores with tf32 operands: judged at tf32's bounds
    return "fp32"
