// The conv family for the CPU executor: conv.cu compiled by the host compiler
// (kernels/kernel_lang.h supplies CUDA's language through emu/cuda_emu.h).
#include "kernels/conv/conv.cu"
