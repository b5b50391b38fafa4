"""VAEs written (by us, for these tests) in the styles public code takes, and mistaken variants.

- ExamplesVAE: pytorch/examples' naming (fc1, fc21, fc22, fc3, fc4), a sigmoid decoder and
  F.binary_cross_entropy on probabilities summed; also its continuous-Bernoulli form, clamped.
- BaseStyleVAE: PyTorch-VAE's BaseVAE conventions -- forward returns [recons, input, mu, log_var],
  loss_function(*args, **kwargs) with M_N, F.mse_loss (a mean), LeakyReLU, Conv2d + BatchNorm2d.
- OutputStyleVAE: pythae's conventions -- forward(inputs: dict) returns a ModelOutput (an
  OrderedDict with attributes) holding loss, recon_loss, reg_loss as batch means; encoder and
  decoder submodules named embedding / log_var.
No code of those projects is copied; the conventions are what is reproduced.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Dict

import torch
import torch.nn.functional as F
from torch import nn


class ExamplesVAE(nn.Module):
    def __init__(self, hidden: int = 400, latent: int = 20, mistake: str = ""):
        super().__init__()
        self.mistake = mistake
        self.fc1 = nn.Linear(784, hidden)
        self.fc21 = nn.Linear(hidden, latent)
        self.fc22 = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, 784)

    def encode(self, x: torch.Tensor):
        h1 = F.relu(self.fc1(x))
        logvar = self.fc22(h1)
        if self.mistake == "relu-on-logvar":
            logvar = F.relu(logvar)
        return self.fc21(h1), logvar

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        if self.mistake == "std-exp-logvar":
            std = torch.exp(logvar)
        elif self.mistake == "logvar-as-sigma":
            std = logvar
        else:
            std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def examples_loss(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def examples_loss_mistaken(mistake: str) -> Callable:
    """pytorch/examples' loss with one classic mistake from public issue trackers."""

    def loss(recon_x, x, mu, logvar):
        terms = 1 + logvar - mu.pow(2) - logvar.exp()
        bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
        kld = -0.5 * torch.sum(terms)
        if mistake == "kl-mean-over-latent":
            kld = -0.5 * torch.sum(torch.mean(terms, dim=1))
        elif mistake == "kl-sign-flipped":
            kld = 0.5 * torch.sum(terms)
        elif mistake == "batch-mean-for-sum":
            return (bce + kld) / x.shape[0]
        elif mistake == "pixel-mean-for-sum":
            bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="none").mean(dim=1).sum()
        elif mistake == "recon-only-gradient":
            kld = kld.detach()
        return bce + kld

    return loss


class ClampedExamplesVAE(ExamplesVAE):
    """pytorch/examples' continuous-Bernoulli form: probabilities clamped to [1e-4, 1 - 1e-4]."""

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.clamp(torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), 1e-4, 1 - 1e-4)


def continuous_bernoulli_loss(recon_x, x, mu, logvar):
    nll = -torch.distributions.ContinuousBernoulli(probs=recon_x).log_prob(x.view(-1, 784)).sum()
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return nll + kld


