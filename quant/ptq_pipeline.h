// The post-training algorithms of a PtqConfig, in Brevitas' order, around the quantizer steps:
//   apply_float_transforms: graph equalization → channel splitting → SmoothQuant, on the
//     canonical float graph before rules are resolved (the float function is unchanged);
//   refine_quantized_graph: GPTQ / GPFQ / AdaRound, then bias correction, on the materialised
//     graph.
#pragma once

#include <string>
#include <vector>

#include "graph/graph.h"
#include "quant/layer_sequential.h"
#include "quant/ptq_config.h"
#include "quant/quant_plan.h"

namespace qe {

struct FloatTransformReport {
  // One line per pass that ran ("equalization: 12 regions, 30 layers, 20 iterations, 0.1 s").
  std::vector<std::string> summary;
  std::vector<std::string> skipped;  // regions / layers a pass left alone, with the reason
  double seconds = 0;
};

Result<FloatTransformReport> apply_float_transforms(Graph& float_graph, const PtqConfig& config,
                                                    const BatchSourceFactory& batches, int num_threads);

struct RefineOptions {
  int num_threads = 0;
  int bias_correction_max_batches = -1;
  std::function<void(int, int)> progress;  // layer-sequential rounding: (done, total)
  std::function<void(int, int)> block_progress;  // block-wise AdaRound after it: (blocks done, total)
};

struct RefineReport {
  bool rounded = false;
  LayerSequentialReport rounding;
  int bias_corrected_nodes = 0;
  int64_t bias_correction_samples = 0;
  double bias_correction_seconds = 0;
};

// `rounding_batches` feeds GPTQ / GPFQ / AdaRound (one pass per layer), `bias_batches` the
// bias correction (one pass).
Result<RefineReport> refine_quantized_graph(const Graph& float_graph, Graph& quant_graph, const QuantPlan& plan,
                                            const PtqConfig& config, const BatchSourceFactory& rounding_batches,
                                            const BatchSourceFactory& bias_batches, const RefineOptions& options = {});

}  // namespace qe
