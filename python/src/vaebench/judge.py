"""The judge: vaebench-judge, the LibTorch-free C++ program built from this repository's CMake
(-DVAE_JUDGE_ONLY=ON) into the package. It writes case files and judges results files; the
reference, tolerances and diagnosis are its own (one spec, never re-implemented in Python)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import List, Optional, Tuple

from .errors import VaeCheckError


def judge_path() -> str:
    """The judge: $VAEBENCH_JUDGE; the one installed in the package; in a checkout, build/vaebench-judge."""
    env = os.environ.get("VAEBENCH_JUDGE")
    candidates: List[Path] = [Path(env)] if env else []
    here = Path(__file__).resolve().parent
    candidates.append(here / "_judge" / "vaebench-judge")
    repo = here.parents[2]  # python/src/vaebench -> the checkout
    candidates += [repo / "build" / "vaebench-judge", repo / "python" / "build" / "vaebench-judge"]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    found = shutil.which("vaebench-judge")
    if found:
        return found
    raise VaeCheckError("the judge (vaebench-judge) is not installed: `pip install ./python` builds it, or set "
                        "VAEBENCH_JUDGE to a built one; looked in: " + ", ".join(str(c) for c in candidates))


def _run(args: List[str]) -> Tuple[int, str, str]:
    p = subprocess.run([judge_path()] + args, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def version() -> str:
    code, out, err = _run(["--version"])
    if code != 0:
        raise VaeCheckError(f"{judge_path()} --version failed: {err.strip()}")
    return out.strip()


def write_case(path: str, config: dict, batch: int, adam_steps: int) -> None:
    cfg = Path(path).with_suffix(".config.json")
    cfg.write_text(json.dumps(config))
    code, _, err = _run(["cases", "write", path, "--config", str(cfg), "--batch", str(batch), "--adam-steps",
                         str(adam_steps)])
    if code != 0:
        raise VaeCheckError("the layer list read from the model was refused by the judge: " +
                            err.strip().replace("vaebench-judge: error: ", ""))


def judge(case: str, results: str, name: str, precision: Optional[str]) -> Tuple[dict, str]:
    """(the verdict's JSON document, the table) for one results file."""
    out_json = str(Path(results).with_suffix(".verdict.json"))
    args = ["judge", case, results, "--name", name, "--json", out_json]
    if precision:
        args += ["--precision", precision]
    code, out, err = _run(args)
    if code not in (0, 1) or not os.path.exists(out_json):
        raise VaeCheckError(f"the judge failed (exit {code}): {err.strip()}")
    with open(out_json) as f:
        return json.load(f), out


def mistakes(options: Optional[List[str]] = None) -> list:
    """The catalogue of known mistakes (name, kind, applies, formula) for the model options given."""
    code, out, err = _run(["mistakes", "--json"] + (options or []))
    if code != 0:
        raise VaeCheckError(err.strip())
    return json.loads(out)
