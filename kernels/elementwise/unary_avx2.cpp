#include "kernels/elementwise/simd_avx2.h"
#include "kernels/elementwise/unary_impl.h"

namespace qe::kernels {

void unary_f32_avx2(const UnaryParams& p, const float* x, float* y, int64_t n) { unary_f32_impl<avx2::F32>(p, x, y, n); }

}  // namespace qe::kernels
