#include "kernels/elementwise/unary.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/elementwise/parallel.h"

namespace qe::kernels {

const char* unary_op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::kAbs: return "Abs";
    case UnaryOp::kCeil: return "Ceil";
    case UnaryOp::kClip: return "Clip";
    case UnaryOp::kErf: return "Erf";
    case UnaryOp::kExp: return "Exp";
    case UnaryOp::kFloor: return "Floor";
    case UnaryOp::kGelu: return "Gelu";
    case UnaryOp::kGeluTanh: return "Gelu(tanh)";
    case UnaryOp::kHardSigmoid: return "HardSigmoid";
    case UnaryOp::kHardSwish: return "HardSwish";
    case UnaryOp::kIdentity: return "Identity";
    case UnaryOp::kLeakyRelu: return "LeakyRelu";
    case UnaryOp::kLog: return "Log";
    case UnaryOp::kNeg: return "Neg";
    case UnaryOp::kRound: return "Round";
    case UnaryOp::kReciprocal: return "Reciprocal";
    case UnaryOp::kRelu: return "Relu";
    case UnaryOp::kSigmoid: return "Sigmoid";
    case UnaryOp::kSqrt: return "Sqrt";
    case UnaryOp::kSquare: return "Square";
    case UnaryOp::kTanh: return "Tanh";
  }
  return "?";
}

namespace {

// The shared definition for float and double, one op at a time so that loops over it compile
// without a per-element switch; T(...) keeps constants in the element type.
template <UnaryOp kOp, typename T>
inline T unary_op(T x, T alpha, T beta) {
  if constexpr (kOp == UnaryOp::kAbs) return std::fabs(x);
  if constexpr (kOp == UnaryOp::kCeil) return std::ceil(x);
  // min(max(x, lo), hi) like numpy.clip: lo > hi gives hi; NaN stays NaN.
  if constexpr (kOp == UnaryOp::kClip) {
    T t = x < alpha ? alpha : x;
    return beta < t ? beta : t;
  }
  if constexpr (kOp == UnaryOp::kErf) return std::erf(x);
  if constexpr (kOp == UnaryOp::kExp) return std::exp(x);
  if constexpr (kOp == UnaryOp::kFloor) return std::floor(x);
  if constexpr (kOp == UnaryOp::kGelu) return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
  if constexpr (kOp == UnaryOp::kGeluTanh) {
    T u = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
    return T(0.5) * x * (T(1) + std::tanh(u));
  }
  if constexpr (kOp == UnaryOp::kHardSigmoid) return std::max(T(0), std::min(T(1), alpha * x + beta));
  if constexpr (kOp == UnaryOp::kHardSwish) return x * std::max(T(0), std::min(T(1), x * (T(1) / T(6)) + T(0.5)));
  if constexpr (kOp == UnaryOp::kIdentity) return x;
  if constexpr (kOp == UnaryOp::kLeakyRelu) return x < T(0) ? x * alpha : x;
  if constexpr (kOp == UnaryOp::kLog) return std::log(x);
  if constexpr (kOp == UnaryOp::kNeg) return -x;
  if constexpr (kOp == UnaryOp::kRound) return std::nearbyint(x);  // default FP mode: half to even
  if constexpr (kOp == UnaryOp::kReciprocal) return T(1) / x;
  if constexpr (kOp == UnaryOp::kRelu) return x < T(0) ? T(0) : x;
  if constexpr (kOp == UnaryOp::kSigmoid) return T(1) / (T(1) + std::exp(-x));
  if constexpr (kOp == UnaryOp::kSqrt) return std::sqrt(x);
  if constexpr (kOp == UnaryOp::kSquare) return x * x;
  if constexpr (kOp == UnaryOp::kTanh) return std::tanh(x);
}

// Calls f(std::integral_constant<UnaryOp, op>{}).
template <typename F>
void with_unary_op(UnaryOp op, F&& f) {
  switch (op) {
#define QE_UNARY_CASE(k) \
  case UnaryOp::k: return f(std::integral_constant<UnaryOp, UnaryOp::k>{});
    QE_UNARY_CASE(kAbs) QE_UNARY_CASE(kCeil) QE_UNARY_CASE(kClip) QE_UNARY_CASE(kErf) QE_UNARY_CASE(kExp)
    QE_UNARY_CASE(kFloor) QE_UNARY_CASE(kGelu) QE_UNARY_CASE(kGeluTanh) QE_UNARY_CASE(kHardSigmoid)
    QE_UNARY_CASE(kHardSwish) QE_UNARY_CASE(kIdentity) QE_UNARY_CASE(kLeakyRelu) QE_UNARY_CASE(kLog)
    QE_UNARY_CASE(kNeg) QE_UNARY_CASE(kRound) QE_UNARY_CASE(kReciprocal) QE_UNARY_CASE(kRelu) QE_UNARY_CASE(kSigmoid) QE_UNARY_CASE(kSqrt)
    QE_UNARY_CASE(kSquare) QE_UNARY_CASE(kTanh)
#undef QE_UNARY_CASE
  }
}

template <typename T>
void unary_loop(const UnaryParams& p, const T* x, T* y, int64_t n) {
  const T alpha = static_cast<T>(p.alpha), beta = static_cast<T>(p.beta);
  with_unary_op(p.op, [&](auto op) {
    for (int64_t i = 0; i < n; ++i) y[i] = unary_op<decltype(op)::value, T>(x[i], alpha, beta);
  });
}

template <typename T>
T unary_scalar(const UnaryParams& p, T x) {
  T y = x;
  unary_loop<T>(p, &x, &y, 1);
  return y;
}

// Elements per chunk: cheap maps are memory bound and need big chunks to pay for a wake-up.
int64_t unary_grain(UnaryOp op) {
  switch (op) {
    case UnaryOp::kErf:
    case UnaryOp::kExp:
    case UnaryOp::kGelu:
    case UnaryOp::kGeluTanh:
    case UnaryOp::kLog:
    case UnaryOp::kSigmoid:
    case UnaryOp::kTanh: return 4096;
    default: return 16384;
  }
}

}  // namespace

