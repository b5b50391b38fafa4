#!/usr/bin/env python3
"""The Python peer: the pytorch/examples MNIST VAE, timed the way vaebench times its C++ backends.

Model, loss and optimiser are those of https://github.com/pytorch/examples/blob/main/vae/main.py:
fc1 784->400 ReLU, fc21/fc22 400->20 (mu, logvar), z = mu + exp(0.5*logvar)*randn, fc3 20->400 ReLU,
fc4 400->784 logits; loss = BCE-with-logits summed over pixels and images + KL; Adam lr 1e-3. The layers
carry vaebench's flat-layout names (fc1 = enc.0, fc21 = enc.mu, fc22 = enc.logvar, fc3 = dec.0,
fc4 = dec.out) and the class takes vaebench's configuration (more hidden layers, tanh, the Gaussian
likelihood, beta, K samples), so the same code that is timed with the example's configuration can be
checked on every validation case.
Models given as layers (impl/model/layers.h; a config's "layers", as case metadata carries them, or
`bench --model conv-mnist|conv-celeba64`, the seeds' ConvVAE and CelebAVAE) are built as LayeredVAE: one
nn.Linear / nn.Conv2d / nn.ConvTranspose2d per layer with nn.BatchNorm2d as its child "bn", named as
vaebench names the parameters (enc.<i>.weight, enc.<i>.bn.weight, enc.mu.*, dec.out.*, ...), so a case
file's param.<name> and buffer.<name> tensors load by name (every one checked). Batch norm runs in
training mode wherever the cases are computed and trained (the batch's statistics, updating the running
statistics, which a case's results report as running.<name>); the `eval` benchmark and the test-set
evaluation put the model in eval mode, as PyTorch evaluation does.
Pixels are uint8/255 in float32 (no binarisation). Backends ("modes"):
  python-eager                     plain PyTorch;
  python-compile                   step function and model wrapped in torch.compile (default mode);
  python-compile-reduce-overhead   torch.compile(mode="reduce-overhead") (CUDA graphs on a GPU).
Compiled functions use dynamic=False, so every batch shape gets its own static-shape graph, as the
C++ backends have; dynamo's caches are reset before each benchmark so graphs never mix.

Data: the MNIST IDX files are parsed with gzip + numpy and the whole split is kept resident on the
device as uint8. Batches are gathered by index (images[idx].float().div_(255)) and shuffled with a
seeded torch.randperm (CPU generator, seed + epoch). No DataLoader: we measure compute, not data
loading, exactly as the C++ side (which also keeps the data resident and gathers by index).

Timing (`bench`), identical to the C++ benchmark binary so the numbers sit side by side:
  * warm-up: call the function until at least 3 calls AND at least 0.1 s have passed (compilation,
    cuDNN/BLAS autotuning, CUDA-graph recording and Adam's lazy state all happen here);
  * each repetition times single iterations -- time.perf_counter() around the call on the CPU (the
    work is done when the call returns), a pair of torch.cuda.Event(enable_timing=True) around it on
    CUDA (the end event synchronised), i.e. device time, not queueing time -- and adds iterations
    until their sum reaches --min-time (at least one);
  * one repetition = one Google Benchmark "iteration" entry with real_time = mean time per iteration
    (manual time), cpu_time from time.process_time(); R > 1 adds mean/median/stddev/cv aggregates.
Names follow Google Benchmark's manual-time convention, "<kind>/<mode>/<device>/fp32/batch:<B>/manual_time",
so tools/compare.py and our report generator read peer and C++ results alike; every entry carries
"model" (mlp, conv-mnist, ...) and "data", and a model other than the MLP is also in the name,
".../fp32/model:<m>/batch:<B>/manual_time", so runs of two models merged into one file stay apart.
`--model` picks a preset, `--config FILE` any configuration (a config JSON, a layers JSON, or a case
file / checkpoint); a model whose input is not MNIST's 784 pixels (conv-celeba64: 3x64x64) runs on
seeded synthetic images, which the output, the context and every entry ("data") say. FLOP counts
are the exact dense and conv counts of impl/model/flops.h (batch norm and element-wise work are not
counted).

`train` runs the example's training loop epoch by epoch, evaluates the test split after each epoch
and writes a history JSON in the format of the C++ trainer ("vaebench training history v1").

`cases DIR --modes ... --out ROOT` computes every case file of `vaebench cases export DIR` with each
mode -- the per-image outputs and the gradient from the mode's own forward and backward, the Adam
steps with its own compiled train step, the case's noise instead of randn -- and writes
ROOT/<mode>/<case>.safetensors in the results format of docs/case-format.md, for
`vaebench validate --external <mode>=ROOT/<mode>`; `--precision fp64` runs the same code in float64
(judged at the fp64 tolerances: a check of the model itself rather than of float32 rounding).
"""
import argparse
import datetime
import glob
import gzip
import json
import math
import os
import platform
import socket
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from safetensors import safe_open
from safetensors.torch import load_file, save_file

MODES = ("python-eager", "python-compile", "python-compile-reduce-overhead")
KINDS = ("train_step", "train_epoch", "eval")
# --precision: (the parameters' dtype, autocast's dtype or None). bf16 is torch.autocast(dtype=torch.bfloat16)
# as PyTorch users run it: fp32 parameters and Adam, the products in bf16 (fp32 accumulation), the losses,
# KL and likelihood in fp32 from the bf16 outputs (vaebench's LibTorch backends run the same recipe).
PRECISIONS = {"fp32": (torch.float32, None), "fp64": (torch.float64, None), "bf16": (torch.float32, torch.bfloat16)}
INPUT_DIM, HIDDEN, LATENT = 784, 400, 20
IDX_IMAGES_MAGIC = 0x00000803


class UsageError(Exception):
    """A bad option, file or data set: reported on stderr with exit status 2."""


