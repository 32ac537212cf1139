#include "kernels/data/copy.h"

#include <algorithm>
#include <cstring>

#include "engine/core/thread_pool.h"

namespace qe::kernels {

void copy_bytes(ThreadPool* pool, void* dst, const void* src, size_t bytes) {
  if (dst == src || bytes == 0) return;
  if (!pool || pool->num_threads() == 1 || bytes < kParallelCopyBytes) {
    std::memcpy(dst, src, bytes);
    return;
  }
  constexpr int64_t kBlock = 1 << 16;
  int64_t blocks = static_cast<int64_t>((bytes + kBlock - 1) / kBlock);
  pool->parallel_for(blocks, [&](int64_t b, int64_t e) {
    size_t begin = static_cast<size_t>(b) * kBlock;
    size_t end = std::min(bytes, static_cast<size_t>(e) * kBlock);
    std::memcpy(static_cast<char*>(dst) + begin, static_cast<const char*>(src) + begin, end - begin);
  });
}

namespace {
template <typename T>
void fill_typed(void* dst, const void* value, int64_t n) {
  T v;
  std::memcpy(&v, value, sizeof(T));
  std::fill_n(static_cast<T*>(dst), n, v);
}
}  // namespace

void fill_elements(void* dst, const void* value, size_t elem, int64_t n) {
  switch (elem) {
    case 1: std::memset(dst, *static_cast<const unsigned char*>(value), static_cast<size_t>(n)); return;
    case 2: fill_typed<uint16_t>(dst, value, n); return;
    case 4: fill_typed<uint32_t>(dst, value, n); return;
    case 8: fill_typed<uint64_t>(dst, value, n); return;
    default:
      for (int64_t i = 0; i < n; ++i) std::memcpy(static_cast<char*>(dst) + static_cast<size_t>(i) * elem, value, elem);
  }
}

int64_t copy_grain(size_t item_bytes) {
  return std::max<int64_t>(1, static_cast<int64_t>((size_t{1} << 16) / std::max<size_t>(item_bytes, 1)));
}

}  // namespace qe::kernels
