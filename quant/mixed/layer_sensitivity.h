// How much each compute layer suffers from fewer bits, two ways:
//  - HAWQ-V3's Hessian-weighted error Ω_i(b) = Tr(H_i)/n_i · ‖W_i − Q_b(W_i)‖², with Tr(H_i)
//    the trace of the loss Hessian block of layer i's weights (Hutchinson, quant/mixed/hutchinson.h)
//    and Q_b the layer's own weight quantizer (spec and channel axis from the quantization plan)
//    at b bits; plus, because a layer's width also sets the bits of the activation it reads,
//    HAWQ-V2's activation term Tr(H_a) · mse_b(a): the trace of the loss Hessian with respect to
//    that activation (per sample; its Fisher / Gauss-Newton form, quant/mixed/activation_trace.h)
//    times the mean squared error per element of the activation's own quantizer calibrated at b
//    bits. An activation read by several layers is charged once, to the first of them;
//  - a data-driven alternative: the mean KL divergence of the model's softmax output when only
//    layer i's weights are quantized to b bits (one forward pass per layer and width, no labels).
// `qengine mixed` minimises the sum of either under budgets (quant/mixed/bit_allocation.h).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "graph/graph.h"
#include "quant/mixed/backprop.h"
#include "quant/mixed/hutchinson.h"
#include "quant/mixed/layer_costs.h"
#include "quant/quant_plan.h"

namespace qe {

struct LayerSensitivity {
  std::string layer;  // compute node name
  int64_t params = 0;
  double hessian_trace = 0;             // Tr(H_i); 0 until measured
  std::map<int, double> weight_error;   // bits → ‖W − Q_b(W)‖²
  std::map<int, double> omega;          // bits → weight_omega + activation_omega
  std::map<int, double> weight_omega;   // bits → max(Tr(H_i), 0)/n_i · weight_error
  // The activation term: the origin of the activation the layer reads (empty when the layer
  // is not charged for one: no activation quantizer, or an earlier layer reads the same). A
  // layer reading a Concat is charged for each of its origins: `activation` names the first,
  // the other fields are sums over them.
  std::string activation;
  int64_t activation_elements = 0;          // per sample
  double activation_trace = 0;              // Tr(H_a), per sample (Fisher / Gauss-Newton)
  std::map<int, double> activation_error;   // bits → mean squared error per element
  std::map<int, double> activation_omega;   // bits → Σ over origins of trace · error
  std::map<int, double> output_kl;      // bits → mean KL(float ‖ only this layer at b bits)
};

// The planned weight quantizer of `node`, or an error naming the node when it has none (a rule
// skipped it, or its weight is not constant).
Result<const PlannedQuantizer*> weight_quantizer_of(const Graph& g, const QuantPlan& plan, const std::string& node);

// ‖W − Q_b(W)‖² for each b, with `spec`'s settings at b bits.
Result<std::map<int, double>> weight_quant_errors(const Tensor& w, const QuantSpec& spec, int channel_axis,
                                                  const std::vector<int>& bits);

// Layer i's weights replaced by their b-bit fake-quantized values (the float graph otherwise).
Result<Tensor> quantized_weight(const Tensor& w, const QuantSpec& spec, int channel_axis, int bits);

struct SensitivityOptions {
  std::vector<int> bits = {4, 8};
  // HAWQ-V2's activation term in omega (HAWQ-V3's weights-only Ω when false).
  bool activation_term = true;
  HutchinsonOptions hutchinson;
  int num_threads = 0;
  // Output-KL passes: called after each (layer, bit width) with (done, layers x widths).
  std::function<void(int, int)> kl_progress;
};

// One entry per layer, in `layers` order, with weight_error filled; hessian_trace / omega when
// `batches` is not empty (Hutchinson over the labelled batches; the activation term's
// quantizers are calibrated on the same images), output_kl when `kl_inputs` is not empty (each
// entry one batch's graph inputs).
struct SensitivityReport {
  std::vector<LayerSensitivity> layers;
  int hutchinson_iterations = 0;
  bool hutchinson_converged = false;
  double hessian_seconds = 0;
  double kl_seconds = 0;
};
Result<SensitivityReport> measure_layer_sensitivity(const Graph& g, const QuantPlan& plan,
                                                    const std::vector<ComputeLayer>& layers,
                                                    const std::vector<LabelledBatch>& batches,
                                                    const std::vector<std::vector<Tensor>>& kl_inputs,
                                                    const SensitivityOptions& options);

// Spearman's rank correlation of two equally long series (average ranks for ties); NaN when
// fewer than two values or a series is constant.
double spearman_rank_correlation(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace qe