# ----------------------------------------------------------------------------------------------
# Model (pytorch/examples vae/main.py, decoder returning logits)
# ----------------------------------------------------------------------------------------------
DEFAULT_CONFIG = {"input_dim": INPUT_DIM, "hidden": [HIDDEN], "decoder_hidden": [HIDDEN], "latent": LATENT,
                  "activation": "relu", "likelihood": "bernoulli", "beta": 1.0, "samples": 1}


class VAE(nn.Module):
    """The example's VAE for DEFAULT_CONFIG; any vaebench configuration (a case file's) otherwise."""

    def __init__(self, cfg=DEFAULT_CONFIG):
        super().__init__()
        self.act = F.relu if cfg["activation"] == "relu" else torch.tanh
        widths = [cfg["input_dim"]] + list(cfg["hidden"])
        enc = {str(i): nn.Linear(a, b) for i, (a, b) in enumerate(zip(widths, widths[1:]))}
        enc["mu"] = nn.Linear(widths[-1], cfg["latent"])      # the example's fc21
        enc["logvar"] = nn.Linear(widths[-1], cfg["latent"])  # fc22
        widths = [cfg["latent"]] + list(cfg["decoder_hidden"])
        dec = {str(i): nn.Linear(a, b) for i, (a, b) in enumerate(zip(widths, widths[1:]))}
        dec["out"] = nn.Linear(widths[-1], cfg["input_dim"])  # fc4
        self.enc, self.dec = nn.ModuleDict(enc), nn.ModuleDict(dec)
        self.n_enc, self.n_dec, self.input_dim = len(cfg["hidden"]), len(cfg["decoder_hidden"]), cfg["input_dim"]

    def encode(self, x):
        h = x
        for i in range(self.n_enc):
            h = self.act(self.enc[str(i)](h))
        return self.enc["mu"](h), self.enc["logvar"](h)

    def reparameterize(self, mu, logvar, eps=None):
        std = torch.exp(0.5 * logvar)
        if eps is None:
            eps = torch.randn_like(std)  # sampled in eval mode too, as in the example
        return mu + eps * std  # eps [K, B, Z] broadcasts to K samples per image

    def decode(self, z):
        h = z
        for i in range(self.n_dec):
            h = self.act(self.dec[str(i)](h))
        return self.dec["out"](h)

    def forward(self, x, eps=None):
        mu, logvar = self.encode(x.view(-1, self.input_dim))
        return self.decode(self.reparameterize(mu, logvar, eps)), mu, logvar


# The objective as a config's "objective" declares it (impl/model/objective.h, docs/case-format.md);
# absent keys take the default's values (BCE with logits or the unit Gaussian with its constant, sums).
OBJECTIVE_DEFAULTS = {"batch": "sum", "pixels": "sum", "bernoulli_input": "logits", "clamp": 0.0,
                      "gaussian_constant": True, "gaussian_half": True, "sigma": 1.0, "kl_weight": 1.0}


def objective(cfg):
    """The config's objective with every key filled in; UsageError naming a key this peer does not know."""
    declared = cfg.get("objective", {})
    unknown = sorted(set(declared) - set(OBJECTIVE_DEFAULTS))
    if unknown:
        raise UsageError(f"objective: unknown keys {unknown} (known: {sorted(OBJECTIVE_DEFAULTS)})")
    return OBJECTIVE_DEFAULTS | declared


def kl_weight(cfg, batch):
    """The KL weight w for a batch of `batch` images: a number, or "batch/N" (PyTorch-VAE's M_N = B/N)."""
    w = objective(cfg)["kl_weight"]
    return batch / int(w[len("batch/"):]) if isinstance(w, str) else float(w)


def per_image_losses(cfg, logits, x, mu, logvar):
    """recon and KL per image under the config's objective; logits [B, D] or [K, B, D] (mean over K)."""
    o = objective(cfg)
    target = x.view(-1, cfg["input_dim"]).expand_as(logits)
    lik = cfg["likelihood"]
    if lik == "bernoulli" and o["bernoulli_input"] == "logits":
        nll = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    elif lik == "gaussian":
        nll = (0.5 if o["gaussian_half"] else 1.0) * (target - torch.sigmoid(logits)).square() / o["sigma"] ** 2
        if o["gaussian_constant"]:
            nll = nll + math.log(o["sigma"]) + 0.5 * math.log(2 * math.pi)
    elif lik in ("bernoulli", "continuous-bernoulli"):
        p = torch.sigmoid(logits)
        if o["clamp"] > 0:
            p = p.clamp(o["clamp"], 1 - o["clamp"])  # pytorch/examples' decode
        if lik == "bernoulli":
            nll = F.binary_cross_entropy(p, target, reduction="none")
        else:
            nll = -torch.distributions.ContinuousBernoulli(probs=p, validate_args=False).log_prob(target)
    else:
        raise UsageError(f"likelihood {lik!r}: this peer knows bernoulli, gaussian and continuous-bernoulli")
    nll = nll.mean(-1) if o["pixels"] == "mean" else nll.sum(-1)
    recon = nll.mean(0) if logits.dim() == 3 else nll
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)
    return recon, kl


