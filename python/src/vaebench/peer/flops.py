"""FLOP counts, as impl/model/flops.h counts them."""
import math

from .config import DEFAULT_CONFIG, is_layered
from .layers import LayerPlan, dense_spec, derive_layers


def mlp_plans(cfg):
    """An MLP configuration as the same plans (for the FLOP count)."""
    plans, widths = [], [cfg["input_dim"]] + list(cfg["hidden"])
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        plans.append(LayerPlan("encoder", str(i), f"enc.{i}", "", dense_spec(b, cfg["activation"]), (a, 1, 1),
                               (b, 1, 1), True, a * b))
    for key in ("mu", "logvar"):
        plans.append(LayerPlan("head", key, f"enc.{key}", "", dense_spec(cfg["latent"], "none"),
                               (widths[-1], 1, 1), (cfg["latent"], 1, 1), True, widths[-1] * cfg["latent"]))
    widths = [cfg["latent"]] + list(cfg["decoder_hidden"]) + [cfg["input_dim"]]
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        last = i == len(widths) - 2
        plans.append(LayerPlan("output" if last else "decoder", "out" if last else str(i),
                               "dec.out" if last else f"dec.{i}", "",
                               dense_spec(b, "none" if last else cfg["activation"]), (a, 1, 1), (b, 1, 1), True, a * b))
    return plans


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
