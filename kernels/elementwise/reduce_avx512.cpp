#include "kernels/elementwise/reduce_impl.h"
#include "kernels/elementwise/simd_avx512.h"

namespace qe::kernels {

const ReduceF32Ukernels reduce_f32_avx512 = {&reduce_row_f32_impl<avx512::F32>, &reduce_cols_f32_impl<avx512::F32>};

}  // namespace qe::kernels