def vae_loss(logits, x, mu, logvar, cfg=DEFAULT_CONFIG):
    """(the batch objective whose gradient is taken, summed recon, summed KL), all in nats; the example's code
    for its configuration."""
    if cfg is DEFAULT_CONFIG:
        recon = F.binary_cross_entropy_with_logits(logits, x.view(-1, INPUT_DIM), reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return recon + kl, recon, kl
    recon, kl = per_image_losses(cfg, logits, x, mu, logvar)
    loss = recon + cfg["beta"] * kl_weight(cfg, recon.shape[0]) * kl
    total = loss.mean() if objective(cfg)["batch"] == "mean" else loss.sum()
    return total, recon.sum(), kl.sum()


# ----------------------------------------------------------------------------------------------
# Models as layers (impl/model/layers.h): convolutional VAEs, from a config's "layers" JSON
# ----------------------------------------------------------------------------------------------
# The JSON of a layer list, as `to_json(ModelSpec)` writes it (and case metadata carries it under
# config["layers"]): {"input": [C, H, W], "latent": Z, "encoder": [layer...], "decoder": [layer...]},
# a layer {"type": "dense", "out_features": N, ["shape": [C, H, W],] "activation": A} or
# {"type": "conv2d" | "conv_transpose2d", "out_channels", "kernel", "stride", "padding",
#  ["output_padding" (transposed only),] "batch_norm", "activation"}. Written here from that
# description (PyTorch's shape formulas), not from the C++ code.
LAYER_KEYS = {
    "dense": ({"type", "out_features", "activation"}, {"shape", "negative_slope"}),
    "conv2d": ({"type", "out_channels", "kernel", "stride", "padding", "batch_norm", "activation"}, {"negative_slope"}),
    "conv_transpose2d": ({"type", "out_channels", "kernel", "stride", "padding", "output_padding", "batch_norm",
                          "activation"}, {"negative_slope"}),
}
# Each layer's activation as PyTorch's functional form; leaky_relu takes the layer's "negative_slope".
ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "none": lambda h: h, "elu": F.elu, "gelu": F.gelu,
               "gelu_tanh": lambda h: F.gelu(h, approximate="tanh"), "silu": F.silu,
               "leaky_relu": None}


def _dense(n, act, shape=None):
    return {"type": "dense", "out_features": n, **({"shape": list(shape)} if shape else {}), "activation": act}


def _conv(c, k, s, p, act, bn=False):
    return {"type": "conv2d", "out_channels": c, "kernel": k, "stride": s, "padding": p, "batch_norm": bn,
            "activation": act}


def _conv_t(c, k, s, p, op, act, bn=False):
    return {"type": "conv_transpose2d", "out_channels": c, "kernel": k, "stride": s, "padding": p,
            "output_padding": op, "batch_norm": bn, "activation": act}


# The presets of impl/model/layers.cpp (vaebench --model NAME), the seeds' ConvVAE and CelebAVAE.
PRESETS = {
    # 1x28x28 -> 32x14x14 -> 64x7x7 -> 128x3x3; back: dense to 128x3x3, 3 -> 7 (output padding 1) -> 14 -> 28.
    "conv-mnist": {"input": [1, 28, 28], "latent": 20,
                   "encoder": [_conv(32, 4, 2, 1, "relu"), _conv(64, 4, 2, 1, "relu"), _conv(128, 4, 2, 1, "relu")],
                   "decoder": [_dense(1152, "none", (128, 3, 3)), _conv_t(64, 4, 2, 1, 1, "relu"),
                               _conv_t(32, 4, 2, 1, 0, "relu"), _conv_t(1, 4, 2, 1, 0, "none")]},
    # 3x64x64 -> 32x32x32 -> ... -> 256x4x4, batch norm on every hidden conv; the mirror back.
    "conv-celeba64": {"input": [3, 64, 64], "latent": 256,
                      "encoder": [_conv(c, 4, 2, 1, "relu", True) for c in (32, 64, 128, 256)],
                      "decoder": [_dense(4096, "none", (256, 4, 4))] +
                                 [_conv_t(c, 4, 2, 1, 0, "relu", True) for c in (128, 64, 32)] +
                                 [_conv_t(3, 4, 2, 1, 0, "none")]},
}
MODELS = ("mlp",) + tuple(PRESETS)


def layered_config(model, spec, **overrides):
    """A vaebench configuration (config.h's JSON) for a model given as layers."""
    cfg = {"model": model, "layers": spec, "input_dim": math.prod(spec["input"]), "latent": spec["latent"],
           "likelihood": "bernoulli", "beta": 1.0, "samples": 1, "init": "torch", "seed": 0}
    cfg.update(overrides)
    return cfg


def preset_config(name, latent=None):
    if name == "mlp":
        return dict(DEFAULT_CONFIG, **({"latent": latent} if latent else {}))
    spec = json.loads(json.dumps(PRESETS[name]))  # a copy
    if latent:
        spec["latent"] = latent
    return layered_config(name, spec)


class LayerPlan:
    """One layer with its shapes derived: prefix (parameter names), role, spec, in/out shapes, MACs per image."""

    def __init__(self, role, key, prefix, label, spec, shape_in, shape_out, out_flat, macs):
        self.role, self.key, self.prefix, self.label, self.spec = role, key, prefix, label, spec
        self.shape_in, self.shape_out, self.out_flat, self.macs = shape_in, shape_out, out_flat, macs
        self.kind = spec["type"]
        self.batch_norm = bool(spec.get("batch_norm", False))
        self.activation = spec["activation"]


def _check_layer(where, spec):
    if not isinstance(spec, dict) or spec.get("type") not in LAYER_KEYS:
        raise UsageError(f"model JSON: {where}: not a layer (\"type\" dense, conv2d or conv_transpose2d): {spec!r}")
    need, optional = LAYER_KEYS[spec["type"]]
    missing, unknown = need - spec.keys(), spec.keys() - need - optional
    if missing or unknown:
        raise UsageError(f"model JSON: {where}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}")
    for k, v in spec.items():
        if k in ("type", "activation", "shape", "batch_norm", "negative_slope"):
            continue
        low = 0 if k in ("padding", "output_padding") else 1
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise UsageError(f"model JSON: {where}.{k}: {v!r} is not an integer >= {low}")
    if spec["activation"] not in ACTIVATIONS:
        raise UsageError(f"model JSON: {where}.activation: {spec['activation']!r} (one of {sorted(ACTIVATIONS)})")
    if (spec["activation"] == "leaky_relu") != ("negative_slope" in spec):
        raise UsageError(f"model JSON: {where}: negative_slope goes with the activation leaky_relu, and only there")
    if "batch_norm" in spec and not isinstance(spec["batch_norm"], bool):
        raise UsageError(f"model JSON: {where}.batch_norm: {spec['batch_norm']!r} is not true/false")
    if "shape" in spec:
        s = spec["shape"]
        if not (isinstance(s, list) and len(s) == 3 and all(isinstance(d, int) and d >= 1 for d in s)) \
                or math.prod(s) != spec["out_features"]:
            raise UsageError(f"model JSON: {where}.shape: {s!r} is not [C, H, W] with C*H*W = out_features")


