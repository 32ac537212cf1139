// Hutchinson estimation of per-layer Hessian traces, the sensitivity of HAWQ-V3
// (Ω_i = Tr(H_i) / n_i · ‖W_i − Q(W_i)‖²): E[v_iᵀ (H v)_i] = Tr(H_ii) for a Rademacher v over all
// weights at once, so one exact HVP (quant/mixed/backprop.h) per iteration serves every layer.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/core/status.h"
#include "quant/mixed/backprop.h"

namespace qe {

struct HutchinsonOptions {
  int max_iterations = 200;
  int min_iterations = 10;  // capped at max_iterations
  // The run stops (after min_iterations) at the first iteration in which every layer's
  // running mean moved by less than this, relative. 0 runs max_iterations.
  double tolerance = 1e-3;
  uint64_t seed = 1;
  // Batches per HVP: 0 uses every batch in every iteration (the exact Hessian of all the data
  // per sample of v); k > 0 cycles through the batches k at a time, which is unbiased for the
  // same trace and buys more independent v for the same work. Stopping then waits until every
  // batch has been seen.
  int batches_per_iteration = 0;
  // Called after each iteration with (iterations done, max_iterations); the run may stop
  // earlier when it converges.
  std::function<void(int, int)> progress;
};

struct HutchinsonResult {
  std::vector<double> traces;        // per weight, Tr(H_ii)
  std::vector<int> iterations_used;  // per weight: samples averaged into its trace (= iterations)
  int iterations = 0;                // HVPs run (each over every batch)
  bool converged = false;            // every layer met the tolerance in the last iteration
};

// The Hessian is that of the loss over all `batches` together: each HVP is the average of the
// per-batch HVPs weighted by their sample counts. Deterministic for a given seed; the thread
// count changes the result only by float rounding (not at all in float64).
Result<HutchinsonResult> estimate_hessian_traces(Backprop& bp, const std::vector<LabelledBatch>& batches,
                                                 const HutchinsonOptions& o = {});

}  // namespace qe
