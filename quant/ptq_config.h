// Which post-training algorithms run, and with what settings: the rule file's "algorithms"
// object and the calibrate flags (--equalize, --smoothquant, ...) both fill this. Brevitas'
// order applies whatever is switched on: graph equalization → channel splitting → activation
// equalization (SmoothQuant) → quantizers → calibration → GPTQ / GPFQ / AdaRound → bias
// correction.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace qe {

enum class WeightRoundingAlgorithm { kNearest, kGptq, kGpfq, kAdaRound };
std::string_view weight_rounding_name(WeightRoundingAlgorithm a);  // "nearest", "gptq", "gpfq", "adaround"

struct PtqConfig {
  // Cross-layer (graph) equalization: iterations, 0 = off. On by default with 20 iterations and
  // merge_bias, as Brevitas' PTQ flow runs it (preprocess_for_quantize, --graph-eq-iterations 20).
  int equalize_iterations = 20;
  bool merge_bias = true;
  // Channel splitting: fraction of each region's channels duplicated, 0 = off.
  double split_ratio = 0;
  bool split_output_side = false;  // false: split on the input side (sinks' input channels)
  // SmoothQuant migration strength, < 0 = off.
  double smoothquant_alpha = -1;
  bool bias_correction = true;
  WeightRoundingAlgorithm rounding = WeightRoundingAlgorithm::kNearest;
  // GPTQ
  bool gptq_act_order = false;
  double gptq_damp = 0.01;
  int64_t gptq_block_size = 128;
  // GPFQ
  double gpfq_damp = 0.01;
  // AdaRound
  int adaround_iterations = 1000;
  double adaround_reg_weight = 0.01;
  // Block-wise (BRECQ, quant/block_reconstruction.h): the layers of a residual block learn their
  // rounding together, against the float block's output, by minibatch Adam over cached inputs.
  bool adaround_blocks = false;
  int adaround_block_iterations = 300;  // Adam steps per block (minibatches of 32 images)

  bool any_float_transform() const { return equalize_iterations > 0 || split_ratio > 0 || smoothquant_alpha >= 0; }
};

}  // namespace qe
