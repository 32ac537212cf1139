// Pooling over NCHW planes. Spatial geometry is always 3-D (D, H, W); 1-D and 2-D pools use
// leading dims of 1. A plane is one (image, channel) pair; planes are independent, so drivers
// split the plane range over threads.
#pragma once

#include <cstdint>

#include "engine/core/cpu_features.h"
#include "kernels/elementwise/fn_ref.h"

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

struct PoolParams {
  int64_t planes = 0;  // N * C
  int64_t in[3] = {1, 1, 1};
  int64_t out[3] = {1, 1, 1};
  int64_t kernel[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1};
  int64_t dilation[3] = {1, 1, 1};
  int64_t pad[3] = {0, 0, 0};      // at the beginning
  int64_t pad_end[3] = {0, 0, 0};  // explicit end padding (ceil_mode windows may reach past it)
  bool count_include_pad = false;  // AveragePool: divide by taps inside the padded extent

  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
};

// Taps of one axis for output position o whose input position lies in [lo, hi): the first kernel
// index and the count. Shared by every pool kernel, including the per-ISA translation units;
// `static` so that a copy compiled there with ISA flags is never the one baseline code links to.
struct PoolTaps {
  int64_t first, count;
};
static inline PoolTaps pool_taps(int64_t o, int64_t stride, int64_t pad, int64_t dil, int64_t k, int64_t lo, int64_t hi) {
  const int64_t start = o * stride - pad;
  const int64_t first = start < lo ? (lo - start + dil - 1) / dil : 0;
  const int64_t last = start + (k - 1) * dil >= hi ? (hi - start <= 0 ? 0 : (hi - start + dil - 1) / dil) : k;
  return {first, last > first ? last - first : 0};
}

// Planes [p0, p1). Max pool ignores padding (a window with no input element gives the
// lowest value of T); average pool divides by the taps inside the input, or inside the
// padded extent with count_include_pad.
template <typename T>
void max_pool_ref(const PoolParams& p, const T* x, T* y, int64_t p0, int64_t p1);
void avg_pool_f32_ref(const PoolParams& p, const float* x, float* y, int64_t p0, int64_t p1);

// Global pools: y[i] = mean / max of x[i * size .. (i+1) * size) for planes [p0, p1).
void global_avg_pool_f32_ref(const float* x, float* y, int64_t size, int64_t p0, int64_t p1);
template <typename T>
void global_max_pool_ref(const T* x, T* y, int64_t size, int64_t p0, int64_t p1);

// Vector forms (pool_impl.h, per ISA): any geometry; rows are vectorised along W for W-stride
// 1 and 2 (other strides and the borders go tap by tap). Max is exact but does not let NaN
// win; average agrees with the reference to float rounding (another summation order).
using PoolF32Fn = void (*)(const PoolParams& p, const float* x, float* y, int64_t p0, int64_t p1);
void max_pool_f32_avx2(const PoolParams& p, const float* x, float* y, int64_t p0, int64_t p1);
void max_pool_f32_avx512(const PoolParams& p, const float* x, float* y, int64_t p0, int64_t p1);
void avg_pool_f32_avx2(const PoolParams& p, const float* x, float* y, int64_t p0, int64_t p1);
void avg_pool_f32_avx512(const PoolParams& p, const float* x, float* y, int64_t p0, int64_t p1);
using GlobalPoolF32Fn = void (*)(const float* x, float* y, int64_t size, int64_t p0, int64_t p1);
void global_avg_pool_f32_avx2(const float* x, float* y, int64_t size, int64_t p0, int64_t p1);
void global_avg_pool_f32_avx512(const float* x, float* y, int64_t size, int64_t p0, int64_t p1);
void global_max_pool_f32_avx2(const float* x, float* y, int64_t size, int64_t p0, int64_t p1);
void global_max_pool_f32_avx512(const float* x, float* y, int64_t size, int64_t p0, int64_t p1);

struct PoolF32Ukernels {
  PoolF32Fn max_pool;
  PoolF32Fn avg_pool;
  GlobalPoolF32Fn global_avg;
  GlobalPoolF32Fn global_max;
};
// For `level` exactly; nullptr when the build has none.
const PoolF32Ukernels* pool_f32_ukernels(IsaLevel level);

// Runs fn(p0, p1) over [0, planes) on the pool when the work (planes * cost_per_plane
// element-taps) is big enough to pay for the threads.
void pool_for_planes(ThreadPool* pool, int64_t planes, int64_t cost_per_plane, FnRef<void(int64_t, int64_t)> fn);

}  // namespace qe::kernels
