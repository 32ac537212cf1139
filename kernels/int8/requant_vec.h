// Requantization of int32 arrays with per-element multipliers: the vector helpers of
// requant_vec_avx2.h / requant_vec_avx512.h behind a plain-pointer interface (for tests and
// for kernels that leave an int32 tensor behind). Multipliers are given as structure-of-arrays,
// the layout per-channel kernels keep them in.
#pragma once

#include <cstdint>

#include "engine/core/cpu_features.h"
#include "kernels/int8/requantize.h"

namespace qe::kernels {

// y[i] = requantize_ref(acc[i], mode, {m[i], fx_mult[i], fx_shift[i]}, o) for i in [0, n).
using RequantArrayFn = void (*)(const int32_t* acc, const float* m, const int32_t* fx_mult, const int32_t* fx_shift,
                                int64_t n, RequantMode mode, const RequantOutput& o, int32_t* y);
void requantize_array_ref(const int32_t* acc, const float* m, const int32_t* fx_mult, const int32_t* fx_shift,
                          int64_t n, RequantMode mode, const RequantOutput& o, int32_t* y);
void requantize_array_avx2(const int32_t* acc, const float* m, const int32_t* fx_mult, const int32_t* fx_shift,
                           int64_t n, RequantMode mode, const RequantOutput& o, int32_t* y);
void requantize_array_avx512(const int32_t* acc, const float* m, const int32_t* fx_mult, const int32_t* fx_shift,
                             int64_t n, RequantMode mode, const RequantOutput& o, int32_t* y);
// The form for exactly `level` (the reference for kScalar).
RequantArrayFn requantize_array_ukernel(IsaLevel level);

}  // namespace qe::kernels
