// Unary float maps (activations and math functions) and their generic (double / integer)
// forms. unary_f32_scalar() is the definition; the vector forms (unary_impl.h, instantiated
// per ISA) are tested against it.
#pragma once

#include <cstdint>

#include "engine/core/cpu_features.h"

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

enum class UnaryOp : uint8_t {
  kAbs,
  kCeil,
  kClip,         // alpha = min, beta = max
  kErf,
  kExp,
  kFloor,
  kGelu,         // 0.5 x (1 + erf(x / sqrt 2))
  kGeluTanh,     // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  kHardSigmoid,  // max(0, min(1, alpha x + beta))
  kHardSwish,    // x max(0, min(1, x/6 + 1/2))
  kIdentity,
  kLeakyRelu,    // alpha = slope
  kLog,
  kNeg,
  kReciprocal,
  kRelu,
  kRound,        // half to even
  kSigmoid,
  kSqrt,
  kSquare,       // Pow with a constant exponent of 2
  kTanh,
};

struct UnaryParams {
  UnaryOp op = UnaryOp::kIdentity;
  float alpha = 0.f;
  float beta = 0.f;
};

const char* unary_op_name(UnaryOp op);

// One element, in float with std:: math: the numeric definition.
float unary_f32_scalar(const UnaryParams& p, float x);
double unary_f64_scalar(const UnaryParams& p, double x);

// y[i] = op(x[i]) for i < n (x may equal y).
void unary_f32_ref(const UnaryParams& p, const float* x, float* y, int64_t n);
void unary_f32_avx2(const UnaryParams& p, const float* x, float* y, int64_t n);
void unary_f32_avx512(const UnaryParams& p, const float* x, float* y, int64_t n);
using UnaryF32Fn = void (*)(const UnaryParams&, const float*, float*, int64_t);

// The vector form for `level` (exact level, not "at most"); nullptr for kScalar, for levels
// above what the build has, and for ops without a vector form (Log).
UnaryF32Fn unary_f32_ukernel(IsaLevel level, UnaryOp op);

// Splits [0, n) over the pool in deterministic chunks sized for the op's cost.
void unary_f32_run(ThreadPool* pool, UnaryF32Fn fn, const UnaryParams& p, const float* x, float* y, int64_t n);

// Generic element types. Integer types support Abs, Neg, Relu, Identity, Ceil, Floor, Square
// (the rest make no sense on integers); double supports everything.
template <typename T>
bool unary_generic_supported(UnaryOp op);
template <typename T>
void unary_generic(ThreadPool* pool, const UnaryParams& p, const T* x, T* y, int64_t n);
// Clip for any numeric T with bounds already in T.
template <typename T>
void clip_generic(ThreadPool* pool, const T* x, T* y, int64_t n, T lo, T hi);

}  // namespace qe::kernels
