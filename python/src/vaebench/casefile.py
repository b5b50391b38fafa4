"""Case files and results files (docs/case-format.md), read and written with safetensors.

One Python implementation of each, shared by `vaebench.check` and the peer (`vaebench.peer`):
a case file ("vaebench case v1", written by `vaebench cases export|write`) holds the inputs x,
the noise eps and adam.eps, the initial parameters param.<name> and batch norm's buffers
buffer.<name>, and as metadata the configuration, the objective, the Adam hyper-parameters and
the parameter order; a results file holds what an implementation computed for it.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Tuple

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

CASE_FORMAT = "vaebench case v1"


class CaseFileError(ValueError):
    """A case or results file that cannot be used; the message names the file and what is wrong."""


@dataclass
class Case:
    """A case file read back: metadata decoded, tensors as float64 CPU tensors."""

    path: str
    name: str
    config: dict  # the configuration, "batch" included
    objective: dict
    adam: dict  # steps, lr, beta1, beta2, eps
    parameters: List[str]  # the flat layout's order
    buffers: List[str]
    tensors: Dict[str, torch.Tensor] = field(repr=False)

    @property
    def batch(self) -> int:
        return int(self.config["batch"])

    @property
    def samples(self) -> int:
        return int(self.config.get("samples", 1))

    def param(self, name: str) -> torch.Tensor:
        return self.tensors["param." + name]

    def buffer(self, name: str) -> torch.Tensor:
        return self.tensors["buffer." + name]


def read_case(path: str) -> Case:
    """The case file at `path`; CaseFileError naming it when it is not one."""
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(path)
    except Exception as e:  # noqa: BLE001 -- safetensors raises several types for a bad file
        raise CaseFileError(f"{path}: cannot read as safetensors: {e}") from e
    if meta.get("format") != CASE_FORMAT:
        raise CaseFileError(f"{path}: metadata format is {meta.get('format')!r}, expected {CASE_FORMAT!r}")
    try:
        return Case(
            path=path,
            name=meta["case"],
            config=json.loads(meta["config"]),
            objective=json.loads(meta["objective"]) if "objective" in meta else {},
            adam=json.loads(meta["adam"]),
            parameters=json.loads(meta["parameters"]),
            buffers=json.loads(meta.get("buffers", "[]")),
            tensors=tensors,
        )
    except (KeyError, ValueError) as e:
        raise CaseFileError(f"{path}: metadata is not what {CASE_FORMAT!r} writes: {e}") from e


def write_results(path: str, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> None:
    """A results file, written atomically (a temporary file in the same folder, then renamed), so
    a reader never sees half of one. Tensors are made contiguous CPU tensors; num_batches_tracked
    keeps its integer type, every other tensor its float type."""
    folder = os.path.dirname(os.path.abspath(path))
    out = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".results-", suffix=".safetensors")
    os.close(fd)
    try:
        save_file(out, tmp, metadata={k: str(v) for k, v in metadata.items()})
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def results_shapes(case: Case, optional: bool = True) -> Dict[str, Tuple[int, ...]]:
    """The tensors of a complete results file for `case` (docs/case-format.md, "The results file you
    write"), name -> shape: out.recon, out.kl, out.loss, out.elbo [B] and grad.<name> for every
    parameter; with `optional`, also running.<name> for every buffer (models with batch norm) and,
    when the case has Adam steps, adam.loss [N] and adam.param.<name> for every parameter."""
    shapes: Dict[str, Tuple[int, ...]] = {f"out.{q}": (case.batch,) for q in ("recon", "kl", "loss", "elbo")}
    shapes.update({"grad." + n: tuple(case.param(n).shape) for n in case.parameters})
    if optional:
        shapes.update({"running." + n: tuple(case.buffer(n).shape) for n in case.buffers})
        steps = int(case.adam.get("steps", 0))
        if steps > 0:
            shapes["adam.loss"] = (steps,)
            shapes.update({"adam.param." + n: tuple(case.param(n).shape) for n in case.parameters})
    return shapes
