#include "kernels/elementwise/simd_avx512.h"
#include "kernels/elementwise/softmax_impl.h"

namespace qe::kernels {

void softmax_f32_avx512(const float* x, float* y, int64_t d, int64_t inner, int64_t c0, int64_t c1) {
  softmax_f32_impl<avx512::F32>(x, y, d, inner, c0, c1);
}

}  // namespace qe::kernels
