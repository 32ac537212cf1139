#include "kernels/elementwise/simd_avx512.h"
#include "kernels/normalization/norm_impl.h"

namespace qe::kernels {

const NormF32Ukernels norm_f32_avx512 = {&channel_affine_f32_impl<avx512::F32>, &layer_norm_f32_impl<avx512::F32>};

}  // namespace qe::kernels
