#include "kernels/data/transpose.h"

#include <algorithm>
#include <cstring>

#include "engine/core/cpu_features.h"
#include "engine/core/thread_pool.h"
#include "kernels/data/copy.h"
#include "kernels/data/data_isa.h"

namespace qe::kernels {

TransposePlan plan_transpose(const std::vector<int64_t>& in_dims, const std::vector<int64_t>& perm, size_t elem) {
  const size_t rank = in_dims.size();
  std::vector<int64_t> in_strides(rank, 1);
  for (size_t i = rank; i-- > 1;) in_strides[i - 1] = in_strides[i] * in_dims[i];
  TransposePlan p;
  p.elem = elem;
  p.numel = 1;
  for (int64_t d : in_dims) p.numel *= d;
  for (size_t i = 0; i < rank; ++i) {
    size_t a = static_cast<size_t>(perm[i]);
    int64_t d = in_dims[a], s = in_strides[a];
    if (d == 1) continue;
    if (!p.out_dims.empty() && p.src_strides.back() == s * d) {
      // Output dims i-1 and i are adjacent in the input too: one dim.
      p.out_dims.back() *= d;
      p.src_strides.back() = s;
      continue;
    }
    p.out_dims.push_back(d);
    p.src_strides.push_back(s);
  }
  return p;
}

namespace {

// Walks the multi-index of `dims` (all but the ones flagged in `skip`), calling fn(src_offset).
struct OuterWalker {
  std::vector<int64_t> dims, strides;
  int64_t count = 1;
  int64_t offset_of(int64_t linear) const {
    int64_t off = 0;
    for (size_t d = dims.size(); d-- > 0;) {
      int64_t q = linear / dims[d];
      off += (linear - q * dims[d]) * strides[d];
      linear = q;
    }
    return off;
  }
};

void copy_element(const char* src, char* dst, size_t elem) {
  switch (elem) {
    case 1: *dst = *src; break;
    case 2: std::memcpy(dst, src, 2); break;
    case 4: std::memcpy(dst, src, 4); break;
    case 8: std::memcpy(dst, src, 8); break;
    default: std::memcpy(dst, src, elem);
  }
}

template <typename T>
void transpose_2d_typed(const T* src, int64_t src_ld, T* dst, int64_t dst_ld, int64_t rows, int64_t cols) {
  // Tiles small enough that a tile's source and destination lines stay in L1.
  constexpr int64_t kTile = 64 / sizeof(T) < 8 ? 8 : 64 / sizeof(T) > 16 ? 16 : 64 / sizeof(T);
  for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
    int64_t i1 = std::min(rows, i0 + kTile);
    for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
      int64_t j1 = std::min(cols, j0 + kTile);
      for (int64_t i = i0; i < i1; ++i) {
        T* d = dst + i * dst_ld;
        const T* s = src + i;
        for (int64_t j = j0; j < j1; ++j) d[j] = s[j * src_ld];
      }
    }
  }
}

}  // namespace

void transpose_2d(const void* src, int64_t src_ld, void* dst, int64_t dst_ld, int64_t rows, int64_t cols, size_t elem) {
  switch (elem) {
    case 1: transpose_2d_typed(static_cast<const uint8_t*>(src), src_ld, static_cast<uint8_t*>(dst), dst_ld, rows, cols); return;
    case 2: transpose_2d_typed(static_cast<const uint16_t*>(src), src_ld, static_cast<uint16_t*>(dst), dst_ld, rows, cols); return;
    case 4: transpose_2d_typed(static_cast<const uint32_t*>(src), src_ld, static_cast<uint32_t*>(dst), dst_ld, rows, cols); return;
    case 8: transpose_2d_typed(static_cast<const uint64_t*>(src), src_ld, static_cast<uint64_t*>(dst), dst_ld, rows, cols); return;
    default:
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < cols; ++j) {
          copy_element(static_cast<const char*>(src) + static_cast<size_t>(j * src_ld + i) * elem,
                       static_cast<char*>(dst) + static_cast<size_t>(i * dst_ld + j) * elem, elem);
        }
      }
  }
}

