"""The Python peer (vaebench.peer, launched by bench/python_peer.py): its command line, what importing it
needs, and its results on case files exported and judged by the judge (vaebench-judge: $VAEBENCH_JUDGE,
the package's or the checkout's build/vaebench-judge) or else by vaebench ($VAEBENCH_EXE or the
checkout's build/vaebench); the tests that need cases are skipped, saying so, when neither is built."""
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open

from vaebench.casefile import read_case, results_shapes
from vaebench.errors import VaeCheckError
from vaebench.judge import judge_path
from vaebench.peer import cli
from vaebench.peer.cases import compute_case

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAUNCHER = os.path.join(REPO, "bench", "python_peer.py")
CASES = ["latent2-b5", "conv-bn-b2"]  # an MLP, and a conv model with batch norm (buffers, running.*)


def case_tool():
    """A program with `cases export` and `judge`: the judge, else vaebench; None when neither is built."""
    try:
        return judge_path()
    except VaeCheckError:
        exe = os.environ.get("VAEBENCH_EXE") or os.path.join(REPO, "build", "vaebench")
        return exe if os.path.isfile(exe) and os.access(exe, os.X_OK) else None


def clean_env():
    """No PYTHONPATH: the launcher must find the package by itself, not installed."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def tool():
    found = case_tool()
    if found is None:
        pytest.skip("neither vaebench-judge nor vaebench is built (cmake --build build, or set VAEBENCH_JUDGE or "
                    "VAEBENCH_EXE): nothing exports the case files")
    return found


@pytest.fixture(scope="module")
def case_dir(tool, tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("peer") / "cases")
    r = subprocess.run([tool, "cases", "export", folder, "--matrix", "reference", "--case", ",".join(CASES),
                        "--adam-steps", "2"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return folder


def test_launcher_help_runs_from_anywhere_without_the_package_installed(tmp_path):
    r = subprocess.run([sys.executable, LAUNCHER, "--help"], capture_output=True, text=True, cwd=str(tmp_path),
                       env=clean_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: python_peer.py [-h] {bench,train,cases}"), r.stdout
    assert "The Python peer: the pytorch/examples MNIST VAE" in r.stdout


@pytest.mark.parametrize("command", ["bench", "train", "cases"])
def test_each_subcommand_help_exits_0(command, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([command, "--help"])
    assert e.value.code == 0
    assert "--device {cpu,cuda}" in capsys.readouterr().out


def test_default_data_folder_is_the_checkouts():
    assert cli.default_data_dir() == os.path.join(REPO, "data", "mnist")


def test_importing_the_peer_needs_only_torch_numpy_and_safetensors():
    """Third-party modules loaded by `import vaebench.peer.cli` beyond those torch, numpy and
    safetensors load themselves (the GPU machine's python3 has nothing else, and no pip)."""
    if not hasattr(sys, "stdlib_module_names"):
        pytest.skip("sys.stdlib_module_names (Python 3.10+) tells the standard library's modules apart")
    probe = ("import json, sys\n"
             "sys.path.insert(0, sys.argv[1])\n"
             "top = lambda: {m.split('.')[0] for m in sys.modules}\n"
             "import torch, numpy, safetensors.torch\n"
             "before = top()\n"
             "import vaebench.peer.cli\n"
             "print(json.dumps(sorted(top() - before - set(sys.stdlib_module_names) - {'vaebench'})))\n")
    r = subprocess.run([sys.executable, "-c", probe, os.path.join(REPO, "python", "src")], capture_output=True,
                       text=True, env=clean_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []


def test_compute_case_gives_every_tensor_of_the_results_layout(case_dir):
    for name in CASES:
        case = read_case(os.path.join(case_dir, name + ".safetensors"))
        out = compute_case("python-eager", torch.device("cpu"), case)
        want = results_shapes(case)
        assert sorted(out) == sorted(want), name
        for k, shape in want.items():
            assert tuple(out[k].shape) == shape, (name, k)
            assert out[k].dtype == (torch.int64 if k.endswith("num_batches_tracked") else torch.float32), (name, k)
            assert torch.isfinite(out[k].double()).all(), (name, k)
        assert any(k.startswith("running.") for k in out) == bool(case.buffers)


def test_cases_command_writes_results_that_the_judge_passes(tool, case_dir, tmp_path):
    out = str(tmp_path / "out")
    assert cli.main(["cases", case_dir, "--modes", "python-eager", "--out", out]) == 0
    for name in CASES:
        path = os.path.join(out, "python-eager", name + ".safetensors")
        with safe_open(path, framework="pt") as f:
            meta, names = f.metadata(), set(f.keys())
        assert names == set(results_shapes(read_case(os.path.join(case_dir, name + ".safetensors"))))
        assert meta["case"] == name and meta["precision"] == "fp32" and meta["device"] == "cpu"
        assert meta["implementation"].startswith("bench/python_peer.py python-eager (torch ")
        r = subprocess.run([tool, "judge", os.path.join(case_dir, name + ".safetensors"), path],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "=> PASS" in r.stdout + r.stderr, r.stdout + r.stderr


def test_a_bad_case_file_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "broken.safetensors").write_bytes(b"not safetensors")
    assert cli.main(["cases", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"python_peer.py: error: {tmp_path / 'broken.safetensors'}: cannot read as safetensors"), err
