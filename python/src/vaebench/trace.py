"""The architecture read from a module: one forward traced, turned into vaebench's layer list.

Every torch call of one training-mode forward is recorded (a TorchFunctionMode: F.linear,
F.conv2d, F.batch_norm, activations, views, the noise draw ...) with the tensors it read and
made. From that data flow:
- the two heads are the first two Linear layers of the same width that read the same features;
  log-variance is the one whose output reaches exp (data flow, not order: pytorch/examples'
  fc21 and fc22 have the same shape);
- the encoder body is the chain of layers from the input to those features, the decoder the chain
  from z to the returned reconstruction;
- between two layers: batch norm (after a conv), at most one activation, views.
What is *assumed*, not read: the heads are plain linear layers and z = mu + exp(logvar/2)*eps;
what the code does to a head or to z beyond that is what the judge diagnoses. What cannot be
mapped (a layer kind the reference lacks, a skip connection, an op between layers) is refused
naming the module and why.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

from .errors import VaeCheckError
from .noise import NoiseFeeder, _name

_LAYER_OPS = {"linear", "conv2d", "conv_transpose2d"}
_PARAM_OPS = _LAYER_OPS | {"batch_norm"}
# Ops that only change the view of the same numbers.
_VIEWS = {"view", "reshape", "flatten", "contiguous", "unflatten", "squeeze", "unsqueeze", "clone", "to"}
# The decoder's output transforms the reference models (at the output only).
_TRANSFORMS = {"sigmoid", "clamp", "clamp_"}
# Activations as the layer list names them (model/layers.h), by the torch call.
_ACTIVATIONS = {"relu": "relu", "relu_": "relu", "tanh": "tanh", "tanh_": "tanh", "elu": "elu", "elu_": "elu",
                "silu": "silu", "leaky_relu": "leaky_relu", "leaky_relu_": "leaky_relu", "gelu": "gelu"}
# What may stand between two layers of a chain (or after the last): views, an activation, batch
# norm, the output transform.
_CHAIN_OPS = _VIEWS | set(_ACTIVATIONS) | _TRANSFORMS | {"batch_norm"}


@dataclass
class Node:
    index: int
    op: str
    inputs: List[int]  # node indices of the tensor arguments, in order
    args: tuple = field(repr=False)
    kwargs: dict = field(repr=False)
    module: str = ""  # the module whose parameters it reads (param ops)
    shape: Tuple[int, ...] = ()  # its (first) output's shape


@dataclass
class Layer:
    kind: str  # dense | conv2d | conv_transpose2d
    module: str
    out: int
    activation: str = "none"
    negative_slope: Optional[float] = None
    batch_norm: Optional[str] = None  # the BatchNorm2d module
    kernel: int = 0
    stride: int = 1
    padding: int = 0
    output_padding: int = 0
    shape: Optional[List[int]] = None  # a dense layer's output reshaped to C x H x W

    def to_json(self) -> dict:
        j: Dict[str, Any] = {"type": self.kind, "activation": self.activation}
        if self.kind == "dense":
            j["out_features"] = self.out
            if self.shape:
                j["shape"] = self.shape
        else:
            j.update(out_channels=self.out, kernel=self.kernel, stride=self.stride, padding=self.padding,
                     batch_norm=self.batch_norm is not None)
            if self.kind == "conv_transpose2d":
                j["output_padding"] = self.output_padding
        if self.activation == "leaky_relu":
            j["negative_slope"] = 0.01 if self.negative_slope is None else self.negative_slope
        return j


@dataclass
class Architecture:
    input_shape: Tuple[int, ...]  # per image, as the model takes it
    encoder: List[Layer]
    mu: str  # module names of the heads
    logvar: str
    latent: int
    decoder: List[Layer]
    output_transform: str  # "none" (logits) | "sigmoid"
    clamp: float  # a clamp of the sigmoid's output to [c, 1 - c]; 0: none
    output_node: int = -1  # the returned reconstruction's node, mu's and logvar's
    mu_node: int = -1
    logvar_node: int = -1
    heads_read_by: str = ""  # how the log-variance head was told from the mean head

    def layers_json(self) -> dict:
        c, h, w = _chw(self.input_shape)
        return {"input": [c, h, w], "latent": self.latent, "encoder": [l.to_json() for l in self.encoder],
                "decoder": [l.to_json() for l in self.decoder]}

    def structural_names(self) -> List[Tuple[str, str]]:
        """(their module, our layer prefix) in the flat layout's order."""
        out = [(l.module, f"enc.{i}") for i, l in enumerate(self.encoder)]
        out += [(self.mu, "enc.mu"), (self.logvar, "enc.logvar")]
        n = len(self.decoder)
        out += [(l.module, "dec.out" if i == n - 1 else f"dec.{i}") for i, l in enumerate(self.decoder)]
        return out


