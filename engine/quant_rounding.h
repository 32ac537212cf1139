// The IR's rounding mode (graph/quant_params.h) as the kernels' enum (kernels/quant/fake_quant.h):
// kernels never see graph/, so the two enums meet here.
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

}  // namespace qe
