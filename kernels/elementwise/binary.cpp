#include "kernels/elementwise/binary.h"
#include "kernels/elementwise/parallel.h"
#include "engine/core/thread_pool.h"

#include <cstring>


namespace qe::kernels {

const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd: return "Add";
    case BinaryOp::kSub: return "Sub";
    case BinaryOp::kMul: return "Mul";
    case BinaryOp::kDiv: return "Div";
    case BinaryOp::kPow: return "Pow";
    case BinaryOp::kMax: return "Max";
    case BinaryOp::kMin: return "Min";
    case BinaryOp::kEqual: return "Equal";
    case BinaryOp::kGreater: return "Greater";
    case BinaryOp::kLess: return "Less";
  }
  return "?";
}

namespace {

constexpr int64_t kGrain = 16384;

// The op and the repeat pattern of a row are template parameters, so the inner loop has no
// switch and no stride multiplications (and the compiler can vectorise it).
template <typename T, typename O, BinaryOp kOp, bool kRa, bool kRb>
void binary_row(const T* a, const T* b, O* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<O>(binary_scalar<T>(kOp, a[kRa ? 0 : i], b[kRb ? 0 : i]));
}

template <typename T, typename O, BinaryOp kOp>
void binary_pieces(ThreadPool* pool, const BroadcastPlan& plan, const T* a, const T* b, O* y) {
  const bool ra = plan.inner_repeat[0], rb = plan.inner_repeat[1];
  broadcast_for_each(plan, pool, kGrain, [&](const int64_t* off, int64_t yo, int64_t n) {
    const T* pa = a + off[0];
    const T* pb = b + off[1];
    if (ra && rb) {
      binary_row<T, O, kOp, true, true>(pa, pb, y + yo, n);
    } else if (ra) {
      binary_row<T, O, kOp, true, false>(pa, pb, y + yo, n);
    } else if (rb) {
      binary_row<T, O, kOp, false, true>(pa, pb, y + yo, n);
    } else {
      binary_row<T, O, kOp, false, false>(pa, pb, y + yo, n);
    }
  });
}

}  // namespace

template <typename T>
void binary_ref(ThreadPool* pool, const BroadcastPlan& plan, BinaryOp op, const T* a, const T* b, void* y) {
  T* yt = static_cast<T*>(y);
  bool* yb = static_cast<bool*>(y);
  switch (op) {
    case BinaryOp::kAdd: return binary_pieces<T, T, BinaryOp::kAdd>(pool, plan, a, b, yt);
    case BinaryOp::kSub: return binary_pieces<T, T, BinaryOp::kSub>(pool, plan, a, b, yt);
    case BinaryOp::kMul: return binary_pieces<T, T, BinaryOp::kMul>(pool, plan, a, b, yt);
    case BinaryOp::kDiv: return binary_pieces<T, T, BinaryOp::kDiv>(pool, plan, a, b, yt);
    case BinaryOp::kPow: return binary_pieces<T, T, BinaryOp::kPow>(pool, plan, a, b, yt);
    case BinaryOp::kMax: return binary_pieces<T, T, BinaryOp::kMax>(pool, plan, a, b, yt);
    case BinaryOp::kMin: return binary_pieces<T, T, BinaryOp::kMin>(pool, plan, a, b, yt);
    case BinaryOp::kEqual: return binary_pieces<T, bool, BinaryOp::kEqual>(pool, plan, a, b, yb);
    case BinaryOp::kGreater: return binary_pieces<T, bool, BinaryOp::kGreater>(pool, plan, a, b, yb);
    case BinaryOp::kLess: return binary_pieces<T, bool, BinaryOp::kLess>(pool, plan, a, b, yb);
  }
}

template <typename A, typename B>
void pow_mixed_ref(ThreadPool* pool, const BroadcastPlan& plan, const A* a, const B* b, A* y) {
  const int64_t sa = plan.inner_repeat[0] ? 0 : 1, sb = plan.inner_repeat[1] ? 0 : 1;
  broadcast_for_each(plan, pool, kGrain, [&](const int64_t* off, int64_t yo, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      double v = std::pow(static_cast<double>(a[off[0] + i * sa]), static_cast<double>(b[off[1] + i * sb]));
      if constexpr (std::is_integral_v<A>) {
        // Out-of-range results are undefined in C++; saturate instead.
        if (!(v >= static_cast<double>(std::numeric_limits<A>::lowest()))) v = static_cast<double>(std::numeric_limits<A>::lowest());
        if (v >= static_cast<double>(std::numeric_limits<A>::max())) v = static_cast<double>(std::numeric_limits<A>::max());
      }
      y[yo + i] = static_cast<A>(v);
    }
  });
}

void binary_f32_row_ref(BinaryOp op, const float* a, bool a_repeat, const float* b, bool b_repeat, float* y,
                        int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = binary_scalar<float>(op, a[a_repeat ? 0 : i], b[b_repeat ? 0 : i]);
}

BinaryF32RowFn binary_f32_ukernel(IsaLevel level) {
  switch (level) {
    case IsaLevel::kAvx2: return &binary_f32_row_avx2;
    case IsaLevel::kAvx512:
    case IsaLevel::kAvx512Vnni: return &binary_f32_row_avx512;
    default: return nullptr;
  }
}