def _chw(shape: Tuple[int, ...]) -> Tuple[int, int, int]:
    if len(shape) == 3:
        return shape  # type: ignore[return-value]
    n = 1
    for s in shape:
        n *= s
    return (1, 1, n)


class Recorder(NoiseFeeder):
    """Records every torch call of a forward as a Node (and feeds the probe noise)."""

    def __init__(self, eps: Optional[torch.Tensor], owners: Dict[int, str]):
        super().__init__(eps)
        self.nodes: List[Node] = []
        self.of_tensor: Dict[int, int] = {}  # id(tensor) -> node
        self.keep: List[Any] = []  # the tensors, alive, so ids stay unique
        self.owners = owners  # id(parameter or buffer) -> "module.name"
        self.noise_nodes: List[int] = []

    def leaf(self, t: torch.Tensor, op: str) -> int:
        n = Node(len(self.nodes), op, [], (), {})
        self.nodes.append(n)
        self.of_tensor[id(t)] = n.index
        self.keep.append(t)
        return n.index

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: Optional[dict] = None):
        kwargs = kwargs or {}
        draws = len(self.draws)
        out = super().__torch_function__(func, types, args, kwargs)
        name = _name(func)
        tensors = [a for a in list(args) + list(kwargs.values()) if isinstance(a, torch.Tensor)]
        inputs = [self.of_tensor[id(t)] for t in tensors if id(t) in self.of_tensor]
        module = ""
        for t in tensors:
            if isinstance(t, nn.Parameter) and id(t) in self.owners:
                module = self.owners[id(t)].rsplit(".", 1)[0]
                break
        first = out[0] if isinstance(out, (tuple, list)) and out else out
        shape = tuple(first.shape) if isinstance(first, torch.Tensor) else ()
        node = Node(len(self.nodes), name, inputs, args, kwargs, module, shape)
        self.nodes.append(node)
        if len(self.draws) > draws:
            self.noise_nodes.append(node.index)
        for o in (out if isinstance(out, (tuple, list)) else [out]):
            if isinstance(o, torch.Tensor):
                self.of_tensor[id(o)] = node.index
                self.keep.append(o)
        self.keep.extend(tensors)
        return out


def _descends(nodes: List[Node], start: int, targets: set) -> bool:
    """Whether node `start` is computed from any node of `targets`."""
    seen, stack = set(), [start]
    while stack:
        i = stack.pop()
        if i in targets:
            return True
        if i in seen:
            continue
        seen.add(i)
        stack.extend(nodes[i].inputs)
    return False


def _data_input(nodes: List[Node], node: Node) -> int:
    """The node of a param op's first (data) argument."""
    if not node.inputs:
        raise VaeCheckError(f"module '{node.module}': its {node.op} reads no tensor computed in the forward")
    return node.inputs[0]


def _pair(v: Any, what: str, module: str) -> int:
    if isinstance(v, (tuple, list)):
        if len(set(v)) != 1:
            raise VaeCheckError(f"module '{module}': {what} {tuple(v)} differs between height and width; the layer "
                                "list has square kernels and equal strides, paddings")
        return int(v[0])
    if isinstance(v, str):
        raise VaeCheckError(f"module '{module}': padding '{v}' (a string); give it as a number")
    return int(v)


