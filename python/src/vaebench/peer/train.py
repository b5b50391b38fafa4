"""`train`: the example's training loop epoch by epoch, the test split evaluated after each epoch, and a
history JSON in the C++ trainer's format ("vaebench training history v1")."""
import math
import platform
import sys
import time

import numpy as np
import torch

from .config import DEFAULT_CONFIG, HIDDEN, INPUT_DIM, LATENT, is_layered, preset_config
from .data import load_split
from .device import device_name, setup_torch, sync
from .errors import UsageError
from .files import check_writable, write_json_atomically
from .runner import PRECISIONS, Runner


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
    """`train`: exit status 0; a UsageError for a bad option, file or data set."""
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
