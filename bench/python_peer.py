#!/usr/bin/env python3
"""The Python peer (the pytorch/examples MNIST VAE, timed the way vaebench times its C++ backends):
a launcher for vaebench.peer (python/src/vaebench/peer/; its docstring says what the peer does),
run from this checkout with torch, numpy and safetensors alone, no package installed."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python", "src"))
from vaebench.peer.cli import main  # noqa: E402 -- after the path is set

if __name__ == "__main__":
    sys.exit(main())
