#include "kernels/data/cast.h"

#include <cmath>
#include <cstring>
#include <type_traits>

#include "engine/core/cpu_features.h"
#include "engine/core/thread_pool.h"
#include "kernels/data/data_isa.h"

namespace qe::kernels {

namespace {

// Storage tags for the 16-bit float types.
struct Half { uint16_t bits; };
struct BFloat { uint16_t bits; };

template <typename T>
constexpr bool is_floatish = std::is_floating_point_v<T> || std::is_same_v<T, Half> || std::is_same_v<T, BFloat>;

template <typename T>
double load_float(T v) {
  if constexpr (std::is_same_v<T, Half>) return half_to_float(v.bits);
  else if constexpr (std::is_same_v<T, BFloat>) return bf16_to_float(v.bits);
  else return static_cast<double>(v);
}

template <typename To>
To float_to_int(double x) {
  if constexpr (std::is_same_v<To, uint64_t>) {
    if (x >= 9223372036854775808.0 && x < 18446744073709551616.0) return static_cast<uint64_t>(x);
  }
  int64_t i = (x >= -9223372036854775808.0 && x < 9223372036854775808.0) ? static_cast<int64_t>(x)
                                                                          : INT64_MIN;
  return static_cast<To>(i);
}

template <typename To>
To store_float(double x) {
  if constexpr (std::is_same_v<To, Half>) return Half{float_to_half(static_cast<float>(x))};
  else if constexpr (std::is_same_v<To, BFloat>) return BFloat{float_to_bf16(static_cast<float>(x))};
  else return static_cast<To>(x);
}

template <typename From, typename To>
To convert(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    if constexpr (is_floatish<From>) return load_float(v) != 0.0;
    else return v != 0;
  } else if constexpr (is_floatish<From>) {
    double x = load_float(v);
    if constexpr (is_floatish<To>) return store_float<To>(x);
    else return float_to_int<To>(x);
  } else {
    // Integer or bool source.
    if constexpr (std::is_same_v<To, Half>) return Half{float_to_half(static_cast<float>(v))};
    else if constexpr (std::is_same_v<To, BFloat>) return BFloat{float_to_bf16(static_cast<float>(v))};
    else return static_cast<To>(v);
  }
}

template <typename From, typename To>
void cast_loop(const void* src, void* dst, int64_t begin, int64_t end) {
  const From* s = static_cast<const From*>(src);
  To* d = static_cast<To*>(dst);
  if constexpr (std::is_same_v<From, bool> || std::is_same_v<To, bool>) {
    // bool storage is one byte that may hold any value when it comes from outside.
    for (int64_t i = begin; i < end; ++i) {
      From v;
      if constexpr (std::is_same_v<From, bool>) v = reinterpret_cast<const uint8_t*>(src)[i] != 0;
      else v = s[i];
      To r = convert<From, To>(v);
      std::memcpy(d + i, &r, sizeof(To));
    }
  } else {
    for (int64_t i = begin; i < end; ++i) d[i] = convert<From, To>(s[i]);
  }
}

using CastFn = void (*)(const void*, void*, int64_t, int64_t);

template <typename F>
bool visit_type(DType t, F&& f) {
  switch (t) {
    case DType::kF32: f(float{}); return true;
    case DType::kF64: f(double{}); return true;
    case DType::kF16: f(Half{}); return true;
    case DType::kBF16: f(BFloat{}); return true;
    case DType::kI64: f(int64_t{}); return true;
    case DType::kI32: f(int32_t{}); return true;
    case DType::kI16: f(int16_t{}); return true;
    case DType::kI8: f(int8_t{}); return true;
    case DType::kU64: f(uint64_t{}); return true;
    case DType::kU32: f(uint32_t{}); return true;
    case DType::kU16: f(uint16_t{}); return true;
    case DType::kU8: f(uint8_t{}); return true;
    case DType::kBool: f(bool{}); return true;
    default: return false;
  }
}

void f32_to_f16_fast(const void* src, void* dst, int64_t b, int64_t e) {
  f32_to_f16_avx2(static_cast<const float*>(src) + b, static_cast<uint16_t*>(dst) + b, e - b);
}
void f16_to_f32_fast(const void* src, void* dst, int64_t b, int64_t e) {
  f16_to_f32_avx2(static_cast<const uint16_t*>(src) + b, static_cast<float*>(dst) + b, e - b);
}

CastFn cast_fn(DType from, DType to) {
  // F16C converts with the same round-to-nearest-even as float_to_half.
  if (cpu_features().level >= IsaLevel::kAvx2) {
    if (from == DType::kF32 && to == DType::kF16) return &f32_to_f16_fast;
    if (from == DType::kF16 && to == DType::kF32) return &f16_to_f32_fast;
  }
  CastFn fn = nullptr;
  visit_type(from, [&](auto f) {
    visit_type(to, [&](auto t) { fn = &cast_loop<decltype(f), decltype(t)>; });
  });
  return fn;
}

}  // namespace

bool cast_supported(DType from, DType to) { return cast_fn(from, to) != nullptr; }

void cast_ref(const void* src, DType from, void* dst, DType to, int64_t n) {
  CastFn fn = nullptr;
  visit_type(from, [&](auto f) {
    visit_type(to, [&](auto t) { fn = &cast_loop<decltype(f), decltype(t)>; });
  });
  if (fn) fn(src, dst, 0, n);
}

void cast(ThreadPool* pool, const void* src, DType from, void* dst, DType to, int64_t n) {
  CastFn fn = cast_fn(from, to);
  if (!fn || n == 0) return;
  if (from == to) {
    std::memcpy(dst, src, dtype_storage_bytes(from, n));
    return;
  }
  constexpr int64_t kGrain = 1 << 14;
  if (pool && n >= 4 * kGrain) {
    pool->parallel_for(n, [&](int64_t b, int64_t e) { fn(src, dst, b, e); }, kGrain);
  } else {
    fn(src, dst, 0, n);
  }
}

}  // namespace qe::kernels