void transpose_ref(const TransposePlan& p, const void* src, void* dst) {
  const size_t rank = p.out_dims.size();
  std::vector<int64_t> idx(rank, 0);
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  for (int64_t o = 0; o < p.numel; ++o) {
    int64_t off = 0;
    for (size_t k = 0; k < rank; ++k) off += idx[k] * p.src_strides[k];
    copy_element(s + static_cast<size_t>(off) * p.elem, d + static_cast<size_t>(o) * p.elem, p.elem);
    for (size_t k = rank; k-- > 0;) {
      if (++idx[k] < p.out_dims[k]) break;
      idx[k] = 0;
    }
  }
}

void transpose(ThreadPool* pool, const TransposePlan& p, const void* src, void* dst) {
  const size_t rank = p.out_dims.size();
  const size_t elem = p.elem;
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  if (p.numel == 0) return;
  if (rank <= 1) {
    copy_bytes(pool, dst, src, static_cast<size_t>(p.numel) * elem);
    return;
  }
  if (p.src_strides.back() == 1) {
    // Rows stay contiguous: copy them whole.
    OuterWalker w{std::vector<int64_t>(p.out_dims.begin(), p.out_dims.end() - 1),
                  std::vector<int64_t>(p.src_strides.begin(), p.src_strides.end() - 1)};
    const int64_t row = p.out_dims.back();
    const size_t row_bytes = static_cast<size_t>(row) * elem;
    int64_t rows = p.numel / row;
    auto body = [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) std::memcpy(d + static_cast<size_t>(r) * row_bytes, s + static_cast<size_t>(w.offset_of(r)) * elem, row_bytes);
    };
    if (pool && static_cast<size_t>(p.numel) * elem >= kParallelCopyBytes) pool->parallel_for(rows, body, copy_grain(row_bytes));
    else body(0, rows);
    return;
  }
  // The input's innermost dim (stride 1) is output dim b; the output's innermost is a.
  const size_t a = rank - 1;
  size_t b = 0;
  while (p.src_strides[b] != 1) ++b;
  std::vector<int64_t> out_strides(rank, 1);
  for (size_t k = rank; k-- > 1;) out_strides[k - 1] = out_strides[k] * p.out_dims[k];
  OuterWalker src_w, dst_w;
  for (size_t k = 0; k < rank; ++k) {
    if (k == a || k == b) continue;
    src_w.dims.push_back(p.out_dims[k]);
    src_w.strides.push_back(p.src_strides[k]);
    dst_w.dims.push_back(p.out_dims[k]);
    dst_w.strides.push_back(out_strides[k]);
    src_w.count *= p.out_dims[k];
  }
  const int64_t rows = p.out_dims[b], cols = p.out_dims[a];
  const int64_t src_ld = p.src_strides[a], dst_ld = out_strides[b];
  const bool avx2 = cpu_features().level >= IsaLevel::kAvx2;
  const bool x32_avx2 = avx2 && elem == 4, x8_avx2 = avx2 && elem == 1;
  // Work items: (outer index, block of 16 rows of the output's dim b).
  constexpr int64_t kRowBlock = 16;
  const int64_t row_blocks = (rows + kRowBlock - 1) / kRowBlock;
  const int64_t items = src_w.count * row_blocks;
  auto body = [&](int64_t begin, int64_t end) {
    for (int64_t it = begin; it < end; ++it) {
      int64_t outer = it / row_blocks, rb = it - outer * row_blocks;
      int64_t r0 = rb * kRowBlock, r1 = std::min(rows, r0 + kRowBlock);
      const char* sp = s + static_cast<size_t>(src_w.offset_of(outer) + r0) * elem;
      char* dp = d + static_cast<size_t>(dst_w.offset_of(outer) + r0 * dst_ld) * elem;
      if (x32_avx2) {
        transpose_2d_x32_avx2(reinterpret_cast<const uint32_t*>(sp), src_ld, reinterpret_cast<uint32_t*>(dp), dst_ld,
                              r1 - r0, cols);
      } else if (x8_avx2) {
        transpose_2d_x8_avx2(reinterpret_cast<const uint8_t*>(sp), src_ld, reinterpret_cast<uint8_t*>(dp), dst_ld,
                             r1 - r0, cols);
      } else {
        transpose_2d(sp, src_ld, dp, dst_ld, r1 - r0, cols, elem);
      }
    }
  };
  int64_t item_bytes = kRowBlock * cols * static_cast<int64_t>(elem);
  if (pool && static_cast<size_t>(p.numel) * elem >= kParallelCopyBytes) {
    pool->parallel_for(items, body, copy_grain(static_cast<size_t>(item_bytes)));
  } else {
    body(0, items);
  }
}

}  // namespace qe::kernels
