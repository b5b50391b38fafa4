"""A model, its Adam and its (possibly compiled) train-step, evaluation and per-image functions."""
import torch

from .config import DEFAULT_CONFIG
from .models import make_model
from .objective import per_image_losses, vae_loss

MODES = ("python-eager", "python-compile", "python-compile-reduce-overhead")
# --precision: (the parameters' dtype, autocast's dtype or None). bf16 is torch.autocast(dtype=torch.bfloat16)
# as PyTorch users run it: fp32 parameters and Adam, the products in bf16 (fp32 accumulation), the losses,
# KL and likelihood in fp32 from the bf16 outputs (vaebench's LibTorch backends run the same recipe).
PRECISIONS = {"fp32": (torch.float32, None), "fp64": (torch.float64, None), "bf16": (torch.float32, torch.bfloat16)}


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