void binary_f32_run(ThreadPool* pool, const BroadcastPlan& plan, BinaryF32RowFn row, BinaryOp op, const float* a,
                    const float* b, float* y) {
  if (plan.numel() == 0) return;  // an empty output (a zero dimension): nothing to compute
  const bool ra = plan.inner_repeat[0], rb = plan.inner_repeat[1];
  if (plan.outer_dims.size() == 1 && plan.inner < kGrain) {
    // Many short rows over one outer dim (NCHW × [N,C,1,1] in squeeze-excite blocks, rows of
    // H·W = 16 at the end of a MobileNet): offsets are a multiply each, no cursor per row.
    const int64_t sa = plan.outer_strides[0][0], sb = plan.outer_strides[1][0], inner = plan.inner;
    const int64_t rows_per_chunk = (kGrain + inner - 1) / inner;
    auto rows = [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) row(op, a + r * sa, ra, b + r * sb, rb, y + r * inner, inner);
    };
    if (pool && pool->num_threads() > 1 && plan.numel() > kGrain) {
      parallel_ranges(pool, plan.rows, rows_per_chunk, rows);
    } else {
      rows(0, plan.rows);
    }
    return;
  }
  broadcast_for_each(plan, pool, kGrain, [&](const int64_t* off, int64_t yo, int64_t n) {
    row(op, a + off[0], ra, b + off[1], rb, y + yo, n);
  });
}

namespace {

template <typename E, bool kRc, bool kRx, bool kRz>
void where_row(const bool* c, const E* x, const E* z, E* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = c[kRc ? 0 : i] ? x[kRx ? 0 : i] : z[kRz ? 0 : i];
}

template <typename E>
void where_typed(ThreadPool* pool, const BroadcastPlan& plan, const bool* cond, const E* x, const E* z, E* y) {
  using RowFn = void (*)(const bool*, const E*, const E*, E*, int64_t);
  static constexpr RowFn kRows[8] = {
      &where_row<E, false, false, false>, &where_row<E, false, false, true>, &where_row<E, false, true, false>,
      &where_row<E, false, true, true>,   &where_row<E, true, false, false>, &where_row<E, true, false, true>,
      &where_row<E, true, true, false>,   &where_row<E, true, true, true>};
  const RowFn row = kRows[(plan.inner_repeat[0] ? 4 : 0) + (plan.inner_repeat[1] ? 2 : 0) + (plan.inner_repeat[2] ? 1 : 0)];
  broadcast_for_each(plan, pool, kGrain, [&](const int64_t* off, int64_t yo, int64_t n) {
    row(cond + off[0], x + off[1], z + off[2], y + yo, n);
  });
}

}  // namespace

void where_ref(ThreadPool* pool, const BroadcastPlan& plan, const bool* cond, const void* x, const void* z, void* y,
               int elem_bytes) {
  switch (elem_bytes) {
    case 1:
      return where_typed(pool, plan, cond, static_cast<const uint8_t*>(x), static_cast<const uint8_t*>(z),
                         static_cast<uint8_t*>(y));
    case 2:
      return where_typed(pool, plan, cond, static_cast<const uint16_t*>(x), static_cast<const uint16_t*>(z),
                         static_cast<uint16_t*>(y));
    case 4:
      return where_typed(pool, plan, cond, static_cast<const uint32_t*>(x), static_cast<const uint32_t*>(z),
                         static_cast<uint32_t*>(y));
    default:
      return where_typed(pool, plan, cond, static_cast<const uint64_t*>(x), static_cast<const uint64_t*>(z),
                         static_cast<uint64_t*>(y));
  }
}

#define QE_BINARY_INSTANTIATE(T) \
  template void binary_ref<T>(ThreadPool*, const BroadcastPlan&, BinaryOp, const T*, const T*, void*);
QE_BINARY_INSTANTIATE(float)
QE_BINARY_INSTANTIATE(double)
QE_BINARY_INSTANTIATE(int8_t)
QE_BINARY_INSTANTIATE(uint8_t)
QE_BINARY_INSTANTIATE(int16_t)
QE_BINARY_INSTANTIATE(uint16_t)
QE_BINARY_INSTANTIATE(int32_t)
QE_BINARY_INSTANTIATE(uint32_t)
QE_BINARY_INSTANTIATE(int64_t)
QE_BINARY_INSTANTIATE(uint64_t)
QE_BINARY_INSTANTIATE(bool)
#undef QE_BINARY_INSTANTIATE

#define QE_POW_INSTANTIATE(A)                                                                        \
  template void pow_mixed_ref<A, float>(ThreadPool*, const BroadcastPlan&, const A*, const float*, A*); \
  template void pow_mixed_ref<A, double>(ThreadPool*, const BroadcastPlan&, const A*, const double*, A*); \
  template void pow_mixed_ref<A, int32_t>(ThreadPool*, const BroadcastPlan&, const A*, const int32_t*, A*); \
  template void pow_mixed_ref<A, int64_t>(ThreadPool*, const BroadcastPlan&, const A*, const int64_t*, A*); \
  template void pow_mixed_ref<A, uint32_t>(ThreadPool*, const BroadcastPlan&, const A*, const uint32_t*, A*); \
  template void pow_mixed_ref<A, uint64_t>(ThreadPool*, const BroadcastPlan&, const A*, const uint64_t*, A*);
QE_POW_INSTANTIATE(float)
QE_POW_INSTANTIATE(double)
QE_POW_INSTANTIATE(int32_t)
QE_POW_INSTANTIATE(int64_t)
#undef QE_POW_INSTANTIATE

}  // namespace qe::kernels
