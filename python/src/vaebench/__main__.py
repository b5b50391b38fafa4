"""python -m vaebench check MODULE:FACTORY [--loss MODULE:FN] [objective and check options]

MODULE:FACTORY names a callable returning the model (a class or function, imported from MODULE,
a module name or a .py file); --loss MODULE:FN the loss. Exit status 0 pass, 1 fail, 2 bad input
(a message, no traceback)."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from typing import Any, List, Optional

import torch

from .check import check
from .errors import VaeCheckError
from .objective import Objective


def _load(spec: str, option: str) -> Any:
    if ":" not in spec:
        raise VaeCheckError(f"{option} {spec}: expected MODULE:NAME (e.g. mymodels:VAE or path/to/models.py:VAE)")
    where, name = spec.rsplit(":", 1)
    try:
        if where.endswith(".py"):
            if not os.path.isfile(where):
                raise VaeCheckError(f"{option} {spec}: no file {where}")
            sys.path.insert(0, os.path.dirname(os.path.abspath(where)))
            loader = importlib.util.spec_from_file_location(os.path.basename(where)[:-3], where)
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            sys.path.insert(0, os.getcwd())
            module = importlib.import_module(where)
    except ImportError as e:
        raise VaeCheckError(f"{option} {spec}: cannot import {where}: {e}") from e
    if not hasattr(module, name):
        raise VaeCheckError(f"{option} {spec}: {where} has no {name}")
    return getattr(module, name)


def _kl_weight(text: str) -> Any:
    return text if text.startswith("batch/") else float(text)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vaebench", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="judge a VAE against the reference")
    c.add_argument("model", metavar="MODULE:FACTORY")
    c.add_argument("--loss", metavar="MODULE:FN", help="the loss (default: the forward returns it)")
    c.add_argument("--method", help="the loss is this method of the model (e.g. loss_function, PyTorch-VAE)")
    c.add_argument("--batch", type=int, default=16)
    c.add_argument("--input-shape", help="one image's shape, e.g. 1x28x28 or 784")
    c.add_argument("--dtype", choices=["fp32", "fp64"], default="fp32")
    c.add_argument("--likelihood", default="bernoulli")
    c.add_argument("--batch-reduction", default="sum")
    c.add_argument("--pixel-reduction", default="sum")
    c.add_argument("--gaussian-constant", choices=["on", "off"], default="on")
    c.add_argument("--gaussian-half", choices=["on", "off"], default="on")
    c.add_argument("--sigma", type=float, default=1.0)
    c.add_argument("--kl-weight", type=_kl_weight, default=1.0)
    c.add_argument("--beta", type=float, default=1.0)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--keep-files", help="keep the case, results and verdict files in this folder")
    args = p.parse_args(argv)
    try:
        objective = Objective(likelihood=args.likelihood, batch=args.batch_reduction, pixels=args.pixel_reduction,
                              gaussian_constant=args.gaussian_constant == "on",
                              gaussian_half=args.gaussian_half == "on", sigma=args.sigma, kl_weight=args.kl_weight,
                              beta=args.beta)
        model = _load(args.model, "MODULE:FACTORY")()
        if args.dtype == "fp64":
            model = model.double()
        loss = _load(args.loss, "--loss") if args.loss else getattr(model, args.method) if args.method else None
        shape = tuple(int(s) for s in args.input_shape.split("x")) if args.input_shape else None
        torch.manual_seed(args.seed)
        result = check(model, loss, objective=objective, batch=args.batch, input_shape=shape, seed=args.seed,
                       keep_files=args.keep_files)
    except VaeCheckError as e:
        print(f"vaebench check: error: {e}", file=sys.stderr)
        return 2
    print(result)
    if result.diagnosis:
        print(f"diagnosis: {result.diagnosis}")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
