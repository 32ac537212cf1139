// ReduceSum / ReduceMean / ReduceMax over any set of axes, and the float fast path for the
// common contiguous case. Dims of 1 are dropped and adjacent dims of the same kind merged, so
// the reduced axes usually form one block: the input is then [outer, R, inner].
#pragma once

#include <cstdint>
#include <vector>

#include "engine/core/cpu_features.h"
#include "engine/core/shape.h"

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

enum class ReduceOp : uint8_t { kSum, kMean, kMax };

constexpr size_t kMaxReducedDims = 16;  // reduced groups after merging; bindings check

struct ReducePlan {
  // Collapsed dims, outermost first, each kept or reduced, with input element strides.
  std::vector<int64_t> kept_dims, kept_strides;
  std::vector<int64_t> reduced_dims, reduced_strides;
  int64_t out_numel = 1;
  int64_t count = 1;  // reduced elements per output (0 for an empty reduction)
  // Set when the reduced dims form one block: input = [outer, R, inner].
  bool contiguous = false;
  int64_t outer = 1, reduce = 1, inner = 1;
};

// `reduced[i]` marks axis i of x.
ReducePlan plan_reduce(const Shape& x, const std::vector<bool>& reduced);

// Reference for any numeric T: sums in double (floats) or 64-bit integers, Mean divides by
// the count (truncating for integers). An empty reduction gives 0 (Sum), NaN or 0 (Mean),
// -inf or the lowest value (Max). Max lets NaN win.
template <typename T>
void reduce_ref(ThreadPool* pool, const ReducePlan& plan, ReduceOp op, const T* x, T* y);

// Float vector microkernels (reduce_impl.h, per ISA):
//   row:  y = sum or max of x[0, n)               (Mean is a sum the caller divides)
//   cols: y[i] = sum or max over r < R of x[r * stride + i], for i < n
struct ReduceF32Ukernels {
  float (*row)(ReduceOp op, const float* x, int64_t n);
  void (*cols)(ReduceOp op, const float* x, int64_t R, int64_t stride, float* y, int64_t n);
};
const ReduceF32Ukernels* reduce_f32_ukernels(IsaLevel level);  // exact level; nullptr if none
extern const ReduceF32Ukernels reduce_f32_avx2;
extern const ReduceF32Ukernels reduce_f32_avx512;

// Contiguous plans only (plan.contiguous and plan.count > 0).
void reduce_f32_run(ThreadPool* pool, const ReduceF32Ukernels& uk, const ReducePlan& plan, ReduceOp op,
                    const float* x, float* y);

}  // namespace qe::kernels
