#!/usr/bin/env python3
"""Cross-check a safetensors file written by our C++ code with the reference Python library.

Usage: safetensors_python_check.py FILE EXPECT.json
  EXPECT.json = {"metadata": {str: str},
                 "tensors": {name: {"dtype": numpy dtype name, "shape": [...], "values": [flat, row-major]}}}
Loads FILE with safetensors.numpy.load_file (tensors) and safe_open(...).metadata() (metadata)
and checks both against EXPECT exactly. Exit 0 if all match, 1 with one line per mismatch
on stderr otherwise, 2 on usage or import errors.
"""
import json
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, expect_path = sys.argv[1], sys.argv[2]
    try:
        import numpy as np
        from safetensors import safe_open
        from safetensors.numpy import load_file
    except ImportError as e:
        print(f"cannot import safetensors/numpy: {e}", file=sys.stderr)
        return 2
    with open(expect_path, encoding="utf-8") as f:
        expect = json.load(f)

    problems = []
    tensors = load_file(path)
    if sorted(tensors) != sorted(expect["tensors"]):
        problems.append(f"tensor names {sorted(tensors)} != expected {sorted(expect['tensors'])}")
    for name, want in expect["tensors"].items():
        got = tensors.get(name)
        if got is None:
            continue
        if str(got.dtype) != want["dtype"]:
            problems.append(f"{name}: dtype {got.dtype} != {want['dtype']}")
        if list(got.shape) != want["shape"]:
            problems.append(f"{name}: shape {list(got.shape)} != {want['shape']}")
        if got.ravel().tolist() != want["values"]:
            problems.append(f"{name}: values {got.ravel().tolist()} != {want['values']}")

    with safe_open(path, framework="numpy") as f:
        metadata = f.metadata() or {}  # None when the file has no "__metadata__"
    if metadata != expect.get("metadata", {}):
        problems.append(f"metadata {metadata} != {expect.get('metadata', {})}")

    for p in problems:
        print(f"{path}: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
