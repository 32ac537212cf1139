// Float binary row microkernels over a SIMD vocabulary S, instantiated per ISA. A row is
// vector-vector, vector-scalar or scalar-vector (the repeated operand broadcast once).
#pragma once

#include <cstdint>

#include "kernels/elementwise/binary.h"

namespace qe::kernels {

template <class S, class Fn>
inline void binary_row_loop(const float* a, bool ra, const float* b, bool rb, float* y, int64_t n, Fn fn) {
  using V = typename S::V;
  constexpr int W = S::kWidth;
  if (ra && rb) {
    V v = fn(S::set1(a[0]), S::set1(b[0]));
    int64_t i = 0;
    for (; i + W <= n; i += W) S::store(y + i, v);
    if (i < n) S::store_tail(y + i, v, n - i);
    return;
  }
  if (ra || rb) {
    const V s = S::set1(ra ? a[0] : b[0]);
    const float* x = ra ? b : a;
    auto f = [&](V v) { return ra ? fn(s, v) : fn(v, s); };
    int64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
      V p = f(S::load(x + i));
      V q = f(S::load(x + i + W));
      S::store(y + i, p);
      S::store(y + i + W, q);
    }
    for (; i + W <= n; i += W) S::store(y + i, f(S::load(x + i)));
    if (i < n) S::store_tail(y + i, f(S::load_tail(x + i, n - i)), n - i);
    return;
  }
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    V p = fn(S::load(a + i), S::load(b + i));
    V q = fn(S::load(a + i + W), S::load(b + i + W));
    S::store(y + i, p);
    S::store(y + i + W, q);
  }
  for (; i + W <= n; i += W) S::store(y + i, fn(S::load(a + i), S::load(b + i)));
  if (i < n) S::store_tail(y + i, fn(S::load_tail(a + i, n - i), S::load_tail(b + i, n - i)), n - i);
}

template <class S>
void binary_f32_row_impl(BinaryOp op, const float* a, bool ra, const float* b, bool rb, float* y, int64_t n) {
  using V = typename S::V;
  switch (op) {
    case BinaryOp::kAdd: return binary_row_loop<S>(a, ra, b, rb, y, n, [](V p, V q) { return S::add(p, q); });
    case BinaryOp::kSub: return binary_row_loop<S>(a, ra, b, rb, y, n, [](V p, V q) { return S::sub(p, q); });
    case BinaryOp::kMul: return binary_row_loop<S>(a, ra, b, rb, y, n, [](V p, V q) { return S::mul(p, q); });
    case BinaryOp::kDiv: return binary_row_loop<S>(a, ra, b, rb, y, n, [](V p, V q) { return S::div(p, q); });
    // binary_scalar: Max = a < b ? b : a, i.e. the instruction max(b, a); Min likewise.
    case BinaryOp::kMax: return binary_row_loop<S>(a, ra, b, rb, y, n, [](V p, V q) { return S::max(q, p); });
    case BinaryOp::kMin: return binary_row_loop<S>(a, ra, b, rb, y, n, [](V p, V q) { return S::min(q, p); });
    default: break;
  }
  // Not vectorised: the binding never dispatches these here. (Out of line on purpose: an
  // inline template instantiated under ISA flags could be picked by the linker for baseline code.)
  binary_f32_row_ref(op, a, ra, b, rb, y, n);
}

}  // namespace qe::kernels
