// GPFQ (Lybrand & Saab 2021, "A Greedy Algorithm for Quantizing Neural Networks", JMLR; Zhang
// & Saab 2023, arXiv 2201.11113, the form whose inputs are the quantized graph's): a greedy
// path through the columns that keeps, for every row, the running output error
// u_t = Σ_{s≤t} (w_s X_s − q_s X̃_s) (in sample space) small, choosing each q_t as the grid
// point nearest to the least-squares coefficient of X̃_t against u_{t−1} + w_t X_t. Unlike
// GPTQ it targets ‖W̃X̃ − WX‖², i.e. it also absorbs the error already present in the
// quantized graph's inputs; so it needs g = Σ x̃ xᵀ as well as h = Σ x̃ x̃ᵀ.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/core/status.h"
#include "quant/layer_problem.h"

namespace qe {

struct GpfqOptions {
  // ‖X̃_t‖² is taken as h[t][t] + damp · mean(diag h): keeps inputs that are (almost) never
  // active from dividing by ~0 (an exactly dead input gets the grid point nearest zero).
  double damp = 0.01;
  // Walk the columns by decreasing ‖X̃_t‖² (h[t][t]) instead of in index order: the inputs
  // that carry the most energy are placed while the most freedom is left to absorb their
  // error (lower output error in our tests; false gives the papers' index order).
  bool descending_norm_order = true;
};

// rows × k weights, every element on its own grid (round_to_grid / grid_value of `p`).
// Needs p.g.
Result<std::vector<float>> gpfq_solve(const LayerProblem& p, const GpfqOptions& opts = {});

}  // namespace qe