def derive_layers(spec):
    """Every layer of a layers JSON in order (encoder, mu, logvar, decoder, output) with its shapes;
    UsageError naming the layer for a model that cannot be built."""
    if not isinstance(spec, dict) or set(spec) != {"input", "latent", "encoder", "decoder"}:
        got = sorted(spec) if isinstance(spec, dict) else type(spec).__name__
        raise UsageError(f"model JSON: expected keys input, latent, encoder, decoder; got {got}")
    shape = tuple(spec["input"])
    if len(shape) != 3 or not all(isinstance(d, int) and d >= 1 for d in shape):
        raise UsageError(f"model JSON: input {spec['input']!r} is not [C, H, W]")
    latent = spec["latent"]
    if not spec["decoder"]:
        raise UsageError("model JSON: the decoder needs at least its output layer")
    plans = []

    def add(role, key, stack, i, layer, shape_in, flat_in):
        name = {"encoder": "encoder", "decoder": "decoder", "output": "decoder"}.get(role, "head")
        label = f"{name} layer {i} ({layer['type']})" if role != "head" else f"head {key}"
        prefix = ("enc." if stack == "enc" else "dec.") + key
        c, h, w = shape_in
        if layer["type"] == "dense":
            n = layer["out_features"]
            out = tuple(layer["shape"]) if "shape" in layer else (n, 1, 1)
            plan = LayerPlan(role, key, prefix, label, layer, shape_in, out, "shape" not in layer, c * h * w * n)
        else:
            if flat_in:
                raise UsageError(f"{label}: a conv layer needs a C x H x W input (the model's input, a conv layer "
                                 "or a dense layer with a \"shape\"), not a flat vector")
            k, s, p, co = layer["kernel"], layer["stride"], layer["padding"], layer["out_channels"]
            if layer["type"] == "conv2d":
                ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
                macs = co * ho * wo * c * k * k
            else:
                op = layer["output_padding"]
                if op >= s:
                    raise UsageError(f"{label}: output_padding {op} must be below the stride {s}")
                ho, wo = (h - 1) * s - 2 * p + k + op, (w - 1) * s - 2 * p + k + op
                macs = c * h * w * co * k * k
            if ho < 1 or wo < 1:
                raise UsageError(f"{label}: input {c}x{h}x{w} gives an empty output {co}x{ho}x{wo}")
            plan = LayerPlan(role, key, prefix, label, layer, shape_in, (co, ho, wo), False, macs)
        if plan.batch_norm and plan.kind == "dense":
            raise UsageError(f"{label}: batch norm is for conv layers only")
        plans.append(plan)
        return plan.shape_out, plan.out_flat

    cur, flat = shape, False
    for i, layer in enumerate(spec["encoder"]):
        _check_layer(f"encoder[{i}]", layer)
        cur, flat = add("encoder", str(i), "enc", i, layer, cur, flat)
    body = (math.prod(cur), 1, 1)
    for key in ("mu", "logvar"):
        add("head", key, "enc", 0, _dense(latent, "none"), body, True)
    cur, flat = (latent, 1, 1), True
    last = len(spec["decoder"]) - 1
    for i, layer in enumerate(spec["decoder"]):
        _check_layer(f"decoder[{i}]", layer)
        cur, flat = add("output" if i == last else "decoder", "out" if i == last else str(i), "dec", i, layer, cur,
                        flat)
    out = plans[-1]
    if out.activation != "none" or out.batch_norm:
        raise UsageError(f"{out.label}: the output layer gives the logits: activation none, no batch norm")
    if math.prod(cur) != math.prod(shape) or (not flat and cur != shape):
        raise UsageError(f"{out.label}: gives {'x'.join(map(str, cur))}, the input is {'x'.join(map(str, shape))}")
    return plans


def mlp_plans(cfg):
    """An MLP configuration as the same plans (for the FLOP count)."""
    plans, widths = [], [cfg["input_dim"]] + list(cfg["hidden"])
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        plans.append(LayerPlan("encoder", str(i), f"enc.{i}", "", _dense(b, cfg["activation"]), (a, 1, 1),
                               (b, 1, 1), True, a * b))
    for key in ("mu", "logvar"):
        plans.append(LayerPlan("head", key, f"enc.{key}", "", _dense(cfg["latent"], "none"), (widths[-1], 1, 1),
                               (cfg["latent"], 1, 1), True, widths[-1] * cfg["latent"]))
    widths = [cfg["latent"]] + list(cfg["decoder_hidden"]) + [cfg["input_dim"]]
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        last = i == len(widths) - 2
        plans.append(LayerPlan("output" if last else "decoder", "out" if last else str(i),
                               "dec.out" if last else f"dec.{i}", "", _dense(b, "none" if last else cfg["activation"]),
                               (a, 1, 1), (b, 1, 1), True, a * b))
    return plans


def is_layered(cfg):
    return "layers" in cfg


def model_name(cfg):
    return cfg.get("model", "custom") if is_layered(cfg) else "mlp"


