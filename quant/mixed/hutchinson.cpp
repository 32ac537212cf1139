#include "quant/mixed/hutchinson.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace qe {

namespace {

double element(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kF64 ? t.data<double>()[i] : static_cast<double>(t.data<float>()[i]);
}

// Rademacher ±1 per element, one bit of the generator each, in weight order.
std::vector<Tensor> rademacher(const Backprop& bp, std::mt19937_64& rng) {
  std::vector<Tensor> v;
  uint64_t bits = 0;
  int left = 0;
  for (size_t w = 0; w < bp.weights().size(); ++w) {
    Tensor t(DType::kF32, bp.weight_shape(w));
    float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (left == 0) bits = rng(), left = 64;
      p[i] = (bits & 1) ? 1.f : -1.f;
      bits >>= 1, --left;
    }
    v.push_back(std::move(t));
  }
  return v;
}

}  // namespace

Result<HutchinsonResult> estimate_hessian_traces(Backprop& bp, const std::vector<LabelledBatch>& batches,
                                                 const HutchinsonOptions& o) {
  if (batches.empty()) return invalid_argument("hutchinson: no data batches");
  if (o.max_iterations < 1) return invalid_argument("hutchinson: max_iterations must be >= 1, got ", o.max_iterations);
  // A budget below min_iterations wins: callers cap the cost with max_iterations alone.
  if (o.batches_per_iteration < 0) return invalid_argument("hutchinson: batches_per_iteration must be >= 0");
  const size_t per_iteration = o.batches_per_iteration == 0
                                   ? batches.size()
                                   : std::min(batches.size(), static_cast<size_t>(o.batches_per_iteration));
  const int full_cycle = static_cast<int>((batches.size() + per_iteration - 1) / per_iteration);
  const int min_iterations = std::clamp(std::max(o.min_iterations, full_cycle), 1, o.max_iterations);
  if (!(o.tolerance >= 0)) return invalid_argument("hutchinson: tolerance must be >= 0");
  for (const LabelledBatch& b : batches) {
    if (b.labels.empty()) return invalid_argument("hutchinson: a batch holds no samples");
  }
  size_t next_batch = 0;

  const size_t layers = bp.weights().size();
  HutchinsonResult r;
  r.traces.assign(layers, 0.0);
  r.iterations_used.assign(layers, 0);
  // Running means weighted by the samples behind each estimate: when the batches are cycled and
  // differ in size, the estimate still targets the Hessian of all the data.
  std::vector<double> sum(layers, 0.0), weight_sum(layers, 0.0);
  std::mt19937_64 rng(o.seed);
  for (int it = 1; it <= o.max_iterations && !r.converged; ++it) {
    const std::vector<Tensor> v = rademacher(bp, rng);
    std::vector<double> estimate(layers, 0.0);
    std::vector<const LabelledBatch*> chosen;
    double samples = 0;
    for (size_t k = 0; k < per_iteration; ++k) {
      chosen.push_back(&batches[next_batch]);
      samples += static_cast<double>(batches[next_batch].labels.size());
      next_batch = (next_batch + 1) % batches.size();
    }
    for (const LabelledBatch* batch_ptr : chosen) {
      const LabelledBatch& b = *batch_ptr;
      QE_ASSIGN_OR_RETURN(std::vector<Tensor> hv, bp.hessian_vector_product(b.inputs, b.labels, v));
      const double weight = static_cast<double>(b.labels.size()) / samples;
      for (size_t w = 0; w < layers; ++w) {
        double dot = 0;
        const float* s = v[w].data<float>();
        for (int64_t i = 0; i < v[w].numel(); ++i) dot += s[i] * element(hv[w], i);
        estimate[w] += weight * dot;
      }
    }
    r.iterations = it;
    // Every layer must settle in the same iteration: one layer's single-sample change is small
    // by chance often enough that freezing layers one by one would stop noisy ones early.
    bool settled = it > 1 && it >= min_iterations;
    for (size_t w = 0; w < layers; ++w) {
      const double before = r.traces[w];
      sum[w] += samples * estimate[w];
      weight_sum[w] += samples;
      r.iterations_used[w] = it;
      r.traces[w] = sum[w] / weight_sum[w];
      if (!(std::fabs(r.traces[w] - before) < o.tolerance * std::fabs(before))) settled = false;
    }
    r.converged = settled;
    if (o.progress) o.progress(it, o.max_iterations);
  }
  return r;
}

}  // namespace qe
