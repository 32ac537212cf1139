// Second-order statistics of one weight layer's inputs, accumulated batch by batch, for the
// layer-sequential algorithms (GPTQ, GPFQ, AdaRound; see quant/layer_problem.h). A Conv is
// seen through its im2col view: every output position contributes one input column per group
// (input channels of the group × kernel taps, in the weight's own order); a Gemm / MatMul
// contributes one column per row of its input. Only the k × k sums are kept, never the
// activations, so memory is bounded by the layer's width, not by the calibration set.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "engine/core/thread_pool.h"
#include "graph/graph.h"

namespace qe {

// A weight layer as `groups` matrices W_g [rows × k].
struct LayerGemmForm {
  NodeId node = kNoNode;
  OpKind op = OpKind::kCount;
  int64_t groups = 1, rows = 0, k = 0;
  // Flat index into the weight tensor of (group, row, column), group-major: the same layout
  // as LayerProblem::w of each group, one after another.
  std::vector<int64_t> weight_index;
  // Conv only.
  int64_t in_channels = 0;
  std::vector<int64_t> kernel, strides, dilations, pads_begin, pads_end;
};

// The form of `node` in `g` (its weight is input 1 and constant). An error says why the layer
// cannot be treated (not 2-D, transA, a weight of unsupported rank, ...): callers skip it.
Result<LayerGemmForm> layer_gemm_form(const Graph& g, NodeId node);

class LayerInputStats {
 public:
  // `cross`: also accumulate g = Σ x̃ xᵀ from a float input paired with the quantized one.
  LayerInputStats(const LayerGemmForm& form, bool cross);

  // One batch of the layer's input as the quantized graph computes it, and (cross) as the
  // float graph does; same shape.
  Status add(const Tensor& quant_input, const Tensor* float_input, ThreadPool& pool);

  // The sums so far (pending float partial sums are folded in first).
  const std::vector<double>& h(int64_t group);
  const std::vector<double>& g(int64_t group);
  std::vector<double> take_h(int64_t group) { return std::vector<double>(std::move(h_ref(group))); }
  std::vector<double> take_g(int64_t group) { return std::vector<double>(std::move(g_ref(group))); }
  bool cross() const { return cross_; }
  int64_t samples() const { return samples_; }  // columns per group
  int64_t bytes() const;                        // held by the sums

 private:
  // Float partial sums (column-major k × k; the Gram matrix in its lower triangle), folded
  // into the double sums every kFlushColumns columns so that precision does not depend on the
  // size of the calibration set.
  struct Partial {
    std::vector<float> h, g;
    int64_t pending = 0;
  };
  std::vector<double>& h_ref(int64_t group);
  std::vector<double>& g_ref(int64_t group);
  void accumulate(Partial& part, int64_t group, const float* a, const float* b, int64_t n);
  void flush(Partial& part, int64_t group);
  void flush_all();
  Status add_conv(const Tensor& xq, const Tensor* xf, ThreadPool& pool);
  Status add_rows(const Tensor& xq, const Tensor* xf, ThreadPool& pool);

  LayerGemmForm form_;
  bool cross_ = false;
  std::vector<std::vector<double>> h_, g_;  // per group, k × k row-major
  std::vector<std::vector<Partial>> partial_;  // per group, per concurrent part
  std::mutex flush_mutex_;  // parts of one group flush into the same sums
  int64_t samples_ = 0;
};

}  // namespace qe