def _param_layer(node: Node) -> Layer:
    m = node.module
    a, kw = node.args, node.kwargs
    get = lambda i, k, d=None: kw.get(k, a[i] if len(a) > i else d)  # noqa: E731
    weight, bias = get(1, "weight"), get(2, "bias")
    if bias is None:
        raise VaeCheckError(f"module '{m}' ({node.op}) has no bias (bias=False): every layer of vaebench's layer "
                            "list has one; give it a bias for the check")
    if node.op == "linear":
        return Layer("dense", m, int(weight.shape[0]))
    dilation, groups = get(5, "dilation", 1), get(6, "groups", 1)
    if node.op == "conv_transpose2d":
        dilation, groups = get(7, "dilation", 1), get(6, "groups", 1)
    if _pair(dilation, "dilation", m) != 1 or int(groups) != 1:
        raise VaeCheckError(f"module '{m}': dilation {dilation} / groups {groups}; the layer list has dilation 1, "
                            "groups 1")
    k = _pair(tuple(weight.shape[2:]), "kernel", m)
    layer = Layer(node.op, m, int(weight.shape[1] if node.op == "conv_transpose2d" else weight.shape[0]), kernel=k,
                  stride=_pair(get(3, "stride", 1), "stride", m), padding=_pair(get(4, "padding", 0), "padding", m))
    if node.op == "conv_transpose2d":
        layer.output_padding = _pair(get(5, "output_padding", 0), "output_padding", m)
    return layer


def _activation(node: Node) -> Tuple[str, Optional[float]]:
    act = _ACTIVATIONS[node.op]
    if act == "leaky_relu":
        slope = float(node.kwargs.get("negative_slope", node.args[1] if len(node.args) > 1 else 0.01))
        return act, (None if slope == 0.01 else slope)
    if act == "gelu" and node.kwargs.get("approximate", "none") == "tanh":
        return "gelu_tanh", None
    if act == "elu" and float(node.kwargs.get("alpha", node.args[1] if len(node.args) > 1 else 1.0)) != 1.0:
        raise VaeCheckError("an ELU with alpha != 1: the layer list's ELU is nn.ELU()'s (alpha 1)")
    return act, None


def _chain(rec: Recorder, end: int, stop: Callable[[int], bool], where: str,
           output: bool = False) -> Tuple[List[Layer], int, List[Node]]:
    """Walks back from node `end` through views, activations, batch norm and layers until `stop`;
    returns the layers in forward order, the node it stopped at, and (`output`: the decoder) the
    ops after its last layer -- the output transform -- which are then not taken as its activation."""
    nodes = rec.nodes
    layers: List[Layer] = []
    pending: List[Node] = []  # activation / batch norm / view nodes above the current layer, nearest last
    tail: List[Node] = []
    i = end
    while not stop(i):
        n = nodes[i]
        if n.op in _LAYER_OPS:
            layer = _param_layer(n)
            if output and not layers:
                tail = list(reversed(pending))
                bns = [p for p in pending if p.op == "batch_norm"]
                if bns:
                    raise VaeCheckError(f"{where}: batch norm '{bns[0].module}' after the output layer "
                                        f"'{layer.module}'; the output layer has none")
            else:
                _attach(layer, pending, where)
            layers.insert(0, layer)
            pending = []
            i = _data_input(nodes, n)
            continue
        if n.op in _CHAIN_OPS:
            if len(n.inputs) != 1 and n.op != "batch_norm":
                raise VaeCheckError(f"{where}: {n.op} combines {len(n.inputs)} computed tensors; a chain of layers "
                                    "is expected (a skip connection or a concatenation cannot be mapped)")
            pending.append(n)
            i = n.inputs[0]
            continue
        what = f" in module '{n.module}'" if n.module else ""
        raise VaeCheckError(f"{where}: torch {n.op}{what} between layers cannot be mapped onto the layer list "
                            "(dense, conv2d, conv_transpose2d, BatchNorm2d, one activation each, views)")
    if not layers:
        raise VaeCheckError(f"{where}: no Linear, Conv2d or ConvTranspose2d layer was found")
    return layers, i, tail


