// BatchNormalization (inference) and LayerNormalization over float tensors.
#pragma once

#include <cstdint>

#include "engine/core/cpu_features.h"

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

// BatchNormalization, x as planes of `size` floats, plane p in channel p % channels:
//   y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c]       (the definition)
void batch_norm_f32_ref(const float* x, float* y, const float* scale, const float* bias, const float* mean,
                        const float* var, float eps, int64_t channels, int64_t size, int64_t p0, int64_t p1);
// The same folded into y = x * a[c] + b[c] (fast paths; a and b from batch_norm_fold).
void batch_norm_fold(const float* scale, const float* bias, const float* mean, const float* var, float eps,
                     int64_t channels, float* a, float* b);
using ChannelAffineF32Fn = void (*)(const float* x, float* y, const float* a, const float* b, int64_t channels,
                                    int64_t size, int64_t p0, int64_t p1);

// LayerNormalization over rows of n floats (rows [r0, r1)):
//   mean = sum(x) / n, var = sum((x - mean)^2) / n, inv = 1 / sqrt(var + eps)
//   y = (x - mean) * inv * scale + bias          (bias may be null; scale, bias have n floats)
// mean_out / inv_std_out (one float per row) may be null.
void layer_norm_f32_ref(const float* x, float* y, const float* scale, const float* bias, int64_t n, float eps,
                        float* mean_out, float* inv_std_out, int64_t r0, int64_t r1);
using LayerNormF32Fn = void (*)(const float* x, float* y, const float* scale, const float* bias, int64_t n, float eps,
                                float* mean_out, float* inv_std_out, int64_t r0, int64_t r1);

struct NormF32Ukernels {
  ChannelAffineF32Fn channel_affine;
  LayerNormF32Fn layer_norm;
};
const NormF32Ukernels* norm_f32_ukernels(IsaLevel level);  // exact level; nullptr if none
extern const NormF32Ukernels norm_f32_avx2;
extern const NormF32Ukernels norm_f32_avx512;

// Splits rows / planes over the pool by their size.
void norm_for_rows(ThreadPool* pool, int64_t rows, int64_t row_size, void (*fn)(void*, int64_t, int64_t), void* ctx);

}  // namespace qe::kernels
