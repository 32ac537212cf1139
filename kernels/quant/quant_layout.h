// How a quantizer's parameters (scale, zero point, ...) line up with the tensor they quantize.
// The arithmetic kernels (fake_quant.h) see one [outer, channels, inner] block with one
// parameter per channel. Most parameter shapes are exactly that (per tensor, per channel of a
// conv weight, per column of a MatMul weight). Shapes with several non-1 dims that are not
// adjacent (per-group scales expanded over two axes, ONNX blocked quantization with a partial
// last block) become a leading index space of such blocks, each with its own parameter offset.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/core/status.h"
#include "kernels/elementwise/fn_ref.h"

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

struct QuantLayout {
  // One block. Parameter index of element (o, c, i) is param_offset(block) + c.
  int64_t outer = 1, channels = 1, inner = 1;
  // The blocks: a row-major index space; block b's parameters start at
  // sum_k (idx_k / lead_divs[k]) * lead_strides[k]. Empty for the common single-block case.
  std::vector<int64_t> lead_dims, lead_strides, lead_divs;

  int64_t block_numel() const { return outer * channels * inner; }
  int64_t num_blocks() const;
  int64_t numel() const { return num_blocks() * block_numel(); }
  int64_t param_offset(int64_t block) const;
};

// Parameters of shape `param` broadcast against `x` (numpy rules, right-aligned, but the
// parameters may not grow the output: every dim must be 1 or equal to x's). Error otherwise.
Result<QuantLayout> broadcast_layout(std::span<const int64_t> x, std::span<const int64_t> param);

// ONNX blocked quantization: the parameters have x's shape except dim `axis`, which holds
// ceil(x[axis] / block_size) blocks; element j along the axis uses block j / block_size.
Result<QuantLayout> blocked_layout(std::span<const int64_t> x, int64_t axis, int64_t block_size);

// A contiguous run of elements that is itself an [outer, channels, inner] problem:
// elements [x_offset, x_offset + outer * channels * inner), parameters from param_offset.
struct QuantPiece {
  int64_t x_offset = 0, param_offset = 0;
  int64_t outer = 1, channels = 1, inner = 1;
  int64_t numel() const { return outer * channels * inner; }
};

// Covers elements [begin, end) of the layout with pieces, in order (at most five per block).
void for_each_piece(const QuantLayout& l, int64_t begin, int64_t end, FnRef<void(const QuantPiece&)> fn);

// The same over all elements, split across the pool in ranges of at least `grain` elements.
// Ranges depend only on the sizes and the thread count, so results are deterministic.
void parallel_pieces(ThreadPool* pool, const QuantLayout& l, int64_t grain, FnRef<void(const QuantPiece&)> fn);

}  // namespace qe::kernels
