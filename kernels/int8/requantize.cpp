#include "kernels/int8/requantize.h"

namespace qe::kernels {

const char* requant_mode_name(RequantMode mode) {
  return mode == RequantMode::kFloat ? "float" : "fixed-point";
}

RequantMultiplier make_requant_multiplier(double m) {
  RequantMultiplier r;
  r.m = static_cast<float>(m);
  if (!(m > 0.0)) return r;  // zero (or NaN, rejected earlier): M = 0 gives acc * 0
  int e = 0;
  const double f = std::frexp(m, &e);  // m = f * 2^e, f in [0.5, 1)
  int64_t mant = static_cast<int64_t>(std::llround(f * 2147483648.0));  // f * 2^31
  if (mant == (int64_t{1} << 31)) {
    mant >>= 1;
    ++e;
  }
  int shift = 31 - e;
  if (shift > 62) {  // below 2^-32: every |acc| < 2^31 rounds to 0 or ±1; keep the precision we can
    mant >>= (shift - 62);
    shift = 62;
  }
  if (shift < 1) shift = 1;  // m >= 2^30: not representable; callers reject it
  r.fx_mult = static_cast<int32_t>(mant);
  r.fx_shift = shift;
  return r;
}

}  // namespace qe::kernels
