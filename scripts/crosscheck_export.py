#!/usr/bin/env python3
"""Independent check of `vaebench validate --export DIR` files with PyTorch float64 autograd.

For every *.safetensors case in DIR: read x, eps, the parameters and the config from the
file, recompute recon, KL, loss and ELBO per image and the gradient of sum(loss) with
torch.autograd in float64, written from the README's math (not from vaebench's code), and
compare with the out.* and grad.* tensors the file carries (the reference's), and with every
backend's backend.<name>.out.* / backend.<name>.grad.* tensors at the bound vaebench judged each
at (the metadata's backend_tolerances, per tensor, from validation/tolerances.h for the backend's
precision: fp32, tf32 or bf16); a file written before that key falls back to --backend-tol, or to
the tf32 tolerances for a backend the metadata's backend_precisions says ran in tf32. Exit status
1 on any mismatch.

The objective (the config's "objective", impl/model/objective.h; absent: the default) is
recomputed from docs/case-format.md's formulas: reductions over pixels and images, Bernoulli on
logits or on clamped sigmoid probabilities, the continuous Bernoulli (its normaliser written out
here, Taylor-expanded for |p - 1/2| < 0.001), the Gaussian with or without its constant and 0.5,
a fixed sigma, the KL weight; the gradient is of the batch objective (sum or mean).

Models given as layers (the config's "layers", impl/model/layers.h's JSON: dense, conv2d and
conv_transpose2d layers, batch norm) are recomputed with F.linear / F.conv2d /
F.conv_transpose2d and batch norm written out by hand (the batch's per-channel mean and
biased variance over N, H, W, eps 1e-5, then gamma and beta): the validation path's
training-mode batch norm. The gradient of a conv bias that batch norm follows vanishes
identically (the batch mean removes it); such a tensor is compared against the norm of the
same layer's weight gradient (||got - want|| / ||grad weight||), as `vaebench validate` does.

usage: crosscheck_export.py DIR [--tol 1e-10] [--backend-tol 1e-4] [--tf32-backend-tol 2e-2]
                               [--tf32-deep-backend-tol 8e-2]
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


BN_EPS = 1e-5  # nn.BatchNorm2d's default, which the models use (layers.h)
SHALLOW_GRADIENT_LAYERS = 4  # tolerances.h's kShallowGradientLayers
ACT = {"relu": torch.relu, "tanh": torch.tanh, "none": lambda h: h,
       "elu": lambda h: torch.where(h > 0, h, torch.expm1(h)),
       "gelu": lambda h: 0.5 * h * (1 + torch.erf(h / math.sqrt(2))),
       "gelu_tanh": lambda h: 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h ** 3))),
       "silu": lambda h: h * torch.sigmoid(h)}


def mlp_forward(cfg, p, x, eps):
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
    return F.linear(h, p["dec.out.weight"], p["dec.out.bias"]), mu, logvar


def batch_norm_train(h, gamma, beta):
    """BatchNorm2d in training mode: per channel, the batch's mean and biased variance over N, H, W."""
    mean = h.mean(dim=(0, 2, 3), keepdim=True)
    var = ((h - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    return (h - mean) / torch.sqrt(var + BN_EPS) * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)


def apply_layer(layer, prefix, p, h):
    """One layer on h [N, ...]: dense flattens each sample first and views its output as its
    "shape" if it has one; a conv layer takes [N, C, H, W]; then batch norm, then the activation."""
    w, b = p[f"{prefix}.weight"], p[f"{prefix}.bias"]
    if layer["type"] == "dense":
        h = F.linear(h.reshape(h.shape[0], -1), w, b)
        if "shape" in layer:
            h = h.reshape(h.shape[0], *layer["shape"])
    elif layer["type"] == "conv2d":
        h = F.conv2d(h, w, b, stride=layer["stride"], padding=layer["padding"])
    elif layer["type"] == "conv_transpose2d":
        h = F.conv_transpose2d(h, w, b, stride=layer["stride"], padding=layer["padding"],
                               output_padding=layer["output_padding"])
    else:
        raise SystemExit(f"{prefix}: unknown layer type {layer['type']!r}")
    if layer.get("batch_norm"):
        h = batch_norm_train(h, p[f"{prefix}.bn.weight"], p[f"{prefix}.bn.bias"])
    if layer["activation"] == "leaky_relu":
        return torch.where(h > 0, h, layer["negative_slope"] * h)
    return ACT[layer["activation"]](h)


def layered_forward(cfg, p, x, eps):
    """x [B, C*H*W] (NCHW), eps [K, B, Z] -> logits [K, B, C*H*W], mu, logvar [B, Z]."""
    spec = cfg["layers"]
    h = x.reshape(x.shape[0], *spec["input"])
    for i, layer in enumerate(spec["encoder"]):
        h = apply_layer(layer, f"enc.{i}", p, h)
    h = h.reshape(h.shape[0], -1)
    mu = F.linear(h, p["enc.mu.weight"], p["enc.mu.bias"])
    logvar = F.linear(h, p["enc.logvar.weight"], p["enc.logvar.bias"])
    z = mu + torch.exp(0.5 * logvar) * eps  # [K, B, Z]
    k, b, zdim = z.shape
    g = z.reshape(k * b, zdim)  # the decoder's batch is K*B (batch norm's statistics too)
    last = len(spec["decoder"]) - 1
    for i, layer in enumerate(spec["decoder"]):
        g = apply_layer(layer, "dec.out" if i == last else f"dec.{i}", p, g)
    return g.reshape(k, b, -1), mu, logvar


def vanishing_biases(cfg):
    """{bias name: weight name} for conv biases that batch norm follows (their gradient is zero)."""
    out = {}
    spec = cfg.get("layers")
    if spec:
        for stack, layers in (("enc", spec["encoder"]), ("dec", spec["decoder"])):
            for i, layer in enumerate(layers):
                if layer.get("batch_norm"):
                    out[f"{stack}.{i}.bias"] = f"{stack}.{i}.weight"
    return out


def weight_layers(cfg):
    """The model's weight layers, mu and log-variance counted once (tolerances.h's gradient())."""
    spec = cfg.get("layers")
    if spec:
        return len(spec["encoder"]) + 1 + len(spec["decoder"])
    return len(cfg["hidden"]) + 1 + len(cfg["decoder_hidden"]) + 1


OBJECTIVE_DEFAULTS = {"batch": "sum", "pixels": "sum", "bernoulli_input": "logits", "clamp": 0.0,
                      "gaussian_constant": True, "gaussian_half": True, "sigma": 1.0, "kl_weight": 1.0}


def log_norm_continuous_bernoulli(p):
    """log C(p), C(p) = 2 atanh(1 - 2p) / (1 - 2p); log 2 + (4/3 + 104/45 t) t, t = (p - 1/2)^2, inside (0.499, 0.501)."""
    outside = (p <= 0.499) | (p >= 0.501)
    q = torch.where(outside, p, torch.full_like(p, 0.25))  # any value where the exact form is finite
    exact = torch.log(torch.abs(2 * torch.atanh(1 - 2 * q))) - torch.log(torch.abs(1 - 2 * q))
    t = (p - 0.5) ** 2
    return torch.where(outside, exact, math.log(2) + (4 / 3 + 104 / 45 * t) * t)


def pixel_nll(cfg, o, logits, target):
    lik = cfg["likelihood"]
    if lik == "gaussian":
        mean = torch.sigmoid(logits)
        nll = (0.5 if o["gaussian_half"] else 1.0) * (target - mean) ** 2 / o["sigma"] ** 2
        return nll + (math.log(o["sigma"]) + 0.5 * math.log(2 * math.pi) if o["gaussian_constant"] else 0.0)
    if lik == "bernoulli" and o["bernoulli_input"] == "logits":
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    if o["clamp"] > 0:
        p = p.clamp(o["clamp"], 1 - o["clamp"])
    bce = -(target * torch.log(p) + (1 - target) * torch.log1p(-p))
    if lik == "bernoulli":
        return bce
    if lik == "continuous-bernoulli":
        return bce - log_norm_continuous_bernoulli(p)
    raise SystemExit(f"unknown likelihood {lik!r}")


def model_losses(cfg, p, x, eps):
    """Per-image recon, kl, loss, elbo and the batch objective (the scalar the gradient is of)."""
    logits, mu, logvar = (layered_forward if "layers" in cfg else mlp_forward)(cfg, p, x, eps)
    if logits.shape[-1] != x.shape[-1]:
        raise SystemExit(f"the model's output has {logits.shape[-1]} values per image, x has {x.shape[-1]}")
    o = OBJECTIVE_DEFAULTS | cfg.get("objective", {})
    nll = pixel_nll(cfg, o, logits, x.expand_as(logits))
    recon = (nll.mean(-1) if o["pixels"] == "mean" else nll.sum(-1)).mean(0)
    kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(-1)
    batch = x.shape[0]
    w = o["kl_weight"]
    w = batch / int(w[len("batch/"):]) if isinstance(w, str) else float(w)
    loss = recon + cfg["beta"] * w * kl
    objective = loss.mean() if o["batch"] == "mean" else loss.sum()
    return {"recon": recon, "kl": kl, "loss": loss, "elbo": -(recon + kl)}, objective


def norm_rel(got, want, scale=None):
    """||got - want|| / ||want||, or / ||scale|| when given (a tensor that vanishes identically)."""
    diff = torch.linalg.vector_norm(got - want.to(got.dtype)).item()
    ref = torch.linalg.vector_norm(want if scale is None else scale).item()
    return 0.0 if diff == 0 else (math.inf if ref == 0 else diff / ref)


def check_file(path, tol, backend_tol, tf32_backend_tol, tf32_deep_backend_tol):
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    cfg = json.loads(meta["config"])
    # Files written before the key existed carry fp32 backends only.
    precisions = json.loads(meta.get("backend_precisions", "{}"))
    bounds = json.loads(meta.get("backend_tolerances", "{}"))
    t = load_file(path)
    for key in ("x", "eps", "out.recon", "out.kl", "out.loss", "out.elbo"):
        if key not in t:
            raise SystemExit(f"{path}: missing tensor '{key}'")
        if t[key].dtype != torch.float64:
            raise SystemExit(f"{path}: tensor '{key}' is {t[key].dtype}, expected float64")
    x, eps = t["x"], t["eps"]
    if list(x.shape) != [cfg["batch"], cfg.get("input_dim", x.shape[1])] or \
            list(eps.shape) != [cfg["samples"], cfg["batch"], cfg["latent"]]:
        raise SystemExit(f"{path}: x {list(x.shape)} / eps {list(eps.shape)} do not match the config {cfg}")
    params = {k[len("param."):]: v.clone().requires_grad_(True) for k, v in t.items() if k.startswith("param.")}
    out, objective = model_losses(cfg, params, x, eps)
    objective.backward()

    worst, failures = 0.0, []
    if sorted(k for k in t if k.startswith("grad.")) != sorted(f"grad.{k}" for k in params):
        failures.append("grad.* tensors do not match param.* tensors one to one")
        return worst, 0, failures, {}
    rows = [(f"out.{k}", out[k].detach(), t[f"out.{k}"], None) for k in ("recon", "kl", "loss", "elbo")]
    vanishing = vanishing_biases(cfg)
    # A vanishing bias gradient is judged against the norm of its layer's weight gradient (ours).
    rows += [(f"grad.{k}", v.grad, t[f"grad.{k}"], params[vanishing[k]].grad if k in vanishing else None)
             for k, v in params.items()]
    for name, ours, theirs, scale in rows:
        e = norm_rel(ours, theirs, scale)
        worst = max(worst, e)
        if not e <= tol:
            failures.append(f"{name}: norm-wise relative error {e:.3e} > {tol:g}")
    backends = sorted({k.split(".")[1] for k in t if k.startswith("backend.")})
    backend_worst = {}
    for b in backends:
        deep = weight_layers(cfg) > SHALLOW_GRADIENT_LAYERS
        fallback = (tf32_deep_backend_tol if deep else tf32_backend_tol) if precisions.get(b) == "tf32" else backend_tol
        backend_worst[b] = (0.0, 0.0)
        for name, ours, _, scale in rows:
            key = f"backend.{b}.{name}"
            if key not in t:
                failures.append(f"{key}: missing")
                continue
            b_tol = bounds.get(b, {}).get(name, fallback)
            e = norm_rel(ours, t[key], scale)
            backend_worst[b] = (max(backend_worst[b][0], e), max(backend_worst[b][1], b_tol))
            if not e <= b_tol:
                failures.append(f"{key}: norm-wise relative error {e:.3e} > {b_tol:g} ({precisions.get(b, 'fp32')})")
    return worst, len(rows) * (1 + len(backends)), failures, backend_worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--tol", type=float, default=1e-10, help="for the reference's tensors")
    ap.add_argument("--backend-tol", type=float, default=1e-4,
                    help="for backend.<name>.* tensors of a file without backend_tolerances metadata (fp32 outputs)")
    ap.add_argument("--tf32-backend-tol", type=float, default=2e-2,
                    help="for the tensors of a backend that ran in tf32 (tolerances.h: tf32-gradient and tf32-kl, 2e-2)")
    ap.add_argument("--tf32-deep-backend-tol", type=float, default=8e-2,
                    help=f"the same for a model deeper than {SHALLOW_GRADIENT_LAYERS} weight layers "
                         "(tolerances.h: tf32-gradient-deep, 8e-2)")
    args = ap.parse_args()
    files = sorted(glob.glob(os.path.join(args.dir, "*.safetensors")))
    if not files:
        print(f"{args.dir}: no .safetensors files to check", file=sys.stderr)
        return 2
    ok = True
    for path in files:
        worst, n, failures, backend_worst = check_file(path, args.tol, args.backend_tol, args.tf32_backend_tol,
                                                       args.tf32_deep_backend_tol)
        status = "pass" if not failures else "FAIL"
        backends = "".join(f"; {b} worst {e:.2e} (tol up to {b_tol:g})" for b, (e, b_tol) in backend_worst.items())
        print(f"{status}  {os.path.basename(path)}: {n} tensors, worst norm-wise rel error {worst:.2e} (tol {args.tol:g})"
              f"{backends}")
        for f in failures:
            print(f"      {f}")
        ok &= not failures
    print(f"{len(files)} passed, 0 failed" if ok else "crosscheck FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
