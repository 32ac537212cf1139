// Output side shared by the integer op bindings (engine/ops/qlinear_*.cpp): the attributes
// y_scale, y_zero_point, y_min, y_max, out_dtype and requant turned into the kernels'
// RequantParams (per channel: multiplier in_scale[c] and divisor y_scale in the float form,
// in_scale[c] / y_scale in the fixed-point form).
#pragma once

#include <string>
#include <vector>

#include "engine/op_kernel.h"
#include "kernels/int8/requantize.h"

namespace qe {

void register_qlinear_compute_kernels(KernelRegistry& r);      // QConv, QGemm
void register_qlinear_elementwise_kernels(KernelRegistry& r);  // QAdd, QMul, QAvgPool, QLut

struct QOutParams {
  bool float_out = false;  // out_dtype f32: dequantized region exit
  DType dtype = DType::kU8;
  kernels::RequantMode mode = kernels::RequantMode::kFloat;
  std::vector<kernels::RequantMultiplier> mult;
  kernels::RequantOutput out;

  kernels::RequantParams params() const {
    kernels::RequantParams p;
    p.mode = mode;
    p.mult = mult.data();
    p.per_channel = mult.size() > 1;
    p.out = out;
    return p;
  }
};

inline Result<kernels::RequantMode> read_requant_mode(const Attributes& a) {
  QE_ASSIGN_OR_RETURN(std::string r, a.get_string("requant", "float"));
  if (r == "float") return kernels::RequantMode::kFloat;
  if (r == "fixed") return kernels::RequantMode::kFixedPoint;
  return invalid_argument("attribute requant is '", r, "', expected float or fixed");
}

// `in_scale`: the real value of one accumulator unit per channel (x_scale * w_scale[c]); the
// multipliers become in_scale[c] / y_scale. With `y_scale_attr` empty the caller gives the
// multipliers directly in in_scale (QAvgPool).
inline Result<QOutParams> read_qout_params(const BindContext& ctx, const std::vector<double>& in_scale,
                                           const char* y_scale_attr = "y_scale") {
  const Attributes& a = ctx.attrs();
  QOutParams o;
  o.dtype = ctx.output(0).dtype;
  QE_ASSIGN_OR_RETURN(o.mode, read_requant_mode(a));
  if (o.dtype == DType::kF32) {
    o.float_out = true;
    return o;
  }
  if (o.dtype != DType::kU8 && o.dtype != DType::kI8) return invalid_argument("output dtype must be u8, s8 or f32");
  double y_scale = 1.0;
  if (y_scale_attr[0]) {
    QE_ASSIGN_OR_RETURN(float ys, a.get_float(y_scale_attr, 0.f));
    if (!(ys > 0.f)) return invalid_argument(y_scale_attr, " must be positive");
    y_scale = ys;
  }
  const int32_t lo = o.dtype == DType::kU8 ? 0 : -128, hi = o.dtype == DType::kU8 ? 255 : 127;
  QE_ASSIGN_OR_RETURN(int64_t zp, a.get_int("y_zero_point", 0));
  QE_ASSIGN_OR_RETURN(int64_t ymin, a.get_int("y_min", lo));
  QE_ASSIGN_OR_RETURN(int64_t ymax, a.get_int("y_max", hi));
  if (zp < lo || zp > hi || ymin < lo || ymax > hi || ymin > ymax) {
    return invalid_argument("output zero point / range [", ymin, ", ", ymax, "] outside the ", dtype_name(o.dtype),
                            " range");
  }
  o.out.zero_point = static_cast<int32_t>(zp);
  o.out.qmin = static_cast<int32_t>(ymin);
  o.out.qmax = static_cast<int32_t>(ymax);
  // The float form multiplies by fp32(in_scale) and divides by y_scale, the two fp32 steps of
  // the simulation (dequantized accumulator, then the quantizer's x / s): bit-identical to it.
  const bool divide = o.mode == kernels::RequantMode::kFloat && y_scale_attr[0];
  if (divide) o.out.divisor = static_cast<float>(y_scale);
  for (double s : in_scale) {
    const double m = s / y_scale;
    if (!(m >= 0.0) || m >= 1073741824.0) return invalid_argument("requantization multiplier ", m, " out of range");
    if (o.mode == kernels::RequantMode::kFixedPoint && m >= 1.0) {
      return invalid_argument("requantization multiplier ", m, " >= 1 has no fixed-point form; use float requantization");
    }
    o.mult.push_back(kernels::make_requant_multiplier(divide ? s : m));
  }
  return o;
}

}  // namespace qe