class LayeredVAE(nn.Module):
    """A vaebench model given as layers: one torch module per layer, named as the flat layout names
    its parameters, so state_dict() maps 1:1 onto a case file's param.<name> tensors:
      dense            nn.Linear(in_features, out_features)        enc.<i>.weight [out, in], .bias
      conv2d           nn.Conv2d(in, out, k, s, p)                 enc.<i>.weight [out, in, k, k]
      conv_transpose2d nn.ConvTranspose2d(in, out, k, s, p, op)    dec.<i>.weight [in, out, k, k]
      + batch norm     nn.BatchNorm2d(out) as child "bn" of the conv: <prefix>.bn.weight|bias (gamma, beta),
                       buffers <prefix>.bn.running_mean|running_var|num_batches_tracked (not parameters)
    in ModuleDicts enc ("0".., "mu", "logvar") and dec ("0".., "out"). Per layer: the module, then batch
    norm (after the conv, before the activation), then the activation. A dense layer flattens a
    C x H x W input per image first and views its output as its "shape" when it has one.
    Batch norm is nn.BatchNorm2d's: in training mode (the validation path, train steps) it
    normalises by the batch's statistics (biased variance, eps 1e-5) and updates the running
    statistics as a side effect, which training mode never reads; in eval mode it uses them."""

    def __init__(self, cfg):
        super().__init__()
        spec = cfg["layers"]
        self.plans = derive_layers(spec)
        self.input_shape, self.latent = tuple(spec["input"]), spec["latent"]
        self.input_dim = math.prod(self.input_shape)
        if cfg.get("latent", self.latent) != self.latent or cfg.get("input_dim", self.input_dim) != self.input_dim:
            raise UsageError(f"config: latent {cfg.get('latent')} / input_dim {cfg.get('input_dim')} do not match "
                             f"the layers' {self.latent} / {self.input_dim}")
        enc, dec = {}, {}
        for p in self.plans:
            (enc if p.role in ("encoder", "head") else dec)[p.key] = self._module(p)
        self.enc, self.dec = nn.ModuleDict(enc), nn.ModuleDict(dec)
        self.body = [p for p in self.plans if p.role == "encoder"]
        self.head = [p for p in self.plans if p.role in ("decoder", "output")]

    @staticmethod
    def _module(p):
        s, c_in = p.spec, p.shape_in[0]
        if p.kind == "dense":
            m = nn.Linear(math.prod(p.shape_in), s["out_features"])
        elif p.kind == "conv2d":
            m = nn.Conv2d(c_in, s["out_channels"], s["kernel"], s["stride"], s["padding"])
        else:
            m = nn.ConvTranspose2d(c_in, s["out_channels"], s["kernel"], s["stride"], s["padding"],
                                   output_padding=s["output_padding"])
        if p.batch_norm:
            m.bn = nn.BatchNorm2d(s["out_channels"])  # eps 1e-5, momentum 0.1: layers.h's kBatchNorm*
        return m

    @staticmethod
    def _layer(p, m, h):
        if p.kind == "dense":
            h = m(h.flatten(1))
            if not p.out_flat:
                h = h.view(-1, *p.shape_out)
        else:
            h = m(h)
        if p.batch_norm:
            h = m.bn(h)
        if p.activation == "leaky_relu":
            return F.leaky_relu(h, p.spec["negative_slope"])
        return ACTIVATIONS[p.activation](h)

    def encode(self, x):
        h = x.view(-1, *self.input_shape)  # x [B, C*H*W] in NCHW order
        for p in self.body:
            h = self._layer(p, self.enc[p.key], h)
        h = h.flatten(1)
        return self.enc["mu"](h), self.enc["logvar"](h)

    def reparameterize(self, mu, logvar, eps=None):
        std = torch.exp(0.5 * logvar)
        if eps is None:
            eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        lead = z.shape[:-1]  # [B] or [K, B]: the decoder runs on K*B codes (batch norm's batch)
        h = z.reshape(-1, self.latent)
        for p in self.head:
            h = self._layer(p, self.dec[p.key], h)
        return h.reshape(*lead, self.input_dim)  # logits [K, B, C*H*W] in NCHW order

    def forward(self, x, eps=None):
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar, eps)), mu, logvar


def make_model(cfg):
    return LayeredVAE(cfg) if is_layered(cfg) else VAE(cfg)


def count_flops(batch, samples=1, cfg=DEFAULT_CONFIG):
    """(forward, backward) FLOP of the dense and conv layers; mirrors vae::count_flops in impl/model/flops.h:
    per layer 2 * rows * MACs + one bias add per output element forward; backward the weight gradient,
    the bias gradient and the data gradient (none for the first encoder layer: the data needs none).
    Encoder layers see B rows, decoder layers K*B. Batch norm and element-wise work are not counted."""
    plans = derive_layers(cfg["layers"]) if is_layered(cfg) else mlp_plans(cfg)
    fwd = bwd = 0.0
    b, kb = float(batch), float(samples * batch)
    for p in plans:
        rows = b if p.role in ("encoder", "head") else kb
        mac, bias = 2.0 * rows * p.macs, rows * math.prod(p.shape_out)
        input_needs_grad = not (p.role == "encoder" and p.key == "0")
        fwd += mac + bias
        bwd += mac + bias + (mac if input_needs_grad else 0.0)
    return fwd, bwd


assert sum(count_flops(1)) == 3_283_248, "FLOP count disagrees with impl/model/flops.h"


