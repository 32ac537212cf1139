#include "quant/mixed/activation_trace.h"

#include <random>

namespace qe {

Result<ActivationTraceResult> estimate_activation_traces(Backprop& bp, const std::vector<LabelledBatch>& batches,
                                                         const ActivationTraceOptions& o) {
  if (bp.activations().empty()) return invalid_argument("activation traces: the backprop watches no activation");
  if (batches.empty()) return invalid_argument("activation traces: no data batches");
  if (o.draws < 1) return invalid_argument("activation traces: draws must be >= 1, got ", o.draws);
  const size_t acts = bp.activations().size();
  ActivationTraceResult r;
  r.traces.assign(acts, 0.0);
  std::mt19937_64 seeds(o.seed);
  double samples = 0;
  const int passes = static_cast<int>(batches.size()) * o.draws;
  for (const LabelledBatch& b : batches) {
    if (b.inputs.empty() || b.inputs[0].shape().rank() == 0 || b.inputs[0].shape()[0] < 1) {
      return invalid_argument("activation traces: a batch holds no samples");
    }
    const double n = static_cast<double>(b.inputs[0].shape()[0]);
    for (int d = 0; d < o.draws; ++d) {
      QE_ASSIGN_OR_RETURN(LossGradient g, bp.gradient_sampled(b.inputs, seeds()));
      // The loss is the batch mean, so each sample's gradient carries 1/n: n · Σ‖g‖² is the
      // mean over the batch of each sample's ‖∂ℓ/∂a‖²; times n again to weight the batch.
      for (size_t a = 0; a < acts; ++a) r.traces[a] += n * n * g.activation_squared_norms[a] / o.draws;
      ++r.passes;
      if (o.progress) o.progress(r.passes, passes);
    }
    samples += n;
  }
  for (double& t : r.traces) t /= samples;
  return r;
}

}  // namespace qe
