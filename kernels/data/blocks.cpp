#include "kernels/data/blocks.h"

#include <cstring>

#include "engine/core/thread_pool.h"
#include "kernels/data/copy.h"

namespace qe::kernels {

namespace {

// Runs body over [0, n) items of item_bytes each, in parallel when the total is large.
template <typename F>
void for_items(ThreadPool* pool, int64_t n, size_t item_bytes, F&& body) {
  if (pool && static_cast<size_t>(n) * item_bytes >= kParallelCopyBytes) {
    pool->parallel_for(n, body, copy_grain(item_bytes));
  } else {
    body(0, n);
  }
}

}  // namespace

void gather_blocks(ThreadPool* pool, const void* data, int64_t outer, int64_t axis_dim, size_t block_bytes,
                   const int64_t* idx, int64_t n_idx, void* out) {
  const char* s = static_cast<const char*>(data);
  char* d = static_cast<char*>(out);
  if (block_bytes == 0 || n_idx == 0 || outer == 0) return;
  for_items(pool, outer * n_idx, block_bytes, [&](int64_t b, int64_t e) {
    for (int64_t it = b; it < e; ++it) {
      int64_t o = it / n_idx, j = it - o * n_idx;
      std::memcpy(d + static_cast<size_t>(it) * block_bytes,
                  s + static_cast<size_t>(o * axis_dim + idx[j]) * block_bytes, block_bytes);
    }
  });
}

void concat_blocks(ThreadPool* pool, const void* const* srcs, const size_t* widths, int n, int64_t outer, void* out) {
  size_t total = 0;
  for (int i = 0; i < n; ++i) total += widths[i];
  if (total == 0) return;
  char* d = static_cast<char*>(out);
  if (outer == 1) {
    // Concat along the outermost axis: a few large copies, each split over the pool.
    for (int i = 0; i < n; ++i) {
      copy_bytes(pool, d, srcs[i], widths[i]);
      d += widths[i];
    }
    return;
  }
  for_items(pool, outer, total, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      char* row = d + static_cast<size_t>(o) * total;
      for (int i = 0; i < n; ++i) {
        size_t w = widths[i];
        if (w) std::memcpy(row, static_cast<const char*>(srcs[i]) + static_cast<size_t>(o) * w, w);
        row += w;
      }
    }
  });
}

void split_blocks(ThreadPool* pool, const void* src, void* const* dsts, const size_t* widths, int n, int64_t outer) {
  size_t total = 0;
  for (int i = 0; i < n; ++i) total += widths[i];
  if (total == 0) return;
  const char* s = static_cast<const char*>(src);
  if (outer == 1) {
    for (int i = 0; i < n; ++i) {
      copy_bytes(pool, dsts[i], s, widths[i]);
      s += widths[i];
    }
    return;
  }
  for_items(pool, outer, total, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const char* row = s + static_cast<size_t>(o) * total;
      for (int i = 0; i < n; ++i) {
        size_t w = widths[i];
        if (w) std::memcpy(static_cast<char*>(dsts[i]) + static_cast<size_t>(o) * w, row, w);
        row += w;
      }
    }
  });
}

}  // namespace qe::kernels
