// Quantized elementwise Add and Mul of two u8/s8 tensors, each with its own scale and zero point,
// into an output scale and zero point.
//
// Both ops in the float form mirror the simulation's own arithmetic on the dequantized values, so
// the result is bit-identical to FakeQuant(Add(FakeQuant(a), FakeQuant(b))):
//   da = fp32(a - za) * sa,  db = fp32(b - zb) * sb      (fp32 products: the dequantized inputs)
//   Add: t = da + db     Mul: t = da * db                (one fp32 operation, no FMA)
//   y  = nearbyint(clamp(t / sy, qmin - zy, qmax - zy) + zy)   (fp32 division; round half to even
//        with the zero point, as requantize.h)
// Mul in the fixed-point form: acc = (a - za) * (b - zb) (exact int32), y = requantize_ref(acc,
//   kFixedPoint, m, out) with m = sa * sb / sy.
//
// Layout: `planes` runs of `inner` elements. b is either the same shape as a (kSame) or one
// value per plane broadcast over its run (kPerPlane: [N, C, 1, 1] against [N, C, H, W], the SE
// block's scale). Both ops are symmetric in a and b (fp32 addition commutes), so a broadcast
// first operand is handled by swapping. Functions take a plane range [p0, p1) for threading.
#pragma once

#include <cstdint>

#include "engine/core/cpu_features.h"
#include "kernels/int8/requantize.h"

namespace qe::kernels {

enum class QBroadcast : uint8_t { kSame = 0, kPerPlane = 1 };

struct QBinaryParams {
  bool a_signed = false, b_signed = false, y_signed = false;
  int32_t a_zero_point = 0, b_zero_point = 0;
  float ma = 0.f, mb = 0.f;  // float form: sa, sb (out.divisor holds sy)
  RequantMode mode = RequantMode::kFloat;  // Mul only; Add always uses the float form
  RequantMultiplier m;                     // Mul, fixed-point form
  RequantOutput out;  // y's zero point and clamp range (fused Relu)
  QBroadcast b_broadcast = QBroadcast::kSame;
};

// Add parameters from the scales; clamp range = the full range of y's type.
QBinaryParams make_qadd_params(double sa, int32_t za, bool a_signed, double sb, int32_t zb, bool b_signed, double sy,
                               int32_t zy, bool y_signed);
// Mul parameters (fixed-point form: m = sa * sb / sy).
QBinaryParams make_qmul_params(double sa, int32_t za, bool a_signed, double sb, int32_t zb, bool b_signed, double sy,
                               int32_t zy, bool y_signed, RequantMode mode);

using QBinaryFn = void (*)(const QBinaryParams& q, const void* a, const void* b, void* y, int64_t inner, int64_t p0,
                           int64_t p1);
void qadd_ref(const QBinaryParams& q, const void* a, const void* b, void* y, int64_t inner, int64_t p0, int64_t p1);
void qmul_ref(const QBinaryParams& q, const void* a, const void* b, void* y, int64_t inner, int64_t p0, int64_t p1);
void qadd_avx2(const QBinaryParams& q, const void* a, const void* b, void* y, int64_t inner, int64_t p0, int64_t p1);
void qmul_avx2(const QBinaryParams& q, const void* a, const void* b, void* y, int64_t inner, int64_t p0, int64_t p1);
void qadd_avx512(const QBinaryParams& q, const void* a, const void* b, void* y, int64_t inner, int64_t p0, int64_t p1);
void qmul_avx512(const QBinaryParams& q, const void* a, const void* b, void* y, int64_t inner, int64_t p0, int64_t p1);
// For exactly `level` (the reference for kScalar).
QBinaryFn qadd_ukernel(IsaLevel level);
QBinaryFn qmul_ukernel(IsaLevel level);

}  // namespace qe::kernels
