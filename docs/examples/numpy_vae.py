#!/usr/bin/env python3
"""A VAE in NumPy alone (float64, hand-written backward), written from docs/case-format.md to
show that any implementation can be checked by vaebench. Shares no code with vaebench or its
Python peer; even the safetensors files are read and written by hand below.

It computes the MLP cases with the default objective (docs/case-format.md, section 2) and skips
every other case with one line naming the case and why: a model given as layers (conv, batch
norm: bench/python_peer.py computes those) or a declared objective other than the default
(docs/objectives.md). At the end it prints the cases it wrote, for `validate --case`.

usage: numpy_vae.py CASES_DIR RESULTS_DIR
then:  vaebench validate --external numpy=RESULTS_DIR --external-precision fp64 --case <the cases it wrote>
       (with the --matrix and model options of the export)
"""
import glob
import json
import math
import os
import struct
import sys

import numpy as np

DTYPES = {"F64": np.float64, "F32": np.float32}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = blob[8 + n:]
    tensors = {name: np.frombuffer(data[e["data_offsets"][0]:e["data_offsets"][1]], DTYPES[e["dtype"]]).reshape(e["shape"])
               for name, e in header.items()}
    return tensors, meta


def write_safetensors(path, tensors, meta):
    header, chunks, offset = {"__metadata__": meta}, [], 0
    for name, t in tensors.items():
        b = np.ascontiguousarray(t, dtype=np.float64).tobytes()
        header[name] = {"dtype": "F64", "shape": list(np.shape(t)), "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))
    os.replace(path + ".tmp", path)


def sigmoid(o):
    return 0.5 * (1 + np.tanh(0.5 * o))  # no overflow for large |o|


def linear(p, name, h):
    return h @ p[name + ".weight"].T + p[name + ".bias"]


def unsupported(cfg):
    """Why this example cannot compute a case of this configuration, or None."""
    if "layers" in cfg:
        layers = cfg["layers"]["encoder"] + cfg["layers"]["decoder"]
        kinds = sorted({l["type"] for l in layers} | ({"batch_norm"} if any(l.get("batch_norm") for l in layers) else set()))
        return f"model {cfg.get('model')!r} is given as layers ({', '.join(kinds)}); this example computes the MLP only"
    if cfg.get("likelihood") not in ("bernoulli", "gaussian"):
        return f"likelihood {cfg.get('likelihood')!r}; this example computes bernoulli and gaussian only"
    if cfg.get("activation") not in ("relu", "tanh"):
        return f"activation {cfg.get('activation')!r}; this example computes relu and tanh only"
    if cfg.get("objective"):  # the config carries it only when it is not the default
        return f"objective {json.dumps(cfg['objective'], separators=(',', ':'))}; this example computes the default only"
    return None


def forward_backward(cfg, p, x, eps):
    """Per-image recon and KL, and the gradient of sum_b (recon_b + beta kl_b)."""
    relu = cfg["activation"] == "relu"
    act = (lambda a: np.maximum(a, 0)) if relu else np.tanh
    dact = (lambda a, y: (a > 0).astype(a.dtype)) if relu else (lambda a, y: 1 - y * y)
    K, B, D = eps.shape[0], x.shape[0], x.shape[1]
    beta = cfg["beta"]
    # forward, keeping each layer's input and pre-activation
    enc, h = [], x
    for i in range(len(cfg["hidden"])):
        a = linear(p, f"enc.{i}", h)
        enc.append((h, a))
        h = act(a)
    mu, logvar = linear(p, "enc.mu", h), linear(p, "enc.logvar", h)
    std = np.exp(0.5 * logvar)
    z = mu + std * eps                                   # [K, B, Z]
    dec, g = [], z.reshape(K * B, -1)
    for i in range(len(cfg["decoder_hidden"])):
        a = linear(p, f"dec.{i}", g)
        dec.append((g, a))
        g = act(a)
    o = linear(p, "dec.out", g).reshape(K, B, D)
    if cfg["likelihood"] == "bernoulli":
        nll = (np.maximum(o, 0) - o * x + np.log1p(np.exp(-np.abs(o)))).sum(-1)
        do = (sigmoid(o) - x) / K
    else:
        m = sigmoid(o)
        nll = 0.5 * ((x - m) ** 2).sum(-1) + 0.5 * D * math.log(2 * math.pi)
        do = (m - x) * m * (1 - m) / K
    recon = nll.mean(0)
    kl = -0.5 * (1 + logvar - mu ** 2 - np.exp(logvar)).sum(-1)
    # backward
    grad = {}
    do = do.reshape(K * B, D)
    grad["dec.out.weight"], grad["dec.out.bias"] = do.T @ g, do.sum(0)
    dg = do @ p["dec.out.weight"]
    for i in reversed(range(len(dec))):
        gin, a = dec[i]
        da = dg * dact(a, act(a))
        grad[f"dec.{i}.weight"], grad[f"dec.{i}.bias"] = da.T @ gin, da.sum(0)
        dg = da @ p[f"dec.{i}.weight"]
    dz = dg.reshape(K, B, -1)
    dmu = dz.sum(0) + beta * mu
    dlogvar = (dz * eps).sum(0) * 0.5 * std + beta * 0.5 * (np.exp(logvar) - 1)
    grad["enc.mu.weight"], grad["enc.mu.bias"] = dmu.T @ h, dmu.sum(0)
    grad["enc.logvar.weight"], grad["enc.logvar.bias"] = dlogvar.T @ h, dlogvar.sum(0)
    dh = dmu @ p["enc.mu.weight"] + dlogvar @ p["enc.logvar.weight"]
    for i in reversed(range(len(enc))):
        hin, a = enc[i]
        da = dh * dact(a, act(a))
        grad[f"enc.{i}.weight"], grad[f"enc.{i}.bias"] = da.T @ hin, da.sum(0)
        dh = da @ p[f"enc.{i}.weight"]
    return recon, kl, grad


def run_case(path, out_dir):
    """Writes the results of one case; returns None, or why the case was skipped."""
    t, meta = read_safetensors(path)
    cfg, adam, names = json.loads(meta["config"]), json.loads(meta["adam"]), json.loads(meta["parameters"])
    why = unsupported(cfg)
    if why:
        return why
    p = {n: t["param." + n].copy() for n in names}
    x = t["x"]
    recon, kl, grad = forward_backward(cfg, p, x, t["eps"])
    out = {"out.recon": recon, "out.kl": kl, "out.loss": recon + cfg["beta"] * kl, "out.elbo": -(recon + kl)}
    out.update({"grad." + n: grad[n] for n in names})
    # Adam (torch.optim.Adam's update), from the same start, with each step's own noise
    m = {n: np.zeros_like(v) for n, v in p.items()}
    v2 = {n: np.zeros_like(v) for n, v in p.items()}
    losses = []
    for s in range(adam["steps"]):
        recon_s, kl_s, g = forward_backward(cfg, p, x, t["adam.eps"][s])
        losses.append((recon_s + cfg["beta"] * kl_s).sum())
        step = s + 1
        for n in names:
            m[n] = adam["beta1"] * m[n] + (1 - adam["beta1"]) * g[n]
            v2[n] = adam["beta2"] * v2[n] + (1 - adam["beta2"]) * g[n] ** 2
            mhat = m[n] / (1 - adam["beta1"] ** step)
            vhat = v2[n] / (1 - adam["beta2"] ** step)
            p[n] = p[n] - adam["lr"] * mhat / (np.sqrt(vhat) + adam["eps"])
    if adam["steps"]:
        out["adam.loss"] = np.array(losses)
        out.update({"adam.param." + n: p[n] for n in names})
    write_safetensors(os.path.join(out_dir, meta["case"] + ".safetensors"), out,
                      {"implementation": "docs/examples/numpy_vae.py (numpy " + np.__version__ + ")",
                       "precision": "fp64", "device": "cpu"})
    return None


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    cases = sorted(glob.glob(os.path.join(sys.argv[1], "*.safetensors")))
    if not cases:
        sys.exit(f"{sys.argv[1]}: no case files")
    os.makedirs(sys.argv[2], exist_ok=True)
    done = []
    for path in cases:
        name = os.path.basename(path)[:-len(".safetensors")]
        why = run_case(path, sys.argv[2])
        if why:
            print(f"skipped {name}: {why}")
        else:
            done.append(name)
            print("done", name)
    print(f"{len(done)} case(s) computed, {len(cases) - len(done)} skipped")
    if done:
        print("--case " + ",".join(done))


if __name__ == "__main__":
    main()
