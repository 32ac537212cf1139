#include "kernels/elementwise/binary_impl.h"
#include "kernels/elementwise/simd_avx2.h"

namespace qe::kernels {

void binary_f32_row_avx2(BinaryOp op, const float* a, bool a_repeat, const float* b, bool b_repeat, float* y,
                         int64_t n) {
  binary_f32_row_impl<avx2::F32>(op, a, a_repeat, b, b_repeat, y, n);
}

}  // namespace qe::kernels
