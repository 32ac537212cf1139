// The activation term of HAWQ-V2's sensitivity needs, for each activation a that a layer reads,
// the trace of the loss Hessian with respect to a. Hutchinson over activations is too noisy to
// use (a Rademacher probe over every activation at once picks up the large couplings between
// one layer's activation and the next), so the trace is taken as that of the Fisher
// information: E_{y~p} ‖∂ℓ(y)/∂a‖² with labels drawn from the model's own softmax. It equals the
// Gauss-Newton trace, never negative, and the Hessian's own where everything after a is piecewise
// linear (ReLU / ReLU6 networks); one gradient pass per batch and draw serves every activation.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/core/status.h"
#include "quant/mixed/backprop.h"

namespace qe {

struct ActivationTraceOptions {
  int draws = 2;  // label draws per batch
  uint64_t seed = 1;
  std::function<void(int, int)> progress;  // (passes done, passes)
};

struct ActivationTraceResult {
  // Per activation of the Backprop (BackpropOptions::activations): the trace per sample,
  // averaged over the batches by their sample counts.
  std::vector<double> traces;
  int passes = 0;
};

// The batches' labels are not used (the draws replace them); each batch must hold samples.
Result<ActivationTraceResult> estimate_activation_traces(Backprop& bp, const std::vector<LabelledBatch>& batches,
                                                         const ActivationTraceOptions& o = {});

}  // namespace qe
