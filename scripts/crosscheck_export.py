#!/usr/bin/env python3
"""Independent check of `vaebench validate --export DIR` files with PyTorch float64 autograd.

For every *.safetensors case in DIR: read x, eps, the parameters and the config from the
file, recompute recon, KL, loss and ELBO per image and the gradient of sum(loss) with
torch.autograd in float64, written from the README's math (not from vaebench's code), and
compare with the out.* and grad.* tensors the file carries (the reference's), and with every
backend's backend.<name>.out.* / backend.<name>.grad.* tensors at the backend tolerance (its
outputs may be float32), or at the tf32 tolerance for a backend the file's metadata
(backend_precisions) says ran in tf32. Exit status 1 on any mismatch.

usage: crosscheck_export.py DIR [--tol 1e-10] [--backend-tol 1e-4] [--tf32-backend-tol 2e-2]
"""
import argparse
import glob
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file


def model_losses(cfg, p, x, eps):
    act = torch.relu if cfg["activation"] == "relu" else torch.tanh
    h = x
    for i in range(len(cfg["hidden"])):
        h = act(F.linear(h, p[f"enc.{i}.weight"], p[f"enc.{i}.bias"]))
    mu = F.linear(h, p["enc.mu.weight"], p["enc.mu.bias"])
    logvar = F.linear(h, p["enc.logvar.weight"], p["enc.logvar.bias"])
    z = mu + torch.exp(0.5 * logvar) * eps  # [K, B, Z]
    h = z
    for i in range(len(cfg["decoder_hidden"])):
        h = act(F.linear(h, p[f"dec.{i}.weight"], p[f"dec.{i}.bias"]))
    logits = F.linear(h, p["dec.out.weight"], p["dec.out.bias"])
    target = x.expand_as(logits)
    if cfg["likelihood"] == "bernoulli":
        nll = F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
    else:
        mean = torch.sigmoid(logits)
        nll = (0.5 * (target - mean) ** 2).sum(-1) + 0.5 * x.shape[-1] * math.log(2 * math.pi)
    recon = nll.mean(0)
    kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(-1)
    return {"recon": recon, "kl": kl, "loss": recon + cfg["beta"] * kl, "elbo": -(recon + kl)}


def norm_rel(got, want):
    diff = torch.linalg.vector_norm(got - want).item()
    ref = torch.linalg.vector_norm(want).item()
    return 0.0 if diff == 0 else (math.inf if ref == 0 else diff / ref)


def check_file(path, tol, backend_tol, tf32_backend_tol):
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    cfg = json.loads(meta["config"])
    # Files written before the key existed carry fp32 backends only.
    precisions = json.loads(meta.get("backend_precisions", "{}"))
    t = load_file(path)
    for key in ("x", "eps", "out.recon", "out.kl", "out.loss", "out.elbo"):
        if key not in t:
            raise SystemExit(f"{path}: missing tensor '{key}'")
        if t[key].dtype != torch.float64:
            raise SystemExit(f"{path}: tensor '{key}' is {t[key].dtype}, expected float64")
    x, eps = t["x"], t["eps"]
    if list(x.shape) != [cfg["batch"], x.shape[1]] or list(eps.shape) != [cfg["samples"], cfg["batch"], cfg["latent"]]:
        raise SystemExit(f"{path}: x {list(x.shape)} / eps {list(eps.shape)} do not match the config {cfg}")
    params = {k[len("param."):]: v.clone().requires_grad_(True) for k, v in t.items() if k.startswith("param.")}
    out = model_losses(cfg, params, x, eps)
    out["loss"].sum().backward()

    worst, failures = 0.0, []
    rows = [(f"out.{k}", out[k].detach(), t[f"out.{k}"]) for k in ("recon", "kl", "loss", "elbo")]
    rows += [(f"grad.{k}", v.grad, t[f"grad.{k}"]) for k, v in params.items()]
    if sorted(k for k in t if k.startswith("grad.")) != sorted(f"grad.{k}" for k in params):
        failures.append("grad.* tensors do not match param.* tensors one to one")
    for name, ours, theirs in rows:
        e = norm_rel(ours, theirs)
        worst = max(worst, e)
        if not e <= tol:
            failures.append(f"{name}: norm-wise relative error {e:.3e} > {tol:g}")
    backends = sorted({k.split(".")[1] for k in t if k.startswith("backend.")})
    for b in backends:
        b_tol = tf32_backend_tol if precisions.get(b) == "tf32" else backend_tol
        for name, ours, _ in rows:
            key = f"backend.{b}.{name}"
            if key not in t:
                failures.append(f"{key}: missing")
                continue
            e = norm_rel(ours, t[key])
            if not e <= b_tol:
                failures.append(f"{key}: norm-wise relative error {e:.3e} > {b_tol:g}")
    return worst, len(rows) * (1 + len(backends)), failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--tol", type=float, default=1e-10, help="for the reference's tensors")
    ap.add_argument("--backend-tol", type=float, default=1e-4,
                    help="for backend.<name>.* tensors (fp32 outputs; validation/tolerances.h has the per-quantity bounds)")
    ap.add_argument("--tf32-backend-tol", type=float, default=2e-2,
                    help="for the tensors of a backend that ran in tf32 (tolerances.h: tf32-gradient and tf32-kl, 2e-2)")
    args = ap.parse_args()
    files = sorted(glob.glob(os.path.join(args.dir, "*.safetensors")))
    if not files:
        print(f"{args.dir}: no .safetensors files to check", file=sys.stderr)
        return 2
    ok = True
    for path in files:
        worst, n, failures = check_file(path, args.tol, args.backend_tol, args.tf32_backend_tol)
        status = "pass" if not failures else "FAIL"
        print(f"{status}  {os.path.basename(path)}: {n} tensors, worst norm-wise rel error {worst:.2e} (tol {args.tol:g})")
        for f in failures:
            print(f"      {f}")
        ok &= not failures
    print(f"{len(files)} passed, 0 failed" if ok else "crosscheck FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
