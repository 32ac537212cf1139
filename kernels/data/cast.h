// Element type conversion for Cast, between every fixed-size numeric type qengine has:
// float, double, float16, bfloat16, bool and the 8..64-bit integers.
//   float -> integer truncates toward zero; values outside int64 (and NaN) give INT64_MIN
//            before narrowing, as x86's cvttsd2si (and so numpy) does, so nothing is undefined;
//   integer -> narrower integer wraps (two's complement), as numpy's astype;
//   anything -> bool is `!= 0` (NaN is true); float16 / bfloat16 round to nearest even.
#pragma once

#include <cstdint>

#include "engine/core/dtype.h"

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

bool cast_supported(DType from, DType to);
// dst[i] = convert(src[i]) for i < n, over the pool for large n; float <-> float16 use F16C
// when the CPU has it.
void cast(ThreadPool* pool, const void* src, DType from, void* dst, DType to, int64_t n);
// The portable per-element conversion (the reference of the F16C path), single-threaded.
void cast_ref(const void* src, DType from, void* dst, DType to, int64_t n);

}  // namespace qe::kernels
