"""A user's CI test of their VAE with vaebench (run: pytest python/examples)."""
import pytest

import vaebench
from vaebench.testing import assert_vae

from my_vae import VAE, loss_function, loss_function_mean_kl


def test_my_vae_matches_the_reference():
    assert_vae(VAE(), loss=loss_function, batch=16)


def test_a_mistake_is_caught_and_named():
    with pytest.raises(AssertionError, match="kl-mean-over-latent"):
        assert_vae(VAE(), loss=loss_function_mean_kl, batch=16)
    result = vaebench.check(VAE(), loss=loss_function_mean_kl, batch=16)
    assert result.named == ["kl-mean-over-latent"]
