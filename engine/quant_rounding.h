// The IR's quantizer settings (graph/quant_params.h) as the kernels' types (kernels/quant/fake_quant.h):
// kernels never see graph/, so the two meet here.
#pragma once

#include "graph/quant_params.h"
#include "kernels/quant/fake_quant.h"

namespace qe {

inline kernels::Rounding to_kernel_rounding(RoundingMode m) {
  switch (m) {
    case RoundingMode::kHalfEven: return kernels::Rounding::kHalfEven;
    case RoundingMode::kHalfUp: return kernels::Rounding::kHalfUp;
    case RoundingMode::kHalfDown: return kernels::Rounding::kHalfDown;
    case RoundingMode::kUp: return kernels::Rounding::kUp;
    case RoundingMode::kDown: return kernels::Rounding::kDown;
    case RoundingMode::kCeil: return kernels::Rounding::kCeil;
    case RoundingMode::kFloor: return kernels::Rounding::kFloor;
  }
  return kernels::Rounding::kHalfEven;
}

// The IR's minifloat format as the kernels' argument struct.
inline kernels::MinifloatArgs to_kernel_minifloat(const MinifloatFormat& f, RoundingMode rounding) {
  kernels::MinifloatArgs m;
  m.exponent_bits = f.exponent_bits;
  m.mantissa_bits = f.mantissa_bits;
  m.exponent_bias = f.exponent_bias;
  m.max_val = f.max_val;
  m.has_inf = f.has_inf;
  m.has_nan = f.has_nan;
  m.has_subnormal = f.has_subnormal;
  m.saturation = f.saturation;
  m.rounding = to_kernel_rounding(rounding);
  return m;
}

}  // namespace qe
