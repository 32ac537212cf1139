// Transpose of an N-d array of fixed-size elements (1, 2, 4 or 8 bytes; any other size goes
// through memcpy per element). The permutation is first simplified: size-1 dims are dropped and
// output dims that stay adjacent in the input are merged, so NCHW->NHWC becomes a batch of
// [C, H*W] -> [H*W, C] 2-D transposes. Then:
//   - the innermost output dim is contiguous in the input: rows are copied with memcpy;
//   - otherwise: cache-blocked 2-D tiles between the output's innermost dim and the input's
//     (AVX2 register transposes of 8x8 32-bit and 16x16 8-bit blocks when the CPU has AVX2).
// transpose_ref() is the per-element definition the blocked path is tested against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

struct TransposePlan {
  size_t elem = 4;
  std::vector<int64_t> out_dims;     // simplified output dims
  std::vector<int64_t> src_strides;  // input stride (elements) of each simplified output dim
  int64_t numel = 0;
};

// in_dims: the input shape; perm: output dim i is input dim perm[i] (validated by the caller).
TransposePlan plan_transpose(const std::vector<int64_t>& in_dims, const std::vector<int64_t>& perm, size_t elem);

void transpose_ref(const TransposePlan& p, const void* src, void* dst);
void transpose(ThreadPool* pool, const TransposePlan& p, const void* src, void* dst);

// dst[i * dst_ld + j] = src[j * src_ld + i] for i < rows, j < cols: a tile-blocked 2-D
// transpose of a cols x rows source, the portable building block of the blocked path (and the
// reference of transpose_2d_x32_avx2 in data_isa.h).
void transpose_2d(const void* src, int64_t src_ld, void* dst, int64_t dst_ld, int64_t rows, int64_t cols, size_t elem);

}  // namespace qe::kernels