def _attach(layer: Layer, above: List[Node], where: str) -> None:
    """Batch norm, the activation and a reshape found after `layer` (nearest last in `above`)."""
    ops = list(reversed(above))  # in forward order
    acts = [n for n in ops if n.op in _ACTIVATIONS]
    bns = [n for n in ops if n.op == "batch_norm"]
    if bns:
        if layer.kind == "dense":
            raise VaeCheckError(f"module '{bns[0].module}': batch norm after a Linear (BatchNorm1d); the layer list "
                                "has BatchNorm2d after conv layers only")
        bn = bns[0]
        training = bn.kwargs.get("training", bn.args[5] if len(bn.args) > 5 else False)
        momentum = bn.kwargs.get("momentum", bn.args[6] if len(bn.args) > 6 else 0.1)
        eps = bn.kwargs.get("eps", bn.args[7] if len(bn.args) > 7 else 1e-5)
        # In eval mode during training (a known mistake) it is still the layer list's batch norm:
        # the judge, not the trace, says what that does.
        del training
        if momentum != 0.1 or abs(eps - 1e-5) > 0:
            raise VaeCheckError(f"module '{bn.module}': momentum {momentum}, eps {eps}; the layer list's batch "
                                "norm is nn.BatchNorm2d's default (momentum 0.1, eps 1e-5)")
        layer.batch_norm = bn.module
    if len(acts) > 1:
        raise VaeCheckError(f"{where}: module '{layer.module}' is followed by {len(acts)} activations "
                            f"({', '.join(a.op for a in acts)}); the layer list has one per layer")
    if acts:
        layer.activation, layer.negative_slope = _activation(acts[0])
    others = [n.op for n in ops if n.op in _TRANSFORMS]
    if others:
        raise VaeCheckError(f"{where}: {others[0]} after module '{layer.module}' inside the network; the layer "
                            "list has it at the decoder's output only")
    views = [n for n in ops if n.op in _VIEWS and len(n.shape) == 4]
    if layer.kind == "dense" and views:
        layer.shape = [int(s) for s in views[-1].shape[1:]]


def _output_transform(tail: List[Node], where: str) -> Tuple[str, float]:
    """The decoder's output transform from the ops after its last layer: none (logits), sigmoid,
    or sigmoid clamped to [c, 1 - c]."""
    ops = [n for n in tail if n.op not in _VIEWS]
    if not ops:
        return "none", 0.0
    if ops[0].op == "sigmoid":
        if len(ops) == 1:
            return "sigmoid", 0.0
        if len(ops) == 2 and ops[1].op in ("clamp", "clamp_"):
            a, kw = ops[1].args, ops[1].kwargs
            lo, hi = kw.get("min", a[1] if len(a) > 1 else None), kw.get("max", a[2] if len(a) > 2 else None)
            if lo is not None and hi is not None and abs((1 - float(hi)) - float(lo)) < 1e-12 * max(1, lo):
                return "sigmoid", float(lo)
            raise VaeCheckError(f"{where}: the output is clamped to [{lo}, {hi}]; a clamp [c, 1 - c] is what the "
                                "objective's --prob-clamp models")
    names = " then ".join(n.op for n in ops)
    raise VaeCheckError(f"{where}: the decoder's output is taken through {names}; the reference models logits "
                        "(no transform), sigmoid and a sigmoid clamped to [c, 1 - c] (a tanh or identity Gaussian "
                        "mean is not modelled yet: the Gaussian's mean is sigmoid(o))")


def _owners(model: nn.Module) -> Dict[int, str]:
    owners = {id(p): n for n, p in model.named_parameters()}
    owners.update({id(b): n for n, b in model.named_buffers()})
    return owners


