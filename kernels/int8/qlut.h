// 256-entry lookup tables for quantized unary ops on u8/s8 tensors. A table is indexed by the
// raw input byte (an s8 value v sits at index uint8_t(v)) and holds raw output bytes.
//
// build_qlut fills entry q with
//   out = clamp(nearbyint(f(fp32(q - zp_in) * s_in) / s_out) + zp_out, qmin, qmax)
// in fp32 (one multiply, f, one division; the clamp to [qmin - zp_out, qmax - zp_out] comes
// before the rounding so no value overflows, NaN gives zp_out). build_requant_lut tabulates
// requantize_ref(q - zp_in, ...) — moving a tensor to another scale/zero point (Concat inputs)
// exactly as an integer requantization would.
#pragma once

#include <cstdint>

#include "kernels/elementwise/fn_ref.h"
#include "kernels/int8/requantize.h"

namespace qe::kernels {

struct QLutSide {
  float scale = 1.f;
  int32_t zero_point = 0;
  bool is_signed = false;
  int32_t qmin = 0, qmax = 255;  // output side only (fused clamp); full range of the type by default
};

void build_qlut(FnRef<float(float)> f, const QLutSide& in, const QLutSide& out, uint8_t table[256]);
void build_requant_lut(bool in_signed, int32_t in_zero_point, RequantMode mode, const RequantMultiplier& m,
                       const RequantOutput& out, uint8_t table[256]);

// y[i] = table[uint8_t(x[i])] for i in [0, n) (x, y: u8 or s8 bytes; may alias).
void apply_qlut_ref(const uint8_t table[256], const void* x, void* y, int64_t n);
void apply_qlut(const uint8_t table[256], const void* x, void* y, int64_t n);

}  // namespace qe::kernels
