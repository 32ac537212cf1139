// GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative
// Pre-trained Transformers", arXiv 2210.17323) on one layer's rounding problem: columns are
// quantized one at a time and each rounding error is pushed onto the columns not yet
// quantized, weighted by the inverse Hessian of ‖(W̃ − W) X̃‖² (h = Σ x̃ x̃ᵀ), so the later
// columns compensate for the earlier ones. Rows are independent given the inverse Hessian, so
// every column step is a rank-1 update over all rows, batched into blocks as in the paper.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/core/status.h"
#include "quant/layer_problem.h"

namespace qe {

struct GptqOptions {
  double damp = 0.01;        // damping: h += damp · mean(diag h) · I (the paper's percdamp)
  int64_t block_size = 128;  // lazy-batch block size (the result does not depend on it beyond float rounding)
  bool act_order = false;    // process columns in decreasing diag(h) order
};

// rows × k weights, every element on its own grid (round_to_grid / grid_value of `p`).
// Fails (rather than producing garbage) when h is not positive definite even after the
// damping has been raised 1000-fold.
Result<std::vector<float>> gptq_solve(const LayerProblem& p, const GptqOptions& opts = {});

// Dense double-precision building blocks shared by the layer-sequential solvers (GPTQ, GPFQ).
namespace layer_solver_detail {

// C[m × n] += alpha · A[m × kk] · B[kk × n]; row-major, each with its own leading dimension.
// Cache-blocked, with an AVX2/FMA register kernel when the CPU has one (QENGINE_ISA caps it).
void gemm_accumulate(int64_t m, int64_t n, int64_t kk, double alpha, const double* a, int64_t lda, const double* b,
                     int64_t ldb, double* c, int64_t ldc);

// Shapes, grid and statistics of `p` are consistent (g too when `needs_g`); `solver` names the
// caller in the message.
Status check_layer_problem(const LayerProblem& p, bool needs_g, const char* solver);

// Indices sorted by decreasing value (ties keep their order): the act-order column permutation.
std::vector<int64_t> decreasing_order(const std::vector<double>& values);

}  // namespace layer_solver_detail

}  // namespace qe
