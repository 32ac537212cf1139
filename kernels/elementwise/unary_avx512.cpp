#include "kernels/elementwise/simd_avx512.h"
#include "kernels/elementwise/unary_impl.h"

namespace qe::kernels {

void unary_f32_avx512(const UnaryParams& p, const float* x, float* y, int64_t n) {
  unary_f32_impl<avx512::F32>(p, x, y, n);
}

}  // namespace qe::kernels