def trace_architecture(model: nn.Module, x: torch.Tensor, eps: Optional[torch.Tensor],
                       call: Callable[[nn.Module, torch.Tensor], Any]) -> Tuple[Architecture, Any, Recorder]:
    """Runs `call(model, x)` once (training mode, noise `eps`) recording it, and reads the layer
    list; returns it, the forward's output and the record."""
    rec = Recorder(eps, _owners(model))
    x_node = rec.leaf(x, "input")
    with rec:
        out = call(model, x)
    rec.check_draws("the traced forward")
    nodes = rec.nodes
    where = f"{type(model).__name__}"
    # The heads: the first two Linear layers of the same width reading the same features.
    linears = [n for n in nodes if n.op == "linear" and n.module]
    heads = None
    for a_i, a in enumerate(linears):
        for b in linears[a_i + 1:]:
            if b.module == a.module:
                continue
            if _root(nodes, a.inputs[0]) == _root(nodes, b.inputs[0]) and a.shape == b.shape:
                heads = (a, b)
                break
        if heads:
            break
    if heads is None:
        raise VaeCheckError(f"{where}: no two Linear heads of the same width reading the same features were found; "
                            "the layer list has a mean head and a log-variance head (a single Linear whose output "
                            "is split into both cannot be mapped)")
    exp_nodes = {n.index for n in nodes if n.op in ("exp", "exp_")}
    reach = [any(_descends(nodes, e, {h.index}) for e in exp_nodes) for h in heads]
    heads_read_by = "data flow (the log-variance head reaches exp)"
    if reach[0] == reach[1]:
        # Code that takes the head as sigma (a known mistake) has no exp: the names say it then.
        named = [any(k in h.module.lower() for k in ("var", "sigma", "std", "fc22", "logv", "cov")) for h in heads]
        if named[0] == named[1]:
            raise VaeCheckError(f"{where}: heads '{heads[0].module}' and '{heads[1].module}': "
                                + ("both reach" if reach[0] else "neither reaches")
                                + " exp, and their names do not say which is the log-variance; the "
                                "reparameterization z = mu + exp(logvar / 2) * eps is assumed")
        reach = named
        heads_read_by = (f"names ('{heads[reach.index(True)].module}'; " +
                         ("both heads reach exp)" if any(reach) else "neither head reaches exp)"))
    mu, logvar = (heads[1], heads[0]) if reach[0] else heads
    # The encoder body: back from the heads' input to x.
    encoder, _, _ = _chain(rec, mu.inputs[0], lambda i: i == x_node, f"{where} encoder")
    # The decoder: back from the returned reconstruction to z (computed from the noise).
    noise = set(rec.noise_nodes)
    out_node = _reconstruction_node(rec, out, x_node, noise, where)
    decoder, z_node, tail = _chain(rec, out_node, lambda i: nodes[i].op not in _PARAM_OPS | _CHAIN_OPS or i == x_node,
                                   f"{where} decoder", output=True)
    if not _descends(nodes, z_node, noise):
        raise VaeCheckError(f"{where}: the decoder's input ({nodes[z_node].op}) is not computed from the noise draw; "
                            "z = mu + exp(logvar / 2) * eps must feed the decoder")
    after_noise = {n.index for n in nodes if n.op in _PARAM_OPS and n.index > min(noise)}
    if _descends(nodes, z_node, after_noise):
        n = nodes[z_node]
        raise VaeCheckError(f"{where} decoder: torch {n.op} between layers cannot be mapped onto the layer list "
                            "(it combines the output of a decoder layer: a skip connection?)")
    transform, clamp = _output_transform(tail, f"{where} decoder")
    shape = tuple(x.shape[1:])
    arch = Architecture(shape, encoder, mu.module, logvar.module, int(mu.shape[-1]), decoder, transform, clamp,
                        out_node, mu.index, logvar.index, heads_read_by)
    return arch, out, rec


def _root(nodes: List[Node], i: int) -> int:
    """The node behind any views of node i."""
    while nodes[i].op in _VIEWS and len(nodes[i].inputs) == 1:
        i = nodes[i].inputs[0]
    return i


def output_tensors(out: Any) -> List[torch.Tensor]:
    """The tensors a forward returned (tuple, list, dict, a ModelOutput-like object), in order."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [v for v in out.values() if isinstance(v, torch.Tensor)]
    if isinstance(out, (tuple, list)):
        return [v for v in out if isinstance(v, torch.Tensor)]
    if hasattr(out, "__dict__"):
        return [v for v in vars(out).values() if isinstance(v, torch.Tensor)]
    return []


def _reconstruction_node(rec: Recorder, out: Any, x_node: int, noise: set, where: str) -> int:
    """The returned tensor that is the reconstruction: computed from the noise through a layer and of
    the input's size per image."""
    nodes = rec.nodes
    for t in output_tensors(out):
        i = rec.of_tensor.get(id(t))
        if i is None or i == x_node:
            continue
        n = nodes[_root(nodes, i)]
        if (n.op in _TRANSFORMS or n.op in _LAYER_OPS or n.op == "tanh") and _descends(
                nodes, i, noise):
            return i
    raise VaeCheckError(f"{where}: none of the tensors the forward returns is a reconstruction computed from z "
                        "(the decoder's output, optionally through sigmoid); return it from forward")
