"""Data: MNIST's IDX files, parsed with gzip + numpy, the whole split resident on the device as uint8
(see the package's docstring)."""
import gzip
import os
import struct

import numpy as np
import torch

from .config import INPUT_DIM
from .errors import UsageError

IDX_IMAGES_MAGIC = 0x00000803


def load_idx_images(path):
    """uint8 tensor [count, rows*cols] from a gzip'ed IDX3 file; UsageError naming the file if bad."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise UsageError(f"{path}: cannot read gzip'ed IDX file: {e}") from e
    if len(raw) < 16:
        raise UsageError(f"{path}: too short for an IDX3 header ({len(raw)} bytes)")
    magic, count, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != IDX_IMAGES_MAGIC:
        raise UsageError(f"{path}: IDX magic 0x{magic:08x}, expected 0x{IDX_IMAGES_MAGIC:08x} (uint8 images)")
    if rows * cols != INPUT_DIM:
        raise UsageError(f"{path}: images are {rows}x{cols}, expected 28x28")
    if len(raw) != 16 + count * rows * cols:
        raise UsageError(f"{path}: {len(raw) - 16} data bytes, header promises {count}x{rows}x{cols}")
    return torch.from_numpy(np.frombuffer(raw, np.uint8, offset=16).reshape(count, INPUT_DIM).copy())


def load_split(data_dir, name, device):
    return load_idx_images(os.path.join(data_dir, f"{name}-images-idx3-ubyte.gz")).to(device)
