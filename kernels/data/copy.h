// Byte copies shared by the data-movement kernels: a plain memcpy split over the pool when the
// buffer is large enough for threads to pay off.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

// Below this many bytes a copy runs on the calling thread.
constexpr size_t kParallelCopyBytes = size_t{1} << 18;

// dst[0, bytes) = src[0, bytes); no-op when dst == src. The buffers must not overlap otherwise.
void copy_bytes(ThreadPool* pool, void* dst, const void* src, size_t bytes);

// Fills n elements of `elem` bytes each with the element at `value`.
void fill_elements(void* dst, const void* value, size_t elem, int64_t n);

// Grain (in items of `item_bytes`) so that one parallel chunk moves about 64 KiB.
int64_t copy_grain(size_t item_bytes);

}  // namespace qe::kernels
