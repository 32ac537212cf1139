#include "kernels/pooling/pool.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "kernels/elementwise/parallel.h"

namespace qe::kernels {

namespace {

}  // namespace

template <typename T>
void max_pool_ref(const PoolParams& p, const T* x, T* y, int64_t p0, int64_t p1) {
  const int64_t in_size = p.in_size(), out_size = p.out_size();
  for (int64_t pl = p0; pl < p1; ++pl) {
    const T* xp = x + pl * in_size;
    T* yp = y + pl * out_size;
    for (int64_t od = 0; od < p.out[0]; ++od) {
      PoolTaps rd = pool_taps(od, p.stride[0], p.pad[0], p.dilation[0], p.kernel[0], 0, p.in[0]);
      for (int64_t oh = 0; oh < p.out[1]; ++oh) {
        PoolTaps rh = pool_taps(oh, p.stride[1], p.pad[1], p.dilation[1], p.kernel[1], 0, p.in[1]);
        for (int64_t ow = 0; ow < p.out[2]; ++ow) {
          PoolTaps rw = pool_taps(ow, p.stride[2], p.pad[2], p.dilation[2], p.kernel[2], 0, p.in[2]);
          T m = std::numeric_limits<T>::lowest();
          for (int64_t kd = rd.first; kd < rd.first + rd.count; ++kd) {
            int64_t id = od * p.stride[0] - p.pad[0] + kd * p.dilation[0];
            for (int64_t kh = rh.first; kh < rh.first + rh.count; ++kh) {
              int64_t ih = oh * p.stride[1] - p.pad[1] + kh * p.dilation[1];
              const T* row = xp + (id * p.in[1] + ih) * p.in[2];
              for (int64_t kw = rw.first; kw < rw.first + rw.count; ++kw) {
                T v = row[ow * p.stride[2] - p.pad[2] + kw * p.dilation[2]];
                // NaN wins, like numpy's max.
                if (v > m || v != v) m = v;
              }
            }
          }
          yp[(od * p.out[1] + oh) * p.out[2] + ow] = m;
        }
      }
    }
  }
}

void avg_pool_f32_ref(const PoolParams& p, const float* x, float* y, int64_t p0, int64_t p1) {
  const int64_t in_size = p.in_size(), out_size = p.out_size();
  for (int64_t pl = p0; pl < p1; ++pl) {
    const float* xp = x + pl * in_size;
    float* yp = y + pl * out_size;
    for (int64_t od = 0; od < p.out[0]; ++od) {
      PoolTaps rd = pool_taps(od, p.stride[0], p.pad[0], p.dilation[0], p.kernel[0], 0, p.in[0]);
      PoolTaps cd = pool_taps(od, p.stride[0], p.pad[0], p.dilation[0], p.kernel[0], -p.pad[0], p.in[0] + p.pad_end[0]);
      for (int64_t oh = 0; oh < p.out[1]; ++oh) {
        PoolTaps rh = pool_taps(oh, p.stride[1], p.pad[1], p.dilation[1], p.kernel[1], 0, p.in[1]);
        PoolTaps ch =
            pool_taps(oh, p.stride[1], p.pad[1], p.dilation[1], p.kernel[1], -p.pad[1], p.in[1] + p.pad_end[1]);
        for (int64_t ow = 0; ow < p.out[2]; ++ow) {
          PoolTaps rw = pool_taps(ow, p.stride[2], p.pad[2], p.dilation[2], p.kernel[2], 0, p.in[2]);
          float sum = 0.f;
          for (int64_t kd = rd.first; kd < rd.first + rd.count; ++kd) {
            int64_t id = od * p.stride[0] - p.pad[0] + kd * p.dilation[0];
            for (int64_t kh = rh.first; kh < rh.first + rh.count; ++kh) {
              int64_t ih = oh * p.stride[1] - p.pad[1] + kh * p.dilation[1];
              const float* row = xp + (id * p.in[1] + ih) * p.in[2];
              for (int64_t kw = rw.first; kw < rw.first + rw.count; ++kw) {
                sum += row[ow * p.stride[2] - p.pad[2] + kw * p.dilation[2]];
              }
            }
          }
          int64_t count;
          if (p.count_include_pad) {
            PoolTaps cw =
                pool_taps(ow, p.stride[2], p.pad[2], p.dilation[2], p.kernel[2], -p.pad[2], p.in[2] + p.pad_end[2]);
            count = cd.count * ch.count * cw.count;
          } else {
            count = rd.count * rh.count * rw.count;
          }
          yp[(od * p.out[1] + oh) * p.out[2] + ow] = count > 0 ? sum / static_cast<float>(count) : 0.f;
        }
      }
    }
  }
}

void global_avg_pool_f32_ref(const float* x, float* y, int64_t size, int64_t p0, int64_t p1) {
  for (int64_t pl = p0; pl < p1; ++pl) {
    const float* xp = x + pl * size;
    float sum = 0.f;
    for (int64_t i = 0; i < size; ++i) sum += xp[i];
    y[pl] = sum / static_cast<float>(size);
  }
}

template <typename T>
void global_max_pool_ref(const T* x, T* y, int64_t size, int64_t p0, int64_t p1) {
  for (int64_t pl = p0; pl < p1; ++pl) {
    const T* xp = x + pl * size;
    T m = std::numeric_limits<T>::lowest();
    for (int64_t i = 0; i < size; ++i) {
      if (xp[i] > m || xp[i] != xp[i]) m = xp[i];
    }
    y[pl] = m;
  }
}

const PoolF32Ukernels* pool_f32_ukernels(IsaLevel level) {
  static const PoolF32Ukernels avx2{&max_pool_f32_avx2, &avg_pool_f32_avx2, &global_avg_pool_f32_avx2,
                                    &global_max_pool_f32_avx2};
  static const PoolF32Ukernels avx512{&max_pool_f32_avx512, &avg_pool_f32_avx512, &global_avg_pool_f32_avx512,
                                      &global_max_pool_f32_avx512};
  switch (level) {
    case IsaLevel::kAvx2: return &avx2;
    case IsaLevel::kAvx512:
    case IsaLevel::kAvx512Vnni: return &avx512;
    default: return nullptr;
  }
}

void pool_for_planes(ThreadPool* pool, int64_t planes, int64_t cost_per_plane, FnRef<void(int64_t, int64_t)> fn) {
  constexpr int64_t kMinWork = 32768;  // element-taps per chunk
  cost_per_plane = std::max<int64_t>(1, cost_per_plane);
  parallel_ranges(pool, planes, std::max<int64_t>(1, kMinWork / cost_per_plane), fn);
}

template void max_pool_ref<float>(const PoolParams&, const float*, float*, int64_t, int64_t);
template void max_pool_ref<double>(const PoolParams&, const double*, double*, int64_t, int64_t);
template void max_pool_ref<int8_t>(const PoolParams&, const int8_t*, int8_t*, int64_t, int64_t);
template void max_pool_ref<uint8_t>(const PoolParams&, const uint8_t*, uint8_t*, int64_t, int64_t);
template void global_max_pool_ref<float>(const float*, float*, int64_t, int64_t, int64_t);
template void global_max_pool_ref<double>(const double*, double*, int64_t, int64_t, int64_t);
template void global_max_pool_ref<int8_t>(const int8_t*, int8_t*, int64_t, int64_t, int64_t);
template void global_max_pool_ref<uint8_t>(const uint8_t*, uint8_t*, int64_t, int64_t, int64_t);

}  // namespace qe::kernels
