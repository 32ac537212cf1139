// numpy broadcasting as rows: the output is walked as `rows` rows of `inner` contiguous
// elements; inside a row every input either advances with the output (stride 1) or repeats
// one element (stride 0). Adjacent dims with the same broadcast pattern are merged first, so
// the usual cases collapse to one or two dims:
//   same shape            -> 1 row,  inner = numel
//   tensor op scalar      -> 1 row,  the scalar input has stride 0
//   NCHW op [C,1,1]       -> N*C rows of H*W, the per-channel input stride 0 inside a row
//   [M,N] op [N]          -> M rows of N, the row input restarts at every row
#pragma once

#include <cstdint>
#include <vector>

#include "engine/core/shape.h"
#include "engine/core/status.h"
#include "kernels/elementwise/fn_ref.h"

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

constexpr int kMaxBroadcastInputs = 3;
constexpr int kMaxBroadcastRank = 16;

struct BroadcastPlan {
  int num_inputs = 0;
  int64_t rows = 1;
  int64_t inner = 1;
  bool inner_repeat[kMaxBroadcastInputs] = {};  // input repeats one element along a row
  std::vector<int64_t> outer_dims;               // collapsed dims before the row, outermost first
  std::vector<int64_t> outer_strides[kMaxBroadcastInputs];  // element strides along outer_dims
  int64_t numel() const { return rows * inner; }
};

// `inputs` broadcast to `out` (numpy rules, right-aligned). Error names the shapes that do not
// broadcast to `out`.
Result<BroadcastPlan> plan_broadcast(const std::vector<Shape>& inputs, const Shape& out);

// One contiguous piece of a row: input k starts at element offset in_off[k] (and advances
// only when !inner_repeat[k]); the output starts at out_off. n elements.
using BroadcastPieceFn = FnRef<void(const int64_t* in_off, int64_t out_off, int64_t n)>;

// Walks the whole output in pieces of about `grain` elements, over the pool when it is worth
// it. Pieces depend only on the plan, the grain and the thread count.
void broadcast_for_each(const BroadcastPlan& plan, ThreadPool* pool, int64_t grain, BroadcastPieceFn fn);

}  // namespace qe::kernels