class Runner:
    """A fresh model + Adam and its (possibly compiled) train-step and eval functions for one mode."""

    def __init__(self, mode, device, seed, cfg=DEFAULT_CONFIG, adam=None, dtype=torch.float32, amp=None):
        self.dtype, self.amp, self.device_type = dtype, amp, torch.device(device).type
        if mode != "python-eager":
            torch._dynamo.reset()  # every benchmark compiles its own graphs
        torch.manual_seed(seed)
        self.model = make_model(cfg).to(device=device, dtype=dtype)
        # The example's own loss code for its configuration (what is timed), the general one otherwise.
        self.cfg = DEFAULT_CONFIG if all(cfg.get(k) == v for k, v in DEFAULT_CONFIG.items()) else cfg
        if adam is None:
            self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)  # the example's
        else:
            self.opt = torch.optim.Adam(self.model.parameters(), lr=adam["lr"], betas=(adam["beta1"], adam["beta2"]),
                                        eps=adam["eps"])
        self.mark_step = mode == "python-compile-reduce-overhead"
        net = self.model
        step, evaluate, outputs = self._train_step, self._eval_batch, self._per_image
        if mode != "python-eager":
            kw = {"mode": "reduce-overhead"} if self.mark_step else {}
            net = torch.compile(self.model, dynamic=False, **kw)
            step = torch.compile(step, dynamic=False, **kw)
            evaluate = torch.compile(evaluate, dynamic=False, **kw)
            outputs = torch.compile(outputs, dynamic=False, **kw)
        self.net, self._step_fn, self._eval_fn, self._outputs_fn = net, step, evaluate, outputs

    def _forward(self, x, eps=None):
        """The model under autocast when the precision has one; its outputs in the parameters' dtype."""
        with torch.autocast(self.device_type, dtype=self.amp or torch.bfloat16, enabled=self.amp is not None):
            logits, mu, logvar = self.net(x, eps)
        return logits.to(self.dtype), mu.to(self.dtype), logvar.to(self.dtype)

    def _train_step(self, x, eps=None):
        self.opt.zero_grad(set_to_none=True)
        logits, mu, logvar = self._forward(x, eps)
        loss, recon, kl = vae_loss(logits, x, mu, logvar, self.cfg)
        loss.backward()
        self.opt.step()
        return torch.stack([loss, recon, kl]).detach()

    def _eval_batch(self, x):
        with torch.no_grad():
            logits, mu, logvar = self._forward(x)
            loss, recon, kl = vae_loss(logits, x, mu, logvar, self.cfg)
        return torch.stack([loss, recon, kl]), mu, logvar

    def _per_image(self, x, eps):
        with torch.no_grad():
            logits, mu, logvar = self._forward(x, eps)
            return torch.stack(per_image_losses(self.cfg, logits, x, mu, logvar))

    def train_step(self, x, eps=None):
        """[loss, recon, kl] summed over the batch; consume before the next call (CUDA graphs reuse it).
        eps: the noise (a validation case's), else randn as in the example."""
        if self.mark_step:
            torch.compiler.cudagraph_mark_step_begin()
        return self._step_fn(x, eps)

    def per_image(self, x, eps):
        """[recon, kl] per image with the given noise."""
        if self.mark_step:
            torch.compiler.cudagraph_mark_step_begin()
        return self._outputs_fn(x, eps)

    def eval_batch(self, x):
        if self.mark_step:
            torch.compiler.cudagraph_mark_step_begin()
        return self._eval_fn(x)

    def train_epoch(self, images, batch, gen_seed, sums=None):
        """One shuffled epoch, the last partial batch included; adds [loss, recon, kl] into sums."""
        gen = torch.Generator().manual_seed(gen_seed)
        perm = torch.randperm(images.shape[0], generator=gen).to(images.device)
        steps = 0
        for begin in range(0, images.shape[0], batch):
            out = self.train_step(images[perm[begin:begin + batch]].float().div_(255))
            if sums is not None:
                sums += out.double()
            steps += 1
        return steps


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------
def load_idx_images(path):
    """uint8 tensor [count, rows*cols] from a gzip'ed IDX3 file; UsageError naming the file if bad."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise UsageError(f"{path}: cannot read gzip'ed IDX file: {e}") from e
    if len(raw) < 16:
        raise UsageError(f"{path}: too short for an IDX3 header ({len(raw)} bytes)")
    magic, count, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != IDX_IMAGES_MAGIC:
        raise UsageError(f"{path}: IDX magic 0x{magic:08x}, expected 0x{IDX_IMAGES_MAGIC:08x} (uint8 images)")
    if rows * cols != INPUT_DIM:
        raise UsageError(f"{path}: images are {rows}x{cols}, expected 28x28")
    if len(raw) != 16 + count * rows * cols:
        raise UsageError(f"{path}: {len(raw) - 16} data bytes, header promises {count}x{rows}x{cols}")
    return torch.from_numpy(np.frombuffer(raw, np.uint8, offset=16).reshape(count, INPUT_DIM).copy())


def load_split(data_dir, name, device):
    return load_idx_images(os.path.join(data_dir, f"{name}-images-idx3-ubyte.gz")).to(device)


# ----------------------------------------------------------------------------------------------
# Environment
# ----------------------------------------------------------------------------------------------
def resolve_mkl_vml_dispatch():
    """As impl/libtorch/vml_dispatch.h: oneMKL 2024.2 (inside torch's wheels) picks each VML
    function's kernel on its first call, and a first call racing on several threads can run the
    low-accuracy kernel for one chunk (pytorch/pytorch#188792). One single-threaded call per
    function and precision, before any other math, settles the choice."""
    with torch.no_grad():
        for dtype in (torch.float32, torch.float64):
            t = torch.full((1,), 0.5, dtype=dtype)
            for op in (torch.acos, torch.asin, torch.atan, torch.cos, torch.erf, torch.erfc, torch.erfinv,
                       torch.exp, torch.log, torch.log10, torch.log2, torch.sin, torch.sqrt, torch.tan,
                       torch.tanh, torch.trunc):
                op(t)


def setup_torch(args):
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available to this PyTorch")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    resolve_mkl_vml_dispatch()
    return torch.device(args.device)


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def write_json_atomically(files):
    """files: {path: object}. Writes every PATH.tmp first, then renames them all: nothing half-written."""
    tmps = []
    try:
        for path, obj in files.items():
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                tmps.append(tmp)
                json.dump(obj, f, indent=2)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
        for path in files:
            os.replace(path + ".tmp", path)
    except OSError as e:
        for tmp in tmps:
            if os.path.exists(tmp):
                os.remove(tmp)
        raise UsageError(f"{e.filename or '?'}: cannot write: {e.strerror or e}") from e


def check_writable(option, path):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise UsageError(f"{option} {path}: folder {folder} does not exist or is not writable")


# ----------------------------------------------------------------------------------------------
# bench
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# train
# ----------------------------------------------------------------------------------------------
def evaluate(runner, test_images, device):
    """Held-out metrics, per image, in batches of 1000 (no_grad, z sampled as in the example)."""
    runner.model.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    mus, sigmas = [], []
    for begin in range(0, test_images.shape[0], 1000):
        out, mu, logvar = runner.eval_batch(test_images[begin:begin + 1000].float().div_(255))
        sums += out.double()
        mus.append(mu.double())
        sigmas.append(torch.exp(0.5 * logvar.double()))
    runner.model.train()
    n = test_images.shape[0]
    loss, recon, kl = (v / n for v in sums.tolist())
    mu, sigma = torch.cat(mus), torch.cat(sigmas)
    return {"loss": loss, "recon": recon, "kl": kl, "mu_mean": mu.mean().item(),
            "mu_rms": mu.square().mean().sqrt().item(), "sigma_mean": sigma.mean().item(),
            "active_units": int((mu.var(0, unbiased=False) > 0.01).sum().item())}


def cmd_train(args):
    check_writable("--out", args.out)
    device = setup_torch(args)
    train_images = load_split(args.data, "train", device)
    test_images = load_split(args.data, "t10k", device)
    cfg = preset_config(args.model) if args.model != "mlp" else DEFAULT_CONFIG
    if is_layered(cfg) and math.prod(cfg["layers"]["input"]) != train_images.shape[1]:
        raise UsageError(f"--model {args.model}: its input {cfg['layers']['input']} is not MNIST's 1x28x28")
    dtype, amp = PRECISIONS[args.precision]
    runner = Runner(args.mode, device, args.seed, cfg, dtype=dtype, amp=amp)
    n = train_images.shape[0]
    epochs, ttq, diverged, wall, step = [], None, None, 0.0, 0
    for epoch in range(1, args.epochs + 1):
        sums = torch.zeros(3, dtype=torch.float64, device=device)
        sync(device)
        t0 = time.perf_counter()
        step += runner.train_epoch(train_images, args.batch, args.seed + epoch, sums)
        sync(device)
        train_seconds = time.perf_counter() - t0
        train = dict(zip(("loss", "recon", "kl"), (v / n for v in sums.tolist())))
        t0 = time.perf_counter()
        test = evaluate(runner, test_images, device)
        sync(device)
        eval_seconds = time.perf_counter() - t0
        wall += train_seconds + eval_seconds
        epochs.append({"epoch": epoch, "step": step, "train": train, "test": test,
                       "samples_per_second": n / train_seconds, "train_seconds": train_seconds,
                       "eval_seconds": eval_seconds, "wall_seconds": wall})
        print(f"epoch {epoch}: train loss {train['loss']:.3f}  test loss {test['loss']:.3f} "
              f"(recon {test['recon']:.3f}, kl {test['kl']:.3f})  {n / train_seconds:.0f} samples/s  "
              f"train {train_seconds:.2f} s  eval {eval_seconds:.2f} s", file=sys.stderr, flush=True)
        if not np.isfinite(train["loss"]) or not np.isfinite(test["loss"]):
            diverged = {"epoch": epoch, "step": step, "reason": "non-finite loss"}
            print(f"diverged in epoch {epoch}", file=sys.stderr)
            break
        if ttq is None and args.target_loss is not None and test["loss"] <= args.target_loss:
            ttq = {"epoch": epoch, "train_seconds": sum(e["train_seconds"] for e in epochs), "wall_seconds": wall}
            print(f"target test loss {args.target_loss} reached in epoch {epoch} after {wall:.2f} s",
                  file=sys.stderr)
            if args.stop_at_target:
                break
    history = {
        "format": "vaebench training history v1",
        "backend": {"name": args.mode, "device": device.type, "precision": args.precision,
                    "torch_threads": torch.get_num_threads()},
        "config": ({"activation": "relu", "beta": 1.0, "decoder_hidden": [HIDDEN], "hidden": [HIDDEN],
                    "init": "torch", "input_dim": INPUT_DIM, "latent": LATENT, "likelihood": "bernoulli",
                    "samples": 1, "seed": args.seed} if not is_layered(cfg) else dict(cfg, seed=args.seed)),
        "training": {"backend": args.mode, "batch": args.batch, "epochs": args.epochs, "lr": 0.001,
                     "beta1": 0.9, "beta2": 0.999, "adam_eps": 1e-08, "seed": args.seed,
                     "device": device.type, "precision": args.precision, "binarize": "none",
                     "target_loss": args.target_loss, "stop_at_target": args.stop_at_target},
        "epochs": epochs,
        "time_to_quality": {"target_loss": args.target_loss, "reached": ttq is not None,
                            "epoch": ttq and ttq["epoch"], "train_seconds": ttq and ttq["train_seconds"],
                            "wall_seconds": ttq and ttq["wall_seconds"]},
        "diverged": diverged, "iw": None, "pictures": [],
        "manifest": {"python": platform.python_version(), "torch": torch.__version__,
                     "device_name": device_name(device)},
    }
    write_json_atomically({args.out: history})
    return 0


# ----------------------------------------------------------------------------------------------
# cases: the peers' results on vaebench's validation cases (docs/case-format.md)
# ----------------------------------------------------------------------------------------------
CASE_FORMAT = "vaebench case v1"


def read_case(path):
    """(config, Adam hyper-parameters, parameter names, tensors) of a case file; UsageError naming it if bad."""
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(path)
    except Exception as e:  # noqa: BLE001 -- safetensors raises several types for a bad file
        raise UsageError(f"{path}: cannot read as safetensors: {e}") from e
    if meta.get("format") != CASE_FORMAT:
        raise UsageError(f"{path}: metadata format is {meta.get('format')!r}, expected {CASE_FORMAT!r}")
    return json.loads(meta["config"]), json.loads(meta["adam"]), json.loads(meta["parameters"]), tensors


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
        raise UsageError(f"{path}: state not loaded: missing {result.missing_keys}, unexpected {result.unexpected_keys}")


def compute_case(mode, device, path, dtype=torch.float32, amp=None):
    """The results tensors of one case with one mode, in float32 (the peers' precision; what is timed),
    with amp bfloat16 the same under autocast (written in float32), or with dtype float64 the same code in
    float64 (a check of the model at the fp64 tolerances)."""
    cfg, adam, names, t = read_case(path)
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
            except UsageError:
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
            tmp = target + ".tmp"
            save_file(tensors, tmp, metadata={
                "implementation": f"bench/python_peer.py {mode} (torch {torch.__version__})",
                "precision": args.precision, "device": device.type, "case": case})
            os.replace(tmp, target)  # whole files only
        print(f"{mode} on {device.type}: {len(files) - failures}/{len(files)} cases in "
              f"{time.perf_counter() - start:.1f} s -> {folder}", file=sys.stderr, flush=True)
    return 0


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------
def comma_list(choices=None, convert=str, name="value"):
    def parse(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError("empty list")
        out = []
        for t in items:
            if choices and t not in choices:
                raise argparse.ArgumentTypeError(f"unknown {name} '{t}' (choose from {', '.join(choices)})")
            try:
                v = convert(t)
            except ValueError:
                raise argparse.ArgumentTypeError(f"'{t}' is not a valid {name}") from None
            if convert is int and v < 1:
                raise argparse.ArgumentTypeError(f"{name} {v} must be at least 1")
            out.append(v)
        return out
    return parse


def positive(convert):
    def parse(text):
        try:
            v = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        if not v > 0:
            raise argparse.ArgumentTypeError(f"{text} must be positive")
        return v
    return parse


def build_parser():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--threads", type=int, default=0, help="torch.set_num_threads when > 0")
    common.add_argument("--data", default=os.path.join(repo, "data", "mnist"), help="folder with the MNIST IDX .gz files")

    b = sub.add_parser("bench", parents=[common], help="throughput benchmarks in Google Benchmark JSON")
    b.add_argument("--modes", type=comma_list(MODES, name="mode"), default=["python-eager"])
    b.add_argument("--kinds", type=comma_list(KINDS, name="kind"), default=list(KINDS))
    b.add_argument("--batches", type=comma_list(convert=int, name="batch"), default=[128])
    b.add_argument("--epoch-batches", type=comma_list(convert=int, name="batch"), default=None,
                   help="batch sizes for train_epoch (default: --batches)")
    b.add_argument("--precision", type=comma_list(("fp32", "bf16"), name="precision"), default=["fp32"],
                   help="fp32 and/or bf16 (torch.autocast bfloat16), as vaebench-bench --precision")
    b.add_argument("--repetitions", type=positive(int), default=3)
    b.add_argument("--min-time", type=positive(float), default=0.5, help="seconds per repetition")
    b.add_argument("--family-index-start", type=int, default=1000)
    b.add_argument("--out", help="write a Google Benchmark JSON here")
    b.add_argument("--merge-into", help="append the entries to this Google Benchmark JSON (atomically)")
    b.add_argument("--model", choices=MODELS, default="mlp",
                   help="mlp (the example's, default) | conv-mnist | conv-celeba64 (the seeds' ConvVAE and CelebAVAE, "
                        "as vaebench --model; conv-celeba64 runs on seeded synthetic 3x64x64 images)")
    b.add_argument("--latent", type=positive(int), default=None, help="the preset's latent size (default: its own)")
    b.add_argument("--config", help="the model from a config JSON (vaebench's, with \"layers\" for a model as layers, "
                                    "or a bare layers JSON), or a case file / checkpoint whose metadata has one")
    b.add_argument("--synthetic-images", type=positive(int), default=60000,
                   help="how many synthetic images a model without its data set gets (default 60000, as MNIST's "
                        "training split and vaebench-bench)")

    t = sub.add_parser("train", parents=[common], help="train and record the test-loss curve")
    t.add_argument("--mode", choices=MODES, default="python-eager")
    t.add_argument("--model", choices=MODELS, default="mlp",
                   help="the architecture (a preset, as vaebench's --model); the recipe is the same")
    t.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="bf16: torch.autocast bfloat16")
    t.add_argument("--epochs", type=positive(int), default=10)
    t.add_argument("--batch", type=positive(int), default=128)
    t.add_argument("--target-loss", type=float, default=None, help="test loss (nats) for time to quality")
    t.add_argument("--stop-at-target", action="store_true")
    t.add_argument("--out", required=True, help="history JSON")

    c = sub.add_parser("cases", parents=[common], help="results files for vaebench's exported validation cases")
    c.add_argument("dir", help="folder of `vaebench cases export`")
    c.add_argument("--modes", type=comma_list(MODES, name="mode"), default=["python-eager"])
    c.add_argument("--case", help="only these cases (comma list)")
    c.add_argument("--precision", choices=tuple(PRECISIONS), default="fp32",
                   help="fp32 (default: what the peer times), bf16 (the same under torch.autocast bfloat16, judged "
                        "at bf16) or fp64 (the same code in float64, judged at fp64)")
    c.add_argument("--out", help="results go to OUT/<mode>/<case>.safetensors (default: DIR-results)")
    return p


def fp32_means_fp32():
    """PyTorch runs cuDNN's fp32 convolutions in TF32 by default: the peer's fp32 would be tf32 on a GPU
    for the conv models. fp32 here is IEEE fp32 for both libraries, as vaebench's LibTorch backends set it
    (libtorch/autocast.h, the same switches). The legacy flags: after them both the legacy and the new
    fp32_precision API read consistently (setting the new API's conv flag alone makes a later read of
    torch.backends.cudnn.allow_tf32, which torch.compile does, raise in this torch)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def main(argv=None):
    args = build_parser().parse_args(argv)
    fp32_means_fp32()
    try:
        return {"bench": cmd_bench, "train": cmd_train, "cases": cmd_cases}[args.command](args)
    except UsageError as e:
        print(f"python_peer.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
