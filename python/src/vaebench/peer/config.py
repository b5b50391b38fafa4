"""Configurations (impl/model/config.h's JSON): the example's default, the presets of models given as
layers, and what a configuration says about itself."""
import json
import math

from .layers import conv_spec, conv_t_spec, dense_spec

INPUT_DIM, HIDDEN, LATENT = 784, 400, 20

# The example's model (pytorch/examples vae/main.py): 784-400-20-400-784, ReLU, Bernoulli.
DEFAULT_CONFIG = {"input_dim": INPUT_DIM, "hidden": [HIDDEN], "decoder_hidden": [HIDDEN], "latent": LATENT,
                  "activation": "relu", "likelihood": "bernoulli", "beta": 1.0, "samples": 1}

# The presets of impl/model/layers.cpp (vaebench --model NAME), the seeds' ConvVAE and CelebAVAE.
PRESETS = {
    # 1x28x28 -> 32x14x14 -> 64x7x7 -> 128x3x3; back: dense to 128x3x3, 3 -> 7 (output padding 1) -> 14 -> 28.
    "conv-mnist": {"input": [1, 28, 28], "latent": 20,
                   "encoder": [conv_spec(32, 4, 2, 1, "relu"), conv_spec(64, 4, 2, 1, "relu"),
                               conv_spec(128, 4, 2, 1, "relu")],
                   "decoder": [dense_spec(1152, "none", (128, 3, 3)), conv_t_spec(64, 4, 2, 1, 1, "relu"),
                               conv_t_spec(32, 4, 2, 1, 0, "relu"), conv_t_spec(1, 4, 2, 1, 0, "none")]},
    # 3x64x64 -> 32x32x32 -> ... -> 256x4x4, batch norm on every hidden conv; the mirror back.
    "conv-celeba64": {"input": [3, 64, 64], "latent": 256,
                      "encoder": [conv_spec(c, 4, 2, 1, "relu", True) for c in (32, 64, 128, 256)],
                      "decoder": [dense_spec(4096, "none", (256, 4, 4))] +
                                 [conv_t_spec(c, 4, 2, 1, 0, "relu", True) for c in (128, 64, 32)] +
                                 [conv_t_spec(3, 4, 2, 1, 0, "none")]},
}
MODELS = ("mlp",) + tuple(PRESETS)


def layered_config(model, spec, **overrides):
    """A vaebench configuration (config.h's JSON) for a model given as layers."""
    cfg = {"model": model, "layers": spec, "input_dim": math.prod(spec["input"]), "latent": spec["latent"],
           "likelihood": "bernoulli", "beta": 1.0, "samples": 1, "init": "torch", "seed": 0}
    cfg.update(overrides)
    return cfg


def preset_config(name, latent=None):
    """The configuration of a preset --model (mlp: the example's), with another latent size if given."""
    if name == "mlp":
        return dict(DEFAULT_CONFIG, **({"latent": latent} if latent else {}))
    spec = json.loads(json.dumps(PRESETS[name]))  # a copy
    if latent:
        spec["latent"] = latent
    return layered_config(name, spec)


def is_layered(cfg):
    """Whether the configuration is a model given as layers (else an MLP)."""
    return "layers" in cfg


def model_name(cfg):
    return cfg.get("model", "custom") if is_layered(cfg) else "mlp"
