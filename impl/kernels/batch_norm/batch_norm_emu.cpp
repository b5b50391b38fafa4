// The batch-norm family for the CPU executor: batch_norm.cu compiled by the host compiler.
#include "kernels/batch_norm/batch_norm.cu"
