// Block copies along one axis of a row-major array seen as [outer, axis, inner]: Gather picks
// axis entries, Concat and Split join and cut the axis. Sizes are in bytes, so every fixed-size
// element type (and the byte-aligned parts of packed types) goes through the same code.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

// out[o, j, :] = data[o, idx[j], :] for o < outer, j < n_idx; each block is block_bytes.
// Indices must already be in [0, axis_dim).
void gather_blocks(ThreadPool* pool, const void* data, int64_t outer, int64_t axis_dim, size_t block_bytes,
                   const int64_t* idx, int64_t n_idx, void* out);

// out[o, offset_i .. offset_i + widths[i]) = srcs[i][o, 0 .. widths[i]) (widths in bytes).
void concat_blocks(ThreadPool* pool, const void* const* srcs, const size_t* widths, int n, int64_t outer, void* out);

// dsts[i][o, 0 .. widths[i]) = src[o, offset_i .. offset_i + widths[i]).
void split_blocks(ThreadPool* pool, const void* src, void* const* dsts, const size_t* widths, int n, int64_t outer);

}  // namespace qe::kernels
