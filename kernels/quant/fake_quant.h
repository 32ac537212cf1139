// Quantizer arithmetic (QONNX Quant / BipolarQuant / FloatQuant / Trunc, ONNX QuantizeLinear /
// DequantizeLinear). The scalar functions here are the numeric contract; the vectorised paths
// (fake_quant_*_avx2.cpp / _avx512.cpp) must match them bit for bit.
//
// Broadcasting: every call takes the tensor as [outer, channels, inner] (channels = 1 for a
// per-tensor quantizer) and one scale / zero point per channel.
#pragma once

#include <cstdint>

#include "engine/core/cpu_features.h"
#include "engine/core/thread_pool.h"

namespace qe::kernels {

enum class Rounding { kHalfEven, kHalfUp, kHalfDown, kUp, kDown, kCeil, kFloor };

// Rounds to an integer-valued double with the given mode (UP = away from zero, DOWN = toward
// zero, as QONNX defines them).
double round_with(double x, Rounding mode);

struct IntQuantArgs {
  const float* scale = nullptr;       // [channels]
  const float* zero_point = nullptr;  // [channels], integer-valued
  int64_t outer = 1, channels = 1, inner = 1;
  double min_int = -128, max_int = 127;
  Rounding rounding = Rounding::kHalfEven;
};

// y = (clip(round(x / s + z), min, max) - z) * s     (QONNX Quant)
// Computed in double: x / s and + z each rounded to double, the clipped integer times s
// rounded once to float. A NaN input stays NaN; +-inf clips to the grid's ends.
void int_fake_quant_ref(const float* x, float* y, const IntQuantArgs& a);
// The vector forms (same arithmetic in double lanes, bit-identical to the reference).
void int_fake_quant_avx2(const float* x, float* y, const IntQuantArgs& a);
void int_fake_quant_avx512(const float* x, float* y, const IntQuantArgs& a);
using IntFakeQuantFn = void (*)(const float* x, float* y, const IntQuantArgs& a);
// The form for exactly `level` (int_fake_quant_ref for kScalar); nullptr above what the
// machine runs.
IntFakeQuantFn int_fake_quant_ukernel(IsaLevel level);
// The best form for this machine, split over the pool.
void int_fake_quant(const float* x, float* y, const IntQuantArgs& a, ThreadPool* pool);

// y = (x >= 0 ? +1 : -1) * s     (QONNX BipolarQuant)
void bipolar_quant_ref(const float* x, float* y, const float* scale, int64_t outer, int64_t channels, int64_t inner);

struct MinifloatArgs {
  int exponent_bits = 4, mantissa_bits = 3;
  double exponent_bias = 7, max_val = 448;
  bool has_inf = false, has_nan = true, has_subnormal = true, saturation = true;
  Rounding rounding = Rounding::kHalfEven;
};
// Largest magnitude of the format: min((2 - 2^-m) * 2^(2^e - 1 - bias), max_val).
double minifloat_max_value(const MinifloatArgs& a);
// QONNX FloatQuant on x / s, times s. exponent_bias must hold an integer in [-300, 300],
// mantissa_bits be in [0, 23], scales positive and finite. Per element, in
// double: e = max(floor(log2|v|), 1 - bias) - m (without subnormals the range below the
// smallest normal 2^(1 - bias) is one step of that size: values round to 0 or +-2^(1 - bias));
// q = 2^e * round(v / 2^e). |q| > max: saturation clips to +-max, else +-inf when has_inf, else
// NaN. NaN stays NaN; zero keeps its sign.
void float_fake_quant_ref(const float* x, float* y, const float* scale, int64_t outer, int64_t channels,
                          int64_t inner, const MinifloatArgs& a);

struct TruncArgs {
  const float* scale = nullptr;       // [channels]
  const float* zero_point = nullptr;  // [channels]
  const float* out_scale = nullptr;   // [channels] (v2)
  int64_t outer = 1, channels = 1, inner = 1;
  double in_bits = 8, out_bits = 8;
  bool is_signed = true, narrow = false;
  Rounding rounding = Rounding::kFloor;
  int version = 2;  // QONNX Trunc v1 or v2 semantics
};
// v2: v = round_half_even(x / s + z); t = 2^round(log2(out_s / s));
//     y = (rounding(clip(v / t, min, max)) - z / t) * out_s     (grid of out_bits, signed, narrow)
// v1: v = round_half_even(x / s + z); y = (rounding(v / 2^(in_bits - out_bits)) - z) * s
void trunc_quant_ref(const float* x, float* y, const TruncArgs& a);

// ONNX QuantizeLinear to an integer container: q = saturate(round_half_even(x / s) + zp).
// `out_min` / `out_max` are the container's bounds; the result is written as int32 values
// (the op binding narrows to the container dtype). x / s is a float division, as in the ONNX
// reference and onnxruntime, so results match them bit for bit. NaN gives the zero point.
void quantize_linear_ref(const float* x, int32_t* q, const float* scale, const int32_t* zero_point, int64_t outer,
                         int64_t channels, int64_t inner, int32_t out_min, int32_t out_max);
// ONNX DequantizeLinear: y = (q - zp) * s.
void dequantize_linear_ref(const int32_t* q, float* y, const float* scale, const int32_t* zero_point, int64_t outer,
                           int64_t channels, int64_t inner);

}  // namespace qe::kernels
