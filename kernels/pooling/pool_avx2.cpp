#include "kernels/elementwise/simd_avx2.h"
#include "kernels/pooling/pool_impl.h"

namespace qe::kernels {

void max_pool_f32_avx2(const PoolParams& p, const float* x, float* y, int64_t p0, int64_t p1) {
  pool_f32_impl<avx2::F32, false>(p, x, y, p0, p1);
}
void avg_pool_f32_avx2(const PoolParams& p, const float* x, float* y, int64_t p0, int64_t p1) {
  pool_f32_impl<avx2::F32, true>(p, x, y, p0, p1);
}
void global_avg_pool_f32_avx2(const float* x, float* y, int64_t size, int64_t p0, int64_t p1) {
  global_avg_pool_f32_impl<avx2::F32>(x, y, size, p0, p1);
}
void global_max_pool_f32_avx2(const float* x, float* y, int64_t size, int64_t p0, int64_t p1) {
  global_max_pool_f32_impl<avx2::F32>(x, y, size, p0, p1);
}

}  // namespace qe::kernels
