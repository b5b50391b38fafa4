"""For a user's own test suite: vaebench.testing.assert_vae(...) fails a pytest test with the
judge's table and the named mistake when the VAE does not match the reference."""
from __future__ import annotations

from typing import Any

from .check import CheckResult, check


def assert_vae(model: Any, loss: Any = None, **options: Any) -> CheckResult:
    """vaebench.check(model, loss, **options); AssertionError carrying the verdict if it failed."""
    result = check(model, loss, **options)
    if not result.passed:
        raise AssertionError(f"{result.model} does not match vaebench's reference: "
                             f"{result.diagnosis or 'see the table'}\n{result}")
    return result
