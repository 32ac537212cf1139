#include "kernels/elementwise/reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/elementwise/parallel.h"

namespace qe::kernels {

ReducePlan plan_reduce(const Shape& x, const std::vector<bool>& reduced) {
  ReducePlan p;
  // Groups of adjacent dims with the same flag, dims of 1 dropped.
  std::vector<int64_t> dims;
  std::vector<bool> flags;
  for (size_t i = 0; i < x.rank(); ++i) {
    if (reduced[i]) p.count *= x[i];
    if (!reduced[i]) p.out_numel *= x[i];
    if (x[i] == 1) continue;
    if (!dims.empty() && flags.back() == reduced[i]) {
      dims.back() *= x[i];
    } else {
      dims.push_back(x[i]);
      flags.push_back(reduced[i]);
    }
  }
  int64_t stride = 1;
  std::vector<int64_t> strides(dims.size());
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= dims[i];
  }
  for (size_t i = 0; i < dims.size(); ++i) {
    (flags[i] ? p.reduced_dims : p.kept_dims).push_back(dims[i]);
    (flags[i] ? p.reduced_strides : p.kept_strides).push_back(strides[i]);
  }
  // Groups alternate kept / reduced, so one reduced group at most means [K] R [K].
  if (p.reduced_dims.size() <= 1) {
    p.contiguous = true;
    bool before = true;
    for (size_t i = 0; i < dims.size(); ++i) {
      if (flags[i]) {
        p.reduce = dims[i];
        before = false;
      } else {
        (before ? p.outer : p.inner) *= dims[i];
      }
    }
  }
  return p;
}

namespace {

template <typename T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double,
                               std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

template <typename T>
T empty_value(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return T(0);
    case ReduceOp::kMean:
      if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<T>::quiet_NaN();
      return T(0);
    case ReduceOp::kMax:
      if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<T>::infinity();
      return std::numeric_limits<T>::lowest();
  }
  return T(0);
}

}  // namespace

template <typename T>
void reduce_ref(ThreadPool* pool, const ReducePlan& p, ReduceOp op, const T* x, T* y) {
  if (p.count == 0) {
    std::fill(y, y + p.out_numel, empty_value<T>(op));
    return;
  }
  const size_t nk = p.kept_dims.size(), nr = p.reduced_dims.size();
  auto body = [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      int64_t base = 0, rem = o;
      for (size_t i = nk; i-- > 0;) {
        base += (rem % p.kept_dims[i]) * p.kept_strides[i];
        rem /= p.kept_dims[i];
      }
      // Odometer over the reduced dims, innermost fastest (input order).
      int64_t idx[kMaxReducedDims] = {};
      int64_t off = base;
      Acc<T> sum = 0;
      T m = x[base];
      for (int64_t r = 0; r < p.count; ++r) {
        T v = x[off];
        if (op == ReduceOp::kMax) {
          if (v > m || v != v) m = v;
        } else {
          sum += static_cast<Acc<T>>(v);
        }
        for (size_t i = nr; i-- > 0;) {
          off += p.reduced_strides[i];
          if (++idx[i] < p.reduced_dims[i]) break;
          off -= p.reduced_strides[i] * p.reduced_dims[i];
          idx[i] = 0;
        }
      }
      if (op == ReduceOp::kMax) {
        y[o] = m;
      } else if (op == ReduceOp::kSum) {
        y[o] = static_cast<T>(sum);
      } else {
        y[o] = static_cast<T>(sum / static_cast<Acc<T>>(p.count));
      }
    }
  };
  parallel_ranges(pool, p.out_numel, std::max<int64_t>(1, 32768 / p.count), body);
}

const ReduceF32Ukernels* reduce_f32_ukernels(IsaLevel level) {
  switch (level) {
    case IsaLevel::kAvx2: return &reduce_f32_avx2;
    case IsaLevel::kAvx512:
    case IsaLevel::kAvx512Vnni: return &reduce_f32_avx512;
    default: return nullptr;
  }
}

void reduce_f32_run(ThreadPool* pool, const ReduceF32Ukernels& uk, const ReducePlan& p, ReduceOp op, const float* x,
                    float* y) {
  const bool mean = op == ReduceOp::kMean;
  const int64_t R = p.reduce, inner = p.inner;
  constexpr int64_t kWork = 32768;  // input elements per chunk
  if (inner == 1) {
    auto body = [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        float v = uk.row(op, x + o * R, R);
        y[o] = mean ? v / static_cast<float>(p.count) : v;
      }
    };
    parallel_ranges(pool, p.outer, std::max<int64_t>(1, kWork / R), body);
    return;
  }
  // Columns: split each outer slice's inner range into blocks of at least 64 floats.
  int64_t block = std::max<int64_t>(64, (kWork / R + 63) / 64 * 64);
  int64_t per_outer = (inner + block - 1) / block;
  auto body = [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      int64_t o = u / per_outer, c0 = (u % per_outer) * block;
      int64_t n = std::min(block, inner - c0);
      float* yo = y + o * inner + c0;
      uk.cols(op, x + o * R * inner + c0, R, inner, yo, n);
      if (mean) {
        for (int64_t i = 0; i < n; ++i) yo[i] = yo[i] / static_cast<float>(p.count);
      }
    }
  };
  // A unit is block * R input elements.
  parallel_ranges(pool, p.outer * per_outer, std::max<int64_t>(1, kWork / (block * R)), body);
}

#define QE_REDUCE_INSTANTIATE(T) \
  template void reduce_ref<T>(ThreadPool*, const ReducePlan&, ReduceOp, const T*, T*);
QE_REDUCE_INSTANTIATE(float)
QE_REDUCE_INSTANTIATE(double)
QE_REDUCE_INSTANTIATE(int8_t)
QE_REDUCE_INSTANTIATE(uint8_t)
QE_REDUCE_INSTANTIATE(int16_t)
QE_REDUCE_INSTANTIATE(uint16_t)
QE_REDUCE_INSTANTIATE(int32_t)
QE_REDUCE_INSTANTIATE(uint32_t)
QE_REDUCE_INSTANTIATE(int64_t)
QE_REDUCE_INSTANTIATE(uint64_t)
#undef QE_REDUCE_INSTANTIATE

}  // namespace qe::kernels
