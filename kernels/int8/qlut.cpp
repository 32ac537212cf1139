#include "kernels/int8/qlut.h"

#include <cmath>

namespace qe::kernels {

namespace {

inline int32_t value_of(int idx, bool is_signed) { return is_signed ? static_cast<int8_t>(idx) : idx; }

}  // namespace

void build_qlut(FnRef<float(float)> f, const QLutSide& in, const QLutSide& out, uint8_t table[256]) {
  const float lo = static_cast<float>(out.qmin - out.zero_point);
  const float hi = static_cast<float>(out.qmax - out.zero_point);
  for (int idx = 0; idx < 256; ++idx) {
    const float x = static_cast<float>(value_of(idx, in.is_signed) - in.zero_point) * in.scale;
    float v = f(x) / out.scale;
    if (std::isnan(v)) v = 0.f;
    v = v < lo ? lo : (v > hi ? hi : v);
    table[idx] = static_cast<uint8_t>(static_cast<int32_t>(std::nearbyint(v)) + out.zero_point);
  }
}

void build_requant_lut(bool in_signed, int32_t in_zero_point, RequantMode mode, const RequantMultiplier& m,
                       const RequantOutput& out, uint8_t table[256]) {
  for (int idx = 0; idx < 256; ++idx) {
    table[idx] = static_cast<uint8_t>(requantize_ref(value_of(idx, in_signed) - in_zero_point, mode, m, out));
  }
}

void apply_qlut_ref(const uint8_t table[256], const void* x, void* y, int64_t n) {
  const uint8_t* src = static_cast<const uint8_t*>(x);
  uint8_t* dst = static_cast<uint8_t*>(y);
  for (int64_t i = 0; i < n; ++i) dst[i] = table[src[i]];
}

void apply_qlut(const uint8_t table[256], const void* x, void* y, int64_t n) {
  // A byte gather has no fast vector form below AVX-512 VBMI (vpermb); 4 lookups per iteration
  // keep the loads independent.
  const uint8_t* src = static_cast<const uint8_t*>(x);
  uint8_t* dst = static_cast<uint8_t*>(y);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint8_t a = table[src[i]], b = table[src[i + 1]], c = table[src[i + 2]], d = table[src[i + 3]];
    dst[i] = a;
    dst[i + 1] = b;
    dst[i + 2] = c;
    dst[i + 3] = d;
  }
  for (; i < n; ++i) dst[i] = table[src[i]];
}

}  // namespace qe::kernels
