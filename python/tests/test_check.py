"""vaebench.check as a user calls it: honest implementations in the styles public code takes pass,
the classic mistakes fail with their name, bad input is refused naming what is wrong."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import vaebench
from styles import (BaseStyleVAE, ClampedExamplesVAE, ExamplesVAE, OutputStyleVAE, continuous_bernoulli_loss,
                    examples_loss, examples_loss_mistaken, output_style_forward)

DTYPES = [torch.float32, torch.float64]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_examples_style_passes_and_maps_by_structure(dtype):
    r = vaebench.check(ExamplesVAE().to(dtype), loss=examples_loss, batch=16)
    assert r.passed, str(r)
    assert r.precision == {torch.float32: "fp32", torch.float64: "fp64"}[dtype]
    assert dict(r.parameter_map)["fc21.weight"] == "enc.mu.weight"
    assert dict(r.parameter_map)["fc22.bias"] == "enc.logvar.bias"
    assert dict(r.parameter_map)["fc4.weight"] == "dec.out.weight"
    assert r.judge["program"].startswith("vaebench ")
    assert "input=probs" in r.architecture  # the sigmoid read as Bernoulli on probabilities


def test_heads_found_by_data_flow_not_order():
    class Swapped(ExamplesVAE):  # fc22 is the mean here, fc21 the log-variance, called first
        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            logvar = self.fc21(h1)
            return self.fc22(h1), logvar

    model = Swapped()
    r = vaebench.check(model, loss=examples_loss, batch=8)
    assert r.passed, str(r)
    assert dict(r.parameter_map)["fc21.weight"] == "enc.logvar.weight"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mistake", ["kl-mean-over-latent", "kl-sign-flipped", "batch-mean-for-sum",
                                     "pixel-mean-for-sum", "recon-only"])
def test_loss_mistakes_named(mistake, dtype):
    r = vaebench.check(ExamplesVAE(hidden=64, latent=7).to(dtype),
                       loss=examples_loss_mistaken("recon-only-gradient" if mistake == "recon-only" else mistake),
                       batch=5, objective=vaebench.Objective(beta=1.0))
    assert not r.passed
    assert r.named == ["gradient-of-recon-only" if mistake == "recon-only" else mistake], r.diagnosis


@pytest.mark.parametrize("mistake", ["std-exp-logvar", "logvar-as-sigma", "relu-on-logvar"])
def test_model_mistakes_named(mistake):
    r = vaebench.check(ExamplesVAE(hidden=64, latent=7, mistake=mistake).double(), loss=examples_loss, batch=5)
    assert not r.passed
    expected = {"std-exp-logvar": "std-exp-logvar", "logvar-as-sigma": "logvar-as-sigma",
                "relu-on-logvar": "relu-on-logvar"}[mistake]
    assert expected in r.named, r.diagnosis


def test_planted_gradient_scale_fails_without_a_name():
    def scaled(recon_x, x, mu, logvar):
        return examples_loss(recon_x, x, mu, logvar) * 1.001

    r = vaebench.check(ExamplesVAE(hidden=64, latent=7).double(), loss=scaled, batch=5)
    assert not r.passed and r.named == [], r.diagnosis
    assert "no known mistake" in r.diagnosis


def test_batch_mean_declared_passes():
    r = vaebench.check(ExamplesVAE(hidden=64), loss=examples_loss_mistaken("batch-mean-for-sum"), batch=8,
                       objective=vaebench.Objective(batch="mean"))
    assert r.passed, str(r)


def test_continuous_bernoulli_clamped_passes():
    r = vaebench.check(ClampedExamplesVAE(hidden=64), loss=continuous_bernoulli_loss, batch=8,
                       objective=vaebench.Objective(likelihood="continuous-bernoulli"))
    assert r.passed, str(r)
    assert "clamp" in r.architecture or "1e-04" in r.architecture or "0.0001" in r.architecture, r.architecture


def test_pytorch_vae_style_conv_batch_norm_passes():
    model = BaseStyleVAE()
    objective = vaebench.Objective(likelihood="gaussian", gaussian_constant=False, gaussian_half=False, pixels="mean",
                                   batch="mean", kl_weight="batch/60000")
    r = vaebench.check(model, loss=model.loss_function, objective=objective, batch=4, input_shape=(1, 28, 28))
    assert r.passed, str(r)
    assert any(b.endswith("(buffer)") for _, b in r.parameter_map)
    assert any(row["quantity"] == "kl (batch total)" and row["passed"] for row in r.rows)  # -KLD read back


def test_pythae_style_model_output_passes_with_mean_declared():
    r = vaebench.check(OutputStyleVAE(), loss=None, forward=output_style_forward, batch=6,
                       objective=vaebench.Objective(batch="mean"))
    assert r.passed, str(r)
    assert dict(r.parameter_map)["encoder.embedding.weight"] == "enc.mu.weight"
    r = vaebench.check(OutputStyleVAE(), loss=None, forward=output_style_forward, batch=6)
    assert not r.passed and r.named == ["batch-mean-for-sum"], r.diagnosis


def test_pythae_style_mse_declared():
    objective = vaebench.Objective(likelihood="gaussian", gaussian_constant=False, batch="mean")
    r = vaebench.check(OutputStyleVAE(reconstruction_loss="mse"), forward=output_style_forward, batch=6,
                       objective=objective)
    assert r.passed, str(r)
    r = vaebench.check(OutputStyleVAE(reconstruction_loss="mse"), forward=output_style_forward, batch=6,
                       objective=vaebench.Objective(likelihood="gaussian", batch="mean"))
    assert not r.passed and "gaussian-constant-missing" in r.named, r.diagnosis


def test_user_model_is_not_modified():
    model = BaseStyleVAE()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    vaebench.check(model, loss=model.loss_function, batch=2, input_shape=(1, 28, 28),
                   objective=vaebench.Objective(likelihood="gaussian", kl_weight="batch/100"))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_param_map_override_and_its_refusals():
    m = ExamplesVAE(hidden=32)
    swap = {"fc21.weight": "enc.logvar.weight", "fc21.bias": "enc.logvar.bias", "fc22.weight": "enc.mu.weight",
            "fc22.bias": "enc.mu.bias"}
    r = vaebench.check(m, loss=examples_loss, batch=4, param_map=swap)
    assert not r.passed  # the heads swapped by hand: mu read as logvar
    with pytest.raises(vaebench.VaeCheckError, match="not parameters of the model"):
        vaebench.check(m, loss=examples_loss, batch=4, param_map={"nope.weight": "enc.0.weight"})
    with pytest.raises(vaebench.VaeCheckError, match="not names of the case layout"):
        vaebench.check(m, loss=examples_loss, batch=4, param_map={"fc1.weight": "enc.9.weight"})


# --- bad input: a message naming what and where ---------------------------------------------

def test_refuses_uniform_noise():
    class Uniform(ExamplesVAE):
        def reparameterize(self, mu, logvar):
            return mu + torch.rand_like(mu) * torch.exp(0.5 * logvar)

    with pytest.raises(vaebench.VaeCheckError, match=r"uniform noise by torch rand_like \(shape \[4, 20\]\)"):
        vaebench.check(Uniform(), loss=examples_loss, batch=4)


def test_refuses_two_draws():
    class Twice(ExamplesVAE):
        def reparameterize(self, mu, logvar):
            torch.randn_like(mu)
            return super().reparameterize(mu, logvar)

    with pytest.raises(vaebench.VaeCheckError, match="drew noise 2 times"):
        vaebench.check(Twice(), loss=examples_loss, batch=4)


def test_refuses_skip_connection_naming_it():
    class Skip(ExamplesVAE):
        def decode(self, z):
            h3 = F.relu(self.fc3(z))
            return torch.sigmoid(self.fc4(h3 + h3))

    with pytest.raises(vaebench.VaeCheckError, match="decoder: torch add between layers cannot be mapped"):
        vaebench.check(Skip(), loss=examples_loss, batch=4)


def test_refuses_a_module_that_is_not_a_vae():
    with pytest.raises(vaebench.VaeCheckError, match="drew no noise"):
        vaebench.check(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 4)), loss=lambda out, x: out.sum(),
                       batch=2)


@pytest.mark.parametrize("bad, message", [
    (lambda recon_x, x, mu, logvar: F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="none").sum(1),
     r"shape \[4\]"),
    (lambda recon_x, x, mu, logvar: examples_loss(recon_x, x, mu, logvar) * float("nan"), "not finite"),
])
def test_refuses_bad_loss_values(bad, message):
    with pytest.raises(vaebench.VaeCheckError, match=message):
        vaebench.check(ExamplesVAE(hidden=16), loss=bad, batch=4)


def test_refuses_objective_that_contradicts_the_model():
    with pytest.raises(vaebench.VaeCheckError, match="bernoulli_input='logits'.*contradicts the model"):
        vaebench.check(ExamplesVAE(hidden=16), loss=examples_loss, batch=4,
                       objective=vaebench.Objective(bernoulli_input="logits"))
    with pytest.raises(vaebench.VaeCheckError, match=r"Objective\(batch='avg'\)"):
        vaebench.Objective(batch="avg")


def test_conv_model_without_input_shape_is_refused():
    with pytest.raises(vaebench.VaeCheckError, match=r"give input_shape=\(C, H, W\)"):
        vaebench.check(BaseStyleVAE(), loss=None, batch=2)
