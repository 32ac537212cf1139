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

namespace {

template <typename T>
void dequantize_bytes(const T* q, float* y, int64_t n, int32_t zp, float s) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(static_cast<int32_t>(q[i]) - zp) * s;
}

}  // namespace

void dequantize_act(const void* q, float* y, int64_t n, const QuantizeActArgs& a) {
  if (a.is_signed) {
    dequantize_bytes(static_cast<const int8_t*>(q), y, n, a.zero_point, a.scale);
  } else {
    dequantize_bytes(static_cast<const uint8_t*>(q), y, n, a.zero_point, a.scale);
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
