// Binary elementwise ops with numpy broadcasting (walked by broadcast.h), and Where.
// binary_scalar<T>() is the definition; the float row microkernels (binary_impl.h, per ISA)
// must match it bit for bit (IEEE add/sub/mul/div, and Max/Min with the same NaN rule).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "engine/core/cpu_features.h"
#include "kernels/elementwise/broadcast.h"

namespace qe::kernels {

enum class BinaryOp : uint8_t { kAdd, kSub, kMul, kDiv, kPow, kMax, kMin, kEqual, kGreater, kLess };

const char* binary_op_name(BinaryOp op);
inline bool binary_is_comparison(BinaryOp op) {
  return op == BinaryOp::kEqual || op == BinaryOp::kGreater || op == BinaryOp::kLess;
}

// Integer division truncates like C (and like numpy's true division cast back to the integer
// type); a zero divisor gives 0 instead of trapping. Max/Min: `a < b ? b : a` and
// `b < a ? b : a`, i.e. a NaN in `a` wins (what the vector max/min instructions do with the
// operands in that order).
template <typename T>
inline T binary_scalar(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::kAdd: return static_cast<T>(a + b);
    case BinaryOp::kSub: return static_cast<T>(a - b);
    case BinaryOp::kMul: return static_cast<T>(a * b);
    case BinaryOp::kDiv:
      if constexpr (std::is_integral_v<T>) {
        if (b == 0) return 0;
        if constexpr (std::is_signed_v<T>) {
          if (b == -1) return static_cast<T>(0 - static_cast<std::make_unsigned_t<T>>(a));  // no overflow trap
        }
      }
      return static_cast<T>(a / b);
    case BinaryOp::kPow:
      if constexpr (std::is_same_v<T, float>) {
        return std::pow(a, b);
      } else {
        return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
      }
    case BinaryOp::kMax: return a < b ? b : a;
    case BinaryOp::kMin: return b < a ? b : a;
    case BinaryOp::kEqual: return a == b;
    case BinaryOp::kGreater: return a > b;
    case BinaryOp::kLess: return a < b;
  }
  return a;
}

// Generic path for any arithmetic T. Comparisons write bool (one byte per element) to y;
// the others write T. Inputs and output may alias when they have the output's shape.
template <typename T>
void binary_ref(ThreadPool* pool, const BroadcastPlan& plan, BinaryOp op, const T* a, const T* b, void* y);

// Pow with an exponent of another type: y (of A's type) = pow(a, b) computed in double.
template <typename A, typename B>
void pow_mixed_ref(ThreadPool* pool, const BroadcastPlan& plan, const A* a, const B* b, A* y);

// Float row microkernel: y[i] = op(a[ai], b[bi]) for i < n, where a (b) repeats its first
// element when a_repeat (b_repeat). Add, Sub, Mul, Div, Max, Min only.
using BinaryF32RowFn = void (*)(BinaryOp op, const float* a, bool a_repeat, const float* b, bool b_repeat, float* y,
                                int64_t n);
void binary_f32_row_ref(BinaryOp op, const float* a, bool a_repeat, const float* b, bool b_repeat, float* y,
                        int64_t n);
void binary_f32_row_avx2(BinaryOp op, const float* a, bool a_repeat, const float* b, bool b_repeat, float* y,
                         int64_t n);
void binary_f32_row_avx512(BinaryOp op, const float* a, bool a_repeat, const float* b, bool b_repeat, float* y,
                           int64_t n);
inline bool binary_f32_vectorized(BinaryOp op) {
  return op == BinaryOp::kAdd || op == BinaryOp::kSub || op == BinaryOp::kMul || op == BinaryOp::kDiv ||
         op == BinaryOp::kMax || op == BinaryOp::kMin;
}
// For `level` exactly; nullptr when there is none.
BinaryF32RowFn binary_f32_ukernel(IsaLevel level);
// Runs a float binary op over the broadcast plan with the row microkernel.
void binary_f32_run(ThreadPool* pool, const BroadcastPlan& plan, BinaryF32RowFn row, BinaryOp op, const float* a,
                    const float* b, float* y);

// Where: y = cond ? x : z with three-way broadcasting (plan inputs: cond, x, z). Elements are
// copied as raw bytes of `elem_bytes` (1, 2, 4 or 8), so any dtype works.
void where_ref(ThreadPool* pool, const BroadcastPlan& plan, const bool* cond, const void* x, const void* z, void* y,
               int elem_bytes);

}  // namespace qe::kernels
