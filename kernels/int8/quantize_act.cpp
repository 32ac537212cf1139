#include "kernels/int8/quantize_act.h"

#include <cmath>

namespace qe::kernels {

void quantize_act_ref(const float* x, void* y, int64_t n, const QuantizeActArgs& a) {
  for (int64_t i = 0; i < n; ++i) {
    int32_t q = a.zero_point;
    if (!std::isnan(x[i])) {
      float v = std::nearbyint(x[i] / a.scale);
      const float lo = static_cast<float>(a.lo - a.zero_point), hi = static_cast<float>(a.hi - a.zero_point);
      v = v < lo ? lo : (v > hi ? hi : v);
      q = static_cast<int32_t>(v) + a.zero_point;
    }
    if (a.is_signed) {
      static_cast<int8_t*>(y)[i] = static_cast<int8_t>(q);
    } else {
      static_cast<uint8_t*>(y)[i] = static_cast<uint8_t>(q);
    }
  }
}

QuantizeActFn quantize_act_ukernel(IsaLevel level) {
  if (level > cpu_features().level) return nullptr;
  switch (level) {
    case IsaLevel::kScalar: return &quantize_act_ref;
    case IsaLevel::kAvx2: return &quantize_act_avx2;
    case IsaLevel::kAvx512:
    case IsaLevel::kAvx512Vnni: return &quantize_act_avx512;
  }
  return nullptr;
}

}  // namespace qe::kernels
