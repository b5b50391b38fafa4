"""`python -m vaebench.peer bench|train|cases ...`: the same command line as bench/python_peer.py."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m vaebench.peer"))