class BaseStyleVAE(nn.Module):
    """PyTorch-VAE's conventions on 1x28x28 images (a sigmoid output: its tanh is not modelled)."""

    def __init__(self, latent: int = 6, hidden=(8, 16)):
        super().__init__()
        modules, c = [], 1
        for h in hidden:
            modules.append(nn.Sequential(nn.Conv2d(c, h, 3, stride=2, padding=1), nn.BatchNorm2d(h), nn.LeakyReLU()))
            c = h
        self.encoder = nn.Sequential(*modules)
        self.fc_mu = nn.Linear(hidden[-1] * 49, latent)
        self.fc_var = nn.Linear(hidden[-1] * 49, latent)
        self.decoder_input = nn.Linear(latent, hidden[-1] * 49)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(hidden[-1], hidden[0], 3, stride=2, padding=1, output_padding=1),
            nn.BatchNorm2d(hidden[0]), nn.LeakyReLU())
        self.final_layer = nn.Sequential(nn.ConvTranspose2d(hidden[0], 1, 3, stride=2, padding=1, output_padding=1),
                                         nn.Sigmoid())
        self.hidden = hidden

    def encode(self, input: torch.Tensor):
        result = torch.flatten(self.encoder(input), start_dim=1)
        return [self.fc_mu(result), self.fc_var(result)]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        result = self.decoder_input(z).view(-1, self.hidden[-1], 7, 7)
        return self.final_layer(self.decoder(result))

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return eps * std + mu

    def forward(self, input: torch.Tensor, **kwargs):
        mu, log_var = self.encode(input)
        z = self.reparameterize(mu, log_var)
        return [self.decode(z), input, mu, log_var]

    def loss_function(self, *args, **kwargs) -> Dict[str, torch.Tensor]:
        recons, input, mu, log_var = args[0], args[1], args[2], args[3]
        kld_weight = kwargs["M_N"]
        recons_loss = F.mse_loss(recons, input)
        kld_loss = torch.mean(-0.5 * torch.sum(1 + log_var - mu ** 2 - log_var.exp(), dim=1), dim=0)
        loss = recons_loss + kld_weight * kld_loss
        return {"loss": loss, "Reconstruction_Loss": recons_loss.detach(), "KLD": -kld_loss.detach()}


class ModelOutput(OrderedDict):
    """pythae's ModelOutput convention: a dict whose entries are also attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e


class _Encoder(nn.Module):
    def __init__(self, latent: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(784, 64), nn.ReLU())
        self.embedding = nn.Linear(64, latent)
        self.log_var = nn.Linear(64, latent)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        h = self.layers(x.reshape(x.shape[0], -1))
        return ModelOutput(embedding=self.embedding(h), log_covariance=self.log_var(h))


class _Decoder(nn.Module):
    def __init__(self, latent: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(latent, 64), nn.ReLU(), nn.Linear(64, 784), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> ModelOutput:
        return ModelOutput(reconstruction=self.layers(z).reshape(z.shape[0], 1, 28, 28))


class OutputStyleVAE(nn.Module):
    """pythae's conventions: forward(inputs) -> ModelOutput with batch-mean losses."""

    def __init__(self, latent: int = 5, reconstruction_loss: str = "bce"):
        super().__init__()
        self.encoder = _Encoder(latent)
        self.decoder = _Decoder(latent)
        self.reconstruction_loss = reconstruction_loss

    def forward(self, inputs: Dict[str, torch.Tensor]) -> ModelOutput:
        x = inputs["data"]
        enc = self.encoder(x)
        mu, log_var = enc.embedding, enc.log_covariance
        std = torch.exp(0.5 * log_var)
        z, _ = self._sample_gauss(mu, std)
        recon_x = self.decoder(z)["reconstruction"]
        loss, recon_loss, kld = self.loss_function(recon_x, x, mu, log_var)
        return ModelOutput(recon_loss=recon_loss, reg_loss=kld, loss=loss, recon_x=recon_x, z=z)

    def loss_function(self, recon_x, x, mu, log_var):
        b = x.shape[0]
        if self.reconstruction_loss == "mse":
            recon_loss = 0.5 * F.mse_loss(recon_x.reshape(b, -1), x.reshape(b, -1), reduction="none").sum(dim=-1)
        else:
            recon_loss = F.binary_cross_entropy(recon_x.reshape(b, -1), x.reshape(b, -1), reduction="none").sum(dim=-1)
        kld = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=-1)
        return (recon_loss + kld).mean(dim=0), recon_loss.mean(dim=0), kld.mean(dim=0)

    def _sample_gauss(self, mu, std):
        eps = torch.randn_like(std)
        return mu + eps * std, eps


def output_style_forward(model: nn.Module, x: torch.Tensor) -> Any:
    return model({"data": x})
