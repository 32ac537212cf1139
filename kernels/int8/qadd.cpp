#include "kernels/int8/qadd.h"

#include <cmath>

namespace qe::kernels {

namespace {

inline int32_t ld(const void* p, bool s, int64_t i) {
  return s ? static_cast<const int8_t*>(p)[i] : static_cast<const uint8_t*>(p)[i];
}
inline void st(void* p, bool s, int64_t i, int32_t v) {
  if (s) {
    static_cast<int8_t*>(p)[i] = static_cast<int8_t>(v);
  } else {
    static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(v);
  }
}

}  // namespace

// Add's parameters are the float form's, which Mul shares.
QBinaryParams make_qadd_params(double sa, int32_t za, bool a_signed, double sb, int32_t zb, bool b_signed, double sy,
                               int32_t zy, bool y_signed) {
  QBinaryParams q;
  q.ma = static_cast<float>(sa);
  q.mb = static_cast<float>(sb);
  q.out.divisor = static_cast<float>(sy);
  q.a_signed = a_signed;
  q.b_signed = b_signed;
  q.y_signed = y_signed;
  q.a_zero_point = za;
  q.b_zero_point = zb;
  q.out.zero_point = zy;
  q.out.qmin = y_signed ? -128 : 0;
  q.out.qmax = y_signed ? 127 : 255;
  return q;
}

QBinaryParams make_qmul_params(double sa, int32_t za, bool a_signed, double sb, int32_t zb, bool b_signed, double sy,
                               int32_t zy, bool y_signed, RequantMode mode) {
  QBinaryParams q = make_qadd_params(sa, za, a_signed, sb, zb, b_signed, sy, zy, y_signed);
  q.mode = mode;
  q.m = make_requant_multiplier(sa * sb / sy);
  return q;
}

namespace {

// The float form of qadd.h for one element pair; kMul selects the product.
template <bool kMul>
int32_t float_form(const QBinaryParams& q, int32_t a, int32_t b) {
  const float da = static_cast<float>(a - q.a_zero_point) * q.ma;
  const float db = static_cast<float>(b - q.b_zero_point) * q.mb;
  float t = kMul ? da * db : da + db;
  t = t / q.out.divisor;
  const float lo = static_cast<float>(q.out.qmin - q.out.zero_point);
  const float hi = static_cast<float>(q.out.qmax - q.out.zero_point);
  t = t < lo ? lo : (t > hi ? hi : t);
  return static_cast<int32_t>(std::nearbyint(static_cast<double>(t) + q.out.zero_point));  // as requantize.h
}

}  // namespace

void qadd_ref(const QBinaryParams& q, const void* a, const void* b, void* y, int64_t inner, int64_t p0, int64_t p1) {
  for (int64_t pl = p0; pl < p1; ++pl) {
    for (int64_t k = 0; k < inner; ++k) {
      const int64_t i = pl * inner + k;
      const int64_t bi = q.b_broadcast == QBroadcast::kPerPlane ? pl : i;
      st(y, q.y_signed, i, float_form<false>(q, ld(a, q.a_signed, i), ld(b, q.b_signed, bi)));
    }
  }
}

void qmul_ref(const QBinaryParams& q, const void* a, const void* b, void* y, int64_t inner, int64_t p0, int64_t p1) {
  for (int64_t pl = p0; pl < p1; ++pl) {
    for (int64_t k = 0; k < inner; ++k) {
      const int64_t i = pl * inner + k;
      const int64_t bi = q.b_broadcast == QBroadcast::kPerPlane ? pl : i;
      const int32_t av = ld(a, q.a_signed, i), bv = ld(b, q.b_signed, bi);
      if (q.mode == RequantMode::kFloat) {
        st(y, q.y_signed, i, float_form<true>(q, av, bv));
        continue;
      }
      const int32_t acc = (av - q.a_zero_point) * (bv - q.b_zero_point);
      st(y, q.y_signed, i, requantize_ref(acc, q.mode, q.m, q.out));
    }
  }
}

QBinaryFn qadd_ukernel(IsaLevel level) {
  switch (level) {
    case IsaLevel::kAvx2: return &qadd_avx2;
    case IsaLevel::kAvx512:
    case IsaLevel::kAvx512Vnni: return &qadd_avx512;
    default: return &qadd_ref;
  }
}

QBinaryFn qmul_ukernel(IsaLevel level) {
  switch (level) {
    case IsaLevel::kAvx2: return &qmul_avx2;
    case IsaLevel::kAvx512:
    case IsaLevel::kAvx512Vnni: return &qmul_avx512;
    default: return &qmul_ref;
  }
}

}  // namespace qe::kernels
