// Where quantizers go, before any data has been seen. A policy (layerwise / full / finn) reads a
// float graph and the per-node settings and produces a QuantPlan; the calibrator observes the
// planned values on calibration data and computes QuantParams; materialize_plan() then inserts
// FakeQuant and Trunc nodes. The plan refers to values of the graph it was made for (the
// canonical float graph of prepare_float_graph()).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "quant/quant_spec.h"

namespace qe {

enum class QuantRole { kWeight, kBias, kInput, kOutput };
std::string_view quant_role_name(QuantRole r);  // "weight", "bias", "input", "output"
inline bool is_activation(QuantRole r) { return r == QuantRole::kInput || r == QuantRole::kOutput; }

struct PlannedQuantizer {
  int id = -1;  // index in QuantPlan::quantizers
  QuantRole role = QuantRole::kOutput;
  ValueId value = kNoValue;  // the float value quantized
  NodeId owner = kNoNode;    // node whose settings apply: the consumer (weight, bias, input) or producer (output)
  QuantSpec spec;            // sign resolved: never Signedness::kAuto
  int channel_axis = -1;     // weights: output-channel axis (Conv 0, ConvTranspose 1, Gemm 0 or 1, MatMul last)
  // Only these uses are rewired to the quantized value; empty = every use (and a graph output).
  // layerwise places input quantizers per consumer; full / finn quantize once at the producer.
  std::vector<Use> consumers;
  // Quantizers with the same share_group (>= 0) get one scale: the union of their ranges (Add
  // inputs). With share_all they also share zero point, sign and bits (Concat inputs).
  int share_group = -1;
  bool share_all = false;
  // Bias only: scale = scale(bias_input) × scale(bias_weight), zero point 0, bits from BiasSpec.
  int bias_input = -1;
  int bias_weight = -1;
};

// Quantized average pooling (full / finn): AveragePool or GlobalAveragePool of a quantized
// input with k×k window becomes AveragePool → Trunc, where the Trunc sees the pooled value on
// the grid scale_in / k² (the integer sum), keeps `out_bits` (= the input quantizer's bits),
// drops shift = ceil(log2(k²)) bits with FLOOR rounding and so outputs scale
// scale_in · 2^shift / k². The output needs no further quantizer.
struct PlannedTrunc {
  NodeId pool = kNoNode;  // the AveragePool / GlobalAveragePool node
  int input_quantizer = -1;
  int64_t window = 1;      // k² (number of elements summed)
  // How the dropped bits are rounded: FINN needs FLOOR; Brevitas' TruncAvgPool2d defaults to
  // round half to even (RoundTo8bit), which the full policy uses.
  RoundingMode rounding = RoundingMode::kFloor;
};

struct QuantPlan {
  std::string policy;  // "layerwise", "full" or "finn"
  std::vector<PlannedQuantizer> quantizers;
  std::vector<PlannedTrunc> truncs;
  bool keep_batch_norm = false;  // finn: BatchNormalization stays in the graph
  std::vector<std::string> notes;  // what the policy forced or decided (printed by --explain-config)
};

}  // namespace qe
