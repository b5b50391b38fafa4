"""The process's torch settings (threads, VML dispatch, IEEE fp32) and the device."""
import platform

import torch

from .errors import UsageError


def resolve_mkl_vml_dispatch():
    """As impl/libtorch/vml_dispatch.h: oneMKL 2024.2 (inside torch's wheels) picks each VML
    function's kernel on its first call, and a first call racing on several threads can run the
    low-accuracy kernel for one chunk (pytorch/pytorch#188792). One single-threaded call per
    function and precision, before any other math, settles the choice."""
    with torch.no_grad():
        for dtype in (torch.float32, torch.float64):
            t = torch.full((1,), 0.5, dtype=dtype)
            for op in (torch.acos, torch.asin, torch.atan, torch.cos, torch.erf, torch.erfc, torch.erfinv,
                       torch.exp, torch.log, torch.log10, torch.log2, torch.sin, torch.sqrt, torch.tan,
                       torch.tanh, torch.trunc):
                op(t)


def setup_torch(args):
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available to this PyTorch")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    resolve_mkl_vml_dispatch()
    return torch.device(args.device)


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fp32_means_fp32():
    """PyTorch runs cuDNN's fp32 convolutions in TF32 by default: the peer's fp32 would be tf32 on a GPU
    for the conv models. fp32 here is IEEE fp32 for both libraries, as vaebench's LibTorch backends set it
    (libtorch/autocast.h, the same switches). The legacy flags: after them both the legacy and the new
    fp32_precision API read consistently (setting the new API's conv flag alone makes a later read of
    torch.backends.cudnn.allow_tf32, which torch.compile does, raise in this torch)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
