"""vaebench: a PyTorch VAE checked as it is written -- its loss, KL and every gradient --
against vaebench's double-precision reference, and the mistake named when one is known.

    import vaebench
    result = vaebench.check(model, loss=loss_function, objective=vaebench.Objective(batch="mean"), batch=16)
    print(result)
    assert result.passed, result.diagnosis

The reference, the tolerances and the diagnosis are the C++ judge's (vaebench-judge, built into
this package from the repository's CMake); this package reads the model and runs it.
"""
from .casefile import CaseFileError
from .check import CheckResult, check
from .errors import VaeCheckError
from .judge import mistakes
from .objective import Objective
from .testing import assert_vae

__all__ = ["check", "CheckResult", "Objective", "VaeCheckError", "CaseFileError", "mistakes", "assert_vae"]
__version__ = "0.1.0"
