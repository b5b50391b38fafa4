"""Models as layers (impl/model/layers.h): a layers JSON checked and its shapes derived, one
LayerPlan per layer; the layer dicts the presets are written with."""
import math

import torch
import torch.nn.functional as F

from .errors import UsageError

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


# The layer dicts of that JSON, as the presets (config.py) are written.
def dense_spec(n, act, shape=None):
    return {"type": "dense", "out_features": n, **({"shape": list(shape)} if shape else {}), "activation": act}


def conv_spec(c, k, s, p, act, bn=False):
    return {"type": "conv2d", "out_channels": c, "kernel": k, "stride": s, "padding": p, "batch_norm": bn,
            "activation": act}


def conv_t_spec(c, k, s, p, op, act, bn=False):
    return {"type": "conv_transpose2d", "out_channels": c, "kernel": k, "stride": s, "padding": p,
            "output_padding": op, "batch_norm": bn, "activation": act}


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
        add("head", key, "enc", 0, dense_spec(latent, "none"), body, True)
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
