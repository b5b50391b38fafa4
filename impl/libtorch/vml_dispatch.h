#pragma once
// LibTorch's CPU wheels route float and double unary ops (exp, log, tanh, sqrt, ...) of
// contiguous tensors to oneMKL VML, called from each intra-op worker on its chunk with
// VML_HA requested. oneMKL 2024.2 (the build inside torch 2.11's wheels) picks each VML
// function's kernel lazily on its first call; when that first call runs on several workers
// at once, one worker can run the low-accuracy EP kernel for its whole chunk of that one
// call (pytorch/pytorch#188792, fix proposed in #188791). Here it surfaced as a fp64 backend
// whose first step had z = mu + exp(lv/2) eps off by 8e-10 norm-wise in one process in ~20
// under load, 3x over backend-fp64, while every rerun in the same process was exact.
//
// The cure is the same as #188791's: call every VML-routed op once on one element, on one
// thread, before any parallel use, so the dispatch is resolved while nothing races for it.
namespace vae::libtorch {

// Idempotent and thread-safe; costs a few microseconds on the first call only. Every code
// path that runs LibTorch CPU math calls it before its first op.
void resolve_mkl_vml_dispatch();

}  // namespace vae::libtorch