float unary_f32_scalar(const UnaryParams& p, float x) { return unary_scalar<float>(p, x); }
double unary_f64_scalar(const UnaryParams& p, double x) { return unary_scalar<double>(p, x); }

void unary_f32_ref(const UnaryParams& p, const float* x, float* y, int64_t n) { unary_loop<float>(p, x, y, n); }

UnaryF32Fn unary_f32_ukernel(IsaLevel level, UnaryOp op) {
  if (op == UnaryOp::kLog) return nullptr;
  switch (level) {
    case IsaLevel::kAvx2: return &unary_f32_avx2;
    case IsaLevel::kAvx512:
    case IsaLevel::kAvx512Vnni: return &unary_f32_avx512;
    default: return nullptr;
  }
}

void unary_f32_run(ThreadPool* pool, UnaryF32Fn fn, const UnaryParams& p, const float* x, float* y, int64_t n) {
  int64_t grain = unary_grain(p.op);
  parallel_ranges(pool, n, grain, [&](int64_t b, int64_t e) { fn(p, x + b, y + b, e - b); });
}

template <typename T>
bool unary_generic_supported(UnaryOp op) {
  if constexpr (std::is_floating_point_v<T>) {
    return true;
  } else {
    switch (op) {
      case UnaryOp::kAbs:
      case UnaryOp::kNeg:
      case UnaryOp::kRelu:
      case UnaryOp::kIdentity:
      case UnaryOp::kCeil:
      case UnaryOp::kFloor:
      case UnaryOp::kRound:
      case UnaryOp::kSquare: return true;
      default: return false;
    }
  }
}

namespace {
template <typename T>
T unary_integer(UnaryOp op, T x) {
  switch (op) {
    case UnaryOp::kAbs:
      if constexpr (std::is_signed_v<T>) return x < 0 ? static_cast<T>(-x) : x;
      return x;
    case UnaryOp::kNeg: return static_cast<T>(-x);  // wraps for unsigned, as numpy does
    case UnaryOp::kRelu: return x < 0 ? T(0) : x;
    case UnaryOp::kSquare: return static_cast<T>(x * x);
    default: return x;  // Identity, Ceil, Floor, Round
  }
}
}  // namespace

template <typename T>
void unary_generic(ThreadPool* pool, const UnaryParams& p, const T* x, T* y, int64_t n) {
  auto body = [&](int64_t b, int64_t e) {
    if constexpr (std::is_floating_point_v<T>) {
      unary_loop<T>(p, x + b, y + b, e - b);
    } else {
      for (int64_t i = b; i < e; ++i) y[i] = unary_integer<T>(p.op, x[i]);
    }
  };
  parallel_ranges(pool, n, 16384, body);
}

template <typename T>
void clip_generic(ThreadPool* pool, const T* x, T* y, int64_t n, T lo, T hi) {
  auto body = [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T t = x[i] < lo ? lo : x[i];
      y[i] = hi < t ? hi : t;
    }
  };
  parallel_ranges(pool, n, 16384, body);
}

#define QE_UNARY_INSTANTIATE(T)                                                                \
  template bool unary_generic_supported<T>(UnaryOp);                                           \
  template void unary_generic<T>(ThreadPool*, const UnaryParams&, const T*, T*, int64_t);      \
  template void clip_generic<T>(ThreadPool*, const T*, T*, int64_t, T, T);
QE_UNARY_INSTANTIATE(float)
QE_UNARY_INSTANTIATE(double)
QE_UNARY_INSTANTIATE(int8_t)
QE_UNARY_INSTANTIATE(uint8_t)
QE_UNARY_INSTANTIATE(int16_t)
QE_UNARY_INSTANTIATE(uint16_t)
QE_UNARY_INSTANTIATE(int32_t)
QE_UNARY_INSTANTIATE(uint32_t)
QE_UNARY_INSTANTIATE(int64_t)
QE_UNARY_INSTANTIATE(uint64_t)
#undef QE_UNARY_INSTANTIATE

}  // namespace qe::kernels
