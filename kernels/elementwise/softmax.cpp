#include "kernels/elementwise/softmax.h"

#include <algorithm>
#include <cmath>

#include "kernels/elementwise/parallel.h"

namespace qe::kernels {

void softmax_f32_ref(const float* x, float* y, int64_t d, int64_t inner, int64_t c0, int64_t c1) {
  for (int64_t c = c0; c < c1; ++c) {
    float m = x[c];
    for (int64_t k = 1; k < d; ++k) m = std::max(m, x[k * inner + c]);
    float s = 0.f;
    for (int64_t k = 0; k < d; ++k) {
      float e = std::exp(x[k * inner + c] - m);
      y[k * inner + c] = e;
      s += e;
    }
    for (int64_t k = 0; k < d; ++k) y[k * inner + c] /= s;
  }
}

SoftmaxF32Fn softmax_f32_ukernel(IsaLevel level) {
  switch (level) {
    case IsaLevel::kAvx2: return &softmax_f32_avx2;
    case IsaLevel::kAvx512:
    case IsaLevel::kAvx512Vnni: return &softmax_f32_avx512;
    default: return nullptr;
  }
}

void softmax_f32_run(ThreadPool* pool, SoftmaxF32Fn fn, const float* x, float* y, int64_t outer, int64_t d,
                     int64_t inner) {
  constexpr int64_t kWork = 8192;  // elements per chunk (exp is not cheap)
  if (d == 0 || outer == 0 || inner == 0) return;
  // Units: (outer slice, block of columns); a row softmax (inner == 1) is one unit per slice.
  int64_t block = inner == 1 ? 1 : std::max<int64_t>(16, (kWork / d + 15) / 16 * 16);
  int64_t per_outer = (inner + block - 1) / block;
  int64_t units = outer * per_outer;
  const int64_t slice = d * inner;
  auto body = [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      int64_t o = u / per_outer, c0 = (u % per_outer) * block;
      fn(x + o * slice, y + o * slice, d, inner, c0, std::min(inner, c0 + block));
    }
  };
  int64_t unit_work = d * std::min(block, inner);
  parallel_ranges(pool, units, std::max<int64_t>(1, kWork / unit_work), body);
}

}  // namespace qe::kernels
