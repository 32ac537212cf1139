// Region entry of the integer runtime: float activations to uint8 / int8 with one scale and zero
// point (ONNX QuantizeLinear, per tensor):
//   y = clamp(round_half_even(x / s) + zp, lo, hi),  x / s a float32 division, NaN gives zp.
// The vector forms divide with the same IEEE float division and round with the same mode, so
// they match the scalar form — QuantizeLinear's own reference, quantize_linear_ref — bit for bit.
#pragma once

#include <cstdint>

#include "engine/core/cpu_features.h"

namespace qe::kernels {

struct QuantizeActArgs {
  float scale = 1.f;
  int32_t zero_point = 0;
  int32_t lo = 0, hi = 255;  // within the container's range
  bool is_signed = false;    // int8 output, else uint8
};

void quantize_act_ref(const float* x, void* y, int64_t n, const QuantizeActArgs& a);
void quantize_act_avx2(const float* x, void* y, int64_t n, const QuantizeActArgs& a);
void quantize_act_avx512(const float* x, void* y, int64_t n, const QuantizeActArgs& a);
using QuantizeActFn = void (*)(const float* x, void* y, int64_t n, const QuantizeActArgs& a);
// The form for exactly `level` (quantize_act_ref for kScalar); nullptr above what the machine runs.
QuantizeActFn quantize_act_ukernel(IsaLevel level);

// Region exit, the inverse (ONNX DequantizeLinear, per tensor): y = fp32(q - zp) * s. q - zp is
// exact in fp32 and there is one multiply, so any vectorisation gives dequantize_linear_ref's
// values bit for bit; one portable loop, which the compiler vectorises.
void dequantize_act(const void* q, float* y, int64_t n, const QuantizeActArgs& a);

}  // namespace qe::kernels
