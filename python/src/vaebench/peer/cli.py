"""The command line: `bench`, `train` and `cases` with their options (see the package's docstring), and
main(), which reports a UsageError or a case file's CaseFileError on stderr with exit status 2."""
import argparse
import os
import sys

from . import __doc__ as PEER_DOC
from ..casefile import CaseFileError
from .bench import KINDS, cmd_bench
from .cases import cmd_cases
from .config import MODELS
from .device import fp32_means_fp32
from .errors import UsageError
from .runner import MODES, PRECISIONS
from .train import cmd_train


def default_data_dir():
    """data/mnist of the checkout this file is in (python/src/vaebench/peer/cli.py), where
    bench/python_peer.py has always looked; data/mnist under the working folder when the package
    is installed elsewhere."""
    here = os.path.dirname(os.path.abspath(__file__))
    parts = here.split(os.sep)
    if parts[-4:] == ["python", "src", "vaebench", "peer"]:
        return os.path.join(os.sep.join(parts[:-4]) or os.sep, "data", "mnist")
    return os.path.join("data", "mnist")


def comma_list(choices=None, convert=str, name="value"):
    def parse(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError("empty list")
        out = []
        for t in items:
            if choices and t not in choices:
                raise argparse.ArgumentTypeError(f"unknown {name} '{t}' (choose from {', '.join(choices)})")
            try:
                v = convert(t)
            except ValueError:
                raise argparse.ArgumentTypeError(f"'{t}' is not a valid {name}") from None
            if convert is int and v < 1:
                raise argparse.ArgumentTypeError(f"{name} {v} must be at least 1")
            out.append(v)
        return out
    return parse


def positive(convert):
    def parse(text):
        try:
            v = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        if not v > 0:
            raise argparse.ArgumentTypeError(f"{text} must be positive")
        return v
    return parse


def build_parser(prog=None):
    """The parser of every subcommand; prog None: argparse's (the script's name)."""
    p = argparse.ArgumentParser(prog=prog, description=PEER_DOC.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--threads", type=int, default=0, help="torch.set_num_threads when > 0")
    common.add_argument("--data", default=default_data_dir(), help="folder with the MNIST IDX .gz files")

    b = sub.add_parser("bench", parents=[common], help="throughput benchmarks in Google Benchmark JSON")
    b.add_argument("--modes", type=comma_list(MODES, name="mode"), default=["python-eager"])
    b.add_argument("--kinds", type=comma_list(KINDS, name="kind"), default=list(KINDS))
    b.add_argument("--batches", type=comma_list(convert=int, name="batch"), default=[128])
    b.add_argument("--epoch-batches", type=comma_list(convert=int, name="batch"), default=None,
                   help="batch sizes for train_epoch (default: --batches)")
    b.add_argument("--precision", type=comma_list(("fp32", "bf16"), name="precision"), default=["fp32"],
                   help="fp32 and/or bf16 (torch.autocast bfloat16), as vaebench-bench --precision")
    b.add_argument("--repetitions", type=positive(int), default=3)
    b.add_argument("--min-time", type=positive(float), default=0.5, help="seconds per repetition")
    b.add_argument("--family-index-start", type=int, default=1000)
    b.add_argument("--out", help="write a Google Benchmark JSON here")
    b.add_argument("--merge-into", help="append the entries to this Google Benchmark JSON (atomically)")
    b.add_argument("--model", choices=MODELS, default="mlp",
                   help="mlp (the example's, default) | conv-mnist | conv-celeba64 (the seeds' ConvVAE and CelebAVAE, "
                        "as vaebench --model; conv-celeba64 runs on seeded synthetic 3x64x64 images)")
    b.add_argument("--latent", type=positive(int), default=None, help="the preset's latent size (default: its own)")
    b.add_argument("--config", help="the model from a config JSON (vaebench's, with \"layers\" for a model as layers, "
                                    "or a bare layers JSON), or a case file / checkpoint whose metadata has one")
    b.add_argument("--synthetic-images", type=positive(int), default=60000,
                   help="how many synthetic images a model without its data set gets (default 60000, as MNIST's "
                        "training split and vaebench-bench)")

    t = sub.add_parser("train", parents=[common], help="train and record the test-loss curve")
    t.add_argument("--mode", choices=MODES, default="python-eager")
    t.add_argument("--model", choices=MODELS, default="mlp",
                   help="the architecture (a preset, as vaebench's --model); the recipe is the same")
    t.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="bf16: torch.autocast bfloat16")
    t.add_argument("--epochs", type=positive(int), default=10)
    t.add_argument("--batch", type=positive(int), default=128)
    t.add_argument("--target-loss", type=float, default=None, help="test loss (nats) for time to quality")
    t.add_argument("--stop-at-target", action="store_true")
    t.add_argument("--out", required=True, help="history JSON")

    c = sub.add_parser("cases", parents=[common], help="results files for vaebench's exported validation cases")
    c.add_argument("dir", help="folder of `vaebench cases export`")
    c.add_argument("--modes", type=comma_list(MODES, name="mode"), default=["python-eager"])
    c.add_argument("--case", help="only these cases (comma list)")
    c.add_argument("--precision", choices=tuple(PRECISIONS), default="fp32",
                   help="fp32 (default: what the peer times), bf16 (the same under torch.autocast bfloat16, judged "
                        "at bf16) or fp64 (the same code in float64, judged at fp64)")
    c.add_argument("--out", help="results go to OUT/<mode>/<case>.safetensors (default: DIR-results)")
    return p


def main(argv=None, prog=None):
    """Run one subcommand (argv: sys.argv[1:] when None); its exit status."""
    args = build_parser(prog).parse_args(argv)
    fp32_means_fp32()
    try:
        return {"bench": cmd_bench, "train": cmd_train, "cases": cmd_cases}[args.command](args)
    except (UsageError, CaseFileError) as e:
        print(f"python_peer.py: error: {e}", file=sys.stderr)
        return 2
