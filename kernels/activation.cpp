#include "kernels/activation.h"

#include <cmath>

namespace qe::kernels {

float apply_activation_slow(float x, const Activation& act) {
  switch (act.kind) {
    case ActKind::kHardSigmoid: return std::min(1.f, std::max(0.f, act.alpha * x + act.beta));
    case ActKind::kHardSwish: return x * std::min(1.f, std::max(0.f, x / 6.f + 0.5f));
    case ActKind::kSigmoid: return 1.f / (1.f + std::exp(-x));
    default: return apply_activation(x, act);
  }
}

void apply_activation_inplace(float* data, int64_t n, const Activation& act) {
  if (act.kind == ActKind::kNone) return;
  for (int64_t i = 0; i < n; ++i) data[i] = apply_activation(data[i], act);
}

}  // namespace qe::kernels
