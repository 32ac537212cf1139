// Requantization: an int32 accumulator (sum of integer products plus an int32 bias) becomes a
// quantized output value. This header is the one scalar definition every integer kernel's fast
// path must match bit for bit.
//
//   y = clamp(round_half_even(acc * m / d + zero_point), qmin, qmax),   m / d = s_in * s_w / s_out
//
// Two forms of the multiplier, chosen per model:
//  - kFloat: m is an fp32 value and d an fp32 divisor (RequantOutput::divisor). acc is
//    converted to fp32 (round to nearest even, as vcvtdq2ps), multiplied once in fp32 (no FMA),
//    divided once in fp32, clamped to [qmin - zp, qmax - zp], and rounded half to even together
//    with the zero point: round(v + zp) differs from round(v) + zp only at exact ties with an
//    odd zero point, and the vector forms round with vcvtps2dq and then move those ties. The
//    integer lowering sets m = fp32(s_in * s_w) and d = s_out: the product is then exactly the
//    dequantized accumulator the simulation computes (engine/exact_simulation.h) and the
//    quotient exactly its quantizer's x / s, so the result is bit-identical to the simulation.
//    d = 1 (an exact no-op) gives the one-multiplier form.
//  - kFixedPoint: the dyadic form of HAWQ-V3 / gemmlowp, m ≈ M · 2^-n with M in [2^30, 2^31) and
//    1 <= n <= 62; acc * M is exact in int64 and the division by 2^n rounds half to even (gemmlowp
//    rounds half away from zero; we match QuantizeLinear instead). The form requires m < 1, as
//    gemmlowp's does: then |acc * m| < 2^31 and the int32 result cannot wrap (the bindings reject
//    larger multipliers in this mode; the float form takes any m).
// Clamping happens before rounding in the float form so no value can overflow the conversion;
// as qmin - zp and qmax - zp are integers, this gives the same result as clamping after.
#pragma once

#include <cmath>
#include <cstdint>

namespace qe::kernels {

enum class RequantMode : uint8_t { kFloat = 0, kFixedPoint = 1 };

const char* requant_mode_name(RequantMode mode);

// One output channel's multiplier in both forms (a model uses one form for all channels).
struct RequantMultiplier {
  float m = 0.f;          // kFloat
  int32_t fx_mult = 0;    // kFixedPoint: M in [2^30, 2^31) (smaller only for m < 2^-32, 0 for m = 0)
  int32_t fx_shift = 31;  // kFixedPoint: n in [1, 62]
};

// Both forms of a real multiplier m >= 0. m >= 2^30 cannot be represented in the fixed-point
// form; callers reject such layers (they mean a broken scale) before building kernels.
RequantMultiplier make_requant_multiplier(double m);

// Output side of a requantization: zero point and the clamp range, which also expresses a fused
// Relu / Clip (qmin raised to the zero point or to the quantized clip bound).
struct RequantOutput {
  int32_t zero_point = 0;
  int32_t qmin = -128;
  int32_t qmax = 127;
  float divisor = 1.f;  // kFloat only: acc * m is divided by it
};

// Per-tensor or per-channel parameters: `mult` points to one value or to one per channel.
struct RequantParams {
  RequantMode mode = RequantMode::kFloat;
  const RequantMultiplier* mult = nullptr;
  bool per_channel = false;
  RequantOutput out;
  const RequantMultiplier& channel(int64_t c) const { return mult[per_channel ? c : 0]; }
};

inline int32_t round_shift_half_even(int64_t v, int n) {
  int64_t q = v >> n;  // floor
  const int64_t rem = v - (q << n);
  const int64_t half = int64_t{1} << (n - 1);
  q += (rem > half) | ((rem == half) & (q & 1));
  return static_cast<int32_t>(q);
}

inline int32_t requantize_float_ref(int32_t acc, float m, const RequantOutput& o) {
  float v = static_cast<float>(acc) * m;
  v = v / o.divisor;
  const float lo = static_cast<float>(o.qmin - o.zero_point);
  const float hi = static_cast<float>(o.qmax - o.zero_point);
  v = v < lo ? lo : (v > hi ? hi : v);
  // The zero point joins before the rounding, as in the quantizer (QONNX rounds x / s + z): with
  // an odd zero point an exact tie then goes the other way than round(x / s) + z. v + zp is exact
  // in double.
  return static_cast<int32_t>(std::nearbyint(static_cast<double>(v) + o.zero_point));
}

inline int32_t requantize_fixed_ref(int32_t acc, int32_t fx_mult, int32_t fx_shift, const RequantOutput& o) {
  int64_t r = round_shift_half_even(static_cast<int64_t>(acc) * fx_mult, fx_shift);
  r += o.zero_point;
  return static_cast<int32_t>(r < o.qmin ? o.qmin : (r > o.qmax ? o.qmax : r));
}

// The reference: every fast path is tested against this.
inline int32_t requantize_ref(int32_t acc, RequantMode mode, const RequantMultiplier& m, const RequantOutput& o) {
  return mode == RequantMode::kFloat ? requantize_float_ref(acc, m.m, o)
                                     : requantize_fixed_ref(acc, m.fx_mult, m.fx_shift, o);
}

}  // namespace qe::kernels
