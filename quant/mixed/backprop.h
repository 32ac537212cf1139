// A differentiable executor for canonical float graphs (quant/prepare.h): the mean softmax
// cross-entropy of graph output 0 against class labels (or a squared error against a target
// tensor, for block-wise reconstruction), its gradient with respect to chosen weights, and exact Hessian-vector products by forward-over-reverse differentiation
// (Pearlmutter's R-operator: a tangent forward pass, then a tangent backward pass). HAWQ-style
// sensitivity (quant/mixed/hutchinson.h) is built on the HVPs.
//
// Activations of one batch are kept between the forward and the backward pass only; float32
// does the heavy work as the engine's packed GEMMs, float64 uses plain loops (tests).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "graph/graph.h"

namespace qe {

enum class BackpropPrecision { kFloat32, kFloat64 };
// kCrossEntropy: gradient() / hessian_vector_product() / gradient_sampled(), with a trailing
// Softmax folded into the loss. kSquaredError: squared_error_gradient() on output 0 as it is.
enum class BackpropLoss { kCrossEntropy, kSquaredError };

struct BackpropOptions {
  int num_threads = 0;  // 0: default_thread_count()
  BackpropPrecision precision = BackpropPrecision::kFloat32;
  BackpropLoss loss = BackpropLoss::kCrossEntropy;
  // Activation values (graph inputs or node outputs, by name) whose gradients gradient()
  // also reports, as squared norms: the activation term of HAWQ-V2's sensitivity.
  std::vector<std::string> activations;
};

struct LossGradient {
  double loss = 0;
  // One per weight, the weight's shape; float32 or float64 as the Backprop's precision.
  std::vector<Tensor> gradients;
  // One per activation of BackpropOptions::activations: Σ (dL/da)² over the batch's elements.
  std::vector<double> activation_squared_norms;
  std::vector<int64_t> labels;  // the labels the loss used (drawn ones for gradient_sampled)
};

// The inputs (one tensor per non-constant graph input, in graph order) and labels of a batch.
struct LabelledBatch {
  std::vector<Tensor> inputs;
  std::vector<int64_t> labels;
};

class Backprop {
 public:
  // `weights`: names of constant float values feeding Conv/Gemm/MatMul as their weight
  // (input 1) to differentiate with respect to. Every node between the graph inputs and the
  // logits must be supported; otherwise one line names the node and its op. A trailing Softmax
  // on output 0 is folded into the loss (its input is taken as the logits).
  static Result<Backprop> create(const Graph& g, std::vector<std::string> weights, const BackpropOptions& o = {});

  Backprop(Backprop&&) noexcept;
  Backprop& operator=(Backprop&&) noexcept;
  ~Backprop();

  const std::vector<std::string>& weights() const;
  const std::vector<std::string>& activations() const;
  const Shape& weight_shape(size_t index) const;
  int num_threads() const;

  // Mean softmax cross-entropy of the logits [N, classes] against `labels` (N values, each in
  // [0, classes)) and its gradient with respect to every weight.
  Result<LossGradient> gradient(const std::vector<Tensor>& inputs, const std::vector<int64_t>& labels);
  // H·direction, H the Hessian of that loss with respect to all weights jointly; one tensor
  // per weight in and out (the weights' shapes; any float dtype in, the precision's dtype out).
  Result<std::vector<Tensor>> hessian_vector_product(const std::vector<Tensor>& inputs,
                                                     const std::vector<int64_t>& labels,
                                                     const std::vector<Tensor>& direction);
  // gradient() with each sample's label drawn from the model's own softmax output (a
  // deterministic generator seeded with `seed`). For the mean loss of a batch of N, the
  // expectation of N · activation_squared_norms[a] over the draws is the trace of the
  // Gauss-Newton matrix Jᵀ (diag(p) − p pᵀ) J of activation a, per sample: the Fisher
  // information, since diag(p) − p pᵀ = E_{y~p}[(e_y − p)(e_y − p)ᵀ]. Where everything after the
  // activation is piecewise linear (Conv, Gemm, ReLU, Clip, MaxPool, Add, ...), it is the trace
  // of the loss Hessian itself.
  Result<LossGradient> gradient_sampled(const std::vector<Tensor>& inputs, uint64_t seed);
  // loss = scale · Σ (output 0 − target)² over every element, and its gradient with respect
  // to every weight (BackpropLoss::kSquaredError; `target` has output 0's shape).
  Result<LossGradient> squared_error_gradient(const std::vector<Tensor>& inputs, const Tensor& target, double scale);
  // Output 0 of the last squared_error_gradient() call (the forward pass it differentiated).
  const Tensor& last_output() const;
  // Replaces the value of weight `index` for later passes (numerical derivatives in tests,
  // what-if evaluation of a quantized weight). A float64 tensor keeps its precision in a
  // float64 Backprop.
  Status set_weight(size_t index, const Tensor& value);

  class Impl;

 private:
  explicit Backprop(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qe
