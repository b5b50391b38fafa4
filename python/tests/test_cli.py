"""python -m vaebench check as a user runs it: exit status, the verdict printed, bad input named."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(os.path.dirname(HERE), "examples", "my_vae.py")


def run(*args):
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(HERE), "src"))
    return subprocess.run([sys.executable, "-m", "vaebench", *args], capture_output=True, text=True, env=env)


def test_check_passes_and_prints_the_map():
    p = run("check", f"{EXAMPLE}:VAE", "--loss", f"{EXAMPLE}:loss_function", "--batch", "8")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "PASS" in p.stdout and "fc21.weight -> enc.mu.weight" in p.stdout


def test_check_fails_with_the_mistake_named():
    p = run("check", f"{EXAMPLE}:VAE", "--loss", f"{EXAMPLE}:loss_function_mean_kl", "--batch", "8")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "diagnosis: kl-mean-over-latent" in p.stdout


@pytest.mark.parametrize("args, message", [
    (["nomodule:VAE"], "cannot import nomodule"),
    ([f"{EXAMPLE}:Nope"], "has no Nope"),
    ([f"{EXAMPLE}:VAE", "--batch-reduction", "avg"], "Objective(batch='avg')"),
])
def test_bad_input_is_named_without_a_traceback(args, message):
    p = run("check", *args)
    assert p.returncode == 2
    assert message in p.stderr and "Traceback" not in p.stderr, p.stderr
