#include "kernels/normalization/norm.h"

#include <algorithm>
#include <cmath>

#include "kernels/elementwise/parallel.h"

namespace qe::kernels {

void batch_norm_f32_ref(const float* x, float* y, const float* scale, const float* bias, const float* mean,
                        const float* var, float eps, int64_t channels, int64_t size, int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    int64_t c = p % channels;
    float sd = std::sqrt(var[c] + eps);
    const float* xp = x + p * size;
    float* yp = y + p * size;
    for (int64_t i = 0; i < size; ++i) yp[i] = (xp[i] - mean[c]) / sd * scale[c] + bias[c];
  }
}

void batch_norm_fold(const float* scale, const float* bias, const float* mean, const float* var, float eps,
                     int64_t channels, float* a, float* b) {
  for (int64_t c = 0; c < channels; ++c) {
    a[c] = scale[c] / std::sqrt(var[c] + eps);
    b[c] = bias[c] - mean[c] * a[c];
  }
}

void layer_norm_f32_ref(const float* x, float* y, const float* scale, const float* bias, int64_t n, float eps,
                        float* mean_out, float* inv_std_out, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += xr[i];
    float mean = static_cast<float>(sum / static_cast<double>(n));
    double sq = 0;
    for (int64_t i = 0; i < n; ++i) {
      double d = static_cast<double>(xr[i]) - mean;
      sq += d * d;
    }
    float var = static_cast<float>(sq / static_cast<double>(n));
    float inv = 1.f / std::sqrt(var + eps);
    for (int64_t i = 0; i < n; ++i) {
      float v = (xr[i] - mean) * inv * scale[i];
      yr[i] = bias ? v + bias[i] : v;
    }
    if (mean_out) mean_out[r] = mean;
    if (inv_std_out) inv_std_out[r] = inv;
  }
}

const NormF32Ukernels* norm_f32_ukernels(IsaLevel level) {
  switch (level) {
    case IsaLevel::kAvx2: return &norm_f32_avx2;
    case IsaLevel::kAvx512:
    case IsaLevel::kAvx512Vnni: return &norm_f32_avx512;
    default: return nullptr;
  }
}

void norm_for_rows(ThreadPool* pool, int64_t rows, int64_t row_size, void (*fn)(void*, int64_t, int64_t), void* ctx) {
  constexpr int64_t kWork = 16384;
  row_size = std::max<int64_t>(1, row_size);
  parallel_ranges(pool, rows, std::max<int64_t>(1, kWork / row_size), [&](int64_t b, int64_t e) { fn(ctx, b, e); });
}

}  // namespace qe::kernels
