#include "kernels/int8/requant_vec.h"

namespace qe::kernels {

void requantize_array_ref(const int32_t* acc, const float* m, const int32_t* fx_mult, const int32_t* fx_shift,
                          int64_t n, RequantMode mode, const RequantOutput& o, int32_t* y) {
  for (int64_t i = 0; i < n; ++i) {
    RequantMultiplier mm;
    mm.m = m[i];
    mm.fx_mult = fx_mult[i];
    mm.fx_shift = fx_shift[i];
    y[i] = requantize_ref(acc[i], mode, mm, o);
  }
}

RequantArrayFn requantize_array_ukernel(IsaLevel level) {
  switch (level) {
    case IsaLevel::kAvx2: return &requantize_array_avx2;
    case IsaLevel::kAvx512:
    case IsaLevel::kAvx512Vnni: return &requantize_array_avx512;
    default: return &requantize_array_ref;
  }
}

}  // namespace qe::kernels
