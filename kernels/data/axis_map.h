// Axis-map copy: out[o_0, ..., o_k] = in[map_0[o_0], ..., map_k[o_k]], or a fill value where
// any map entry is -1. Slice (start + i * step), Pad (constant / edge / reflect / wrap), Expand
// (0 for broadcast dims) and nearest Resize are all this one kernel with different maps.
//
// plan_axis_map() merges adjacent identity dims, folds size-1 output dims into a base offset
// and cuts the innermost dim into segments (memcpy runs, fills, repeats of one element and
// per-element gathers), so an NCHW Slice over C is H*W-long memcpys and a spatial Pad is a fill,
// one memcpy and a fill per row. axis_map_copy_ref() is the per-element definition.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

struct AxisMapSegment {
  enum Kind : uint8_t { kCopy, kFill, kRepeat, kGather } kind = kCopy;
  int64_t dst = 0;    // first output element in the row
  int64_t len = 0;
  int64_t src = 0;    // kCopy / kRepeat: first source element (row relative); kGather: index into gather_map
};

struct AxisMapPlan {
  size_t elem = 4;
  int64_t out_numel = 0;
  bool all_fill = false;  // a size-1 output dim maps to -1: nothing is read
  int64_t base = 0;       // source offset (elements) contributed by folded dims
  // Outer dims (all but the innermost), each with per-index source offsets (-1 = fill row).
  std::vector<int64_t> outer_dims;
  std::vector<std::vector<int64_t>> outer_offsets;
  int64_t row_len = 1;
  std::vector<AxisMapSegment> segments;
  std::vector<int64_t> gather_map;  // row-relative source indices for kGather segments
};

// in_dims: the source shape; maps[d] has one entry per output index of dim d (its length is
// the output dim), each in [0, in_dims[d]) or -1.
AxisMapPlan plan_axis_map(const std::vector<int64_t>& in_dims, const std::vector<std::vector<int64_t>>& maps,
                          size_t elem);

// `fill` points at one element (may be null when no map has -1).
void axis_map_copy(ThreadPool* pool, const AxisMapPlan& p, const void* src, void* dst, const void* fill);

void axis_map_copy_ref(const std::vector<int64_t>& in_dims, const std::vector<std::vector<int64_t>>& maps, size_t elem,
                       const void* src, void* dst, const void* fill);

}  // namespace qe::kernels
