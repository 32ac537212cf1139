#include "kernels/int8/quantize_act.h"

#include <algorithm>

#include "kernels/quant/fake_quant.h"

namespace qe::kernels {

// The definition is QuantizeLinear's own reference; this narrows its int32 results to bytes.
void quantize_act_ref(const float* x, void* y, int64_t n, const QuantizeActArgs& a) {
  constexpr int64_t kChunk = 256;
  int32_t q[kChunk];
  for (int64_t b = 0; b < n; b += kChunk) {
    const int64_t m = std::min(kChunk, n - b);
    quantize_linear_ref(x + b, q, &a.scale, &a.zero_point, 1, 1, m, a.lo, a.hi);
    for (int64_t i = 0; i < m; ++i) {
      if (a.is_signed) {
        static_cast<int8_t*>(y)[b + i] = static_cast<int8_t>(q[i]);
      } else {
        static_cast<uint8_t*>(y)[b + i] = static_cast<uint8_t>(q[i]);
      }
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
