"""The models: the example's VAE (any MLP configuration) and LayeredVAE (a model given as layers)."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import DEFAULT_CONFIG, is_layered
from .errors import UsageError
from .layers import ACTIVATIONS, derive_layers


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
    """The model of a configuration: LayeredVAE for a model given as layers, else VAE."""
    return LayeredVAE(cfg) if is_layered(cfg) else VAE(cfg)
