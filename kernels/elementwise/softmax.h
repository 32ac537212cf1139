// Softmax over the middle axis of x viewed as [outer, d, inner]:
//   y[o, k, c] = exp(x[o, k, c] - max_k x[o, :, c]) / sum_k exp(...)
#pragma once

#include <cstdint>

#include "engine/core/cpu_features.h"

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

// One outer slice (x, y point at its start, [d, inner] row-major), columns [c0, c1).
using SoftmaxF32Fn = void (*)(const float* x, float* y, int64_t d, int64_t inner, int64_t c0, int64_t c1);
void softmax_f32_ref(const float* x, float* y, int64_t d, int64_t inner, int64_t c0, int64_t c1);
void softmax_f32_avx2(const float* x, float* y, int64_t d, int64_t inner, int64_t c0, int64_t c1);
void softmax_f32_avx512(const float* x, float* y, int64_t d, int64_t inner, int64_t c0, int64_t c1);
SoftmaxF32Fn softmax_f32_ukernel(IsaLevel level);  // exact level; nullptr if none

void softmax_f32_run(ThreadPool* pool, SoftmaxF32Fn fn, const float* x, float* y, int64_t outer, int64_t d,
                     int64_t inner);

}  // namespace qe::kernels
