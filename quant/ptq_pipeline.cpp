#include "quant/ptq_pipeline.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "quant/adaround.h"
#include "quant/block_reconstruction.h"
#include "quant/bias_correction.h"
#include "quant/channel_split.h"
#include "quant/equalize.h"
#include "quant/gpfq.h"
#include "quant/gptq.h"
#include "quant/smoothquant.h"

namespace qe {

namespace {

// Multiply-adds AdaRound may spend on one layer's products (about 2 s of one core's GEMM).
constexpr double kAdaRoundLayerBudget = 1e11;

template <typename... Args>
std::string format(const char* fmt, Args... args) {
  char buf[256];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

}  // namespace

Result<FloatTransformReport> apply_float_transforms(Graph& float_graph, const PtqConfig& config,
                                                    const BatchSourceFactory& batches, int num_threads) {
  const auto start = std::chrono::steady_clock::now();
  FloatTransformReport report;
  if (config.equalize_iterations > 0) {
    EqualizeOptions eo;
    eo.iterations = config.equalize_iterations;
    eo.merge_bias = config.merge_bias;
    QE_ASSIGN_OR_RETURN(EqualizeReport r, equalize_graph(float_graph, eo));
    report.summary.push_back(format("equalization: %d regions, %d layers, %d iterations, %.2f s", r.regions, r.layers,
                                    r.iterations, r.seconds));
    for (const auto& s : r.skipped) report.skipped.push_back("equalization: " + s);
  }
  if (config.split_ratio > 0) {
    ChannelSplitOptions so;
    so.ratio = config.split_ratio;
    so.side = config.split_output_side ? SplitSide::kOutput : SplitSide::kInput;
    QE_ASSIGN_OR_RETURN(ChannelSplitReport r, split_channels(float_graph, so));
    report.summary.push_back(format("channel splitting: %d layers, %lld channels added (%s side), %.2f s", r.layers,
                                    static_cast<long long>(r.channels_added),
                                    config.split_output_side ? "output" : "input", r.seconds));
    for (const auto& s : r.skipped) report.skipped.push_back("channel splitting: " + s);
  }
  if (config.smoothquant_alpha >= 0) {
    SmoothQuantOptions so;
    so.alpha = config.smoothquant_alpha;
    so.num_threads = num_threads;
    QE_ASSIGN_OR_RETURN(BatchSource source, batches());
    QE_ASSIGN_OR_RETURN(SmoothQuantReport r, smooth_activations(float_graph, source, so));
    report.summary.push_back(format("SmoothQuant (alpha %.2f): %d layers, %d folded, %d explicit Mul, %lld images, %.2f s",
                                    config.smoothquant_alpha, r.layers, r.folded, r.explicit_muls,
                                    static_cast<long long>(r.samples), r.seconds));
    for (const auto& s : r.skipped) report.skipped.push_back("SmoothQuant: " + s);
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

Result<RefineReport> refine_quantized_graph(const Graph& float_graph, Graph& quant_graph, const QuantPlan& plan,
                                            const PtqConfig& config, const BatchSourceFactory& rounding_batches,
                                            const BatchSourceFactory& bias_batches, const RefineOptions& options) {
  RefineReport report;
  if (config.rounding != WeightRoundingAlgorithm::kNearest) {
    LayerSequentialOptions lo;
    lo.algorithm = std::string(weight_rounding_name(config.rounding));
    lo.num_threads = options.num_threads;
    lo.progress = options.progress;
    LayerSolver solver;
    switch (config.rounding) {
      case WeightRoundingAlgorithm::kGptq: {
        GptqOptions go;
        go.damp = config.gptq_damp;
        go.block_size = config.gptq_block_size;
        go.act_order = config.gptq_act_order;
        solver = [go](const LayerProblem& p) { return gptq_solve(p, go); };
        break;
      }
      case WeightRoundingAlgorithm::kGpfq: {
        GpfqOptions go;
        go.damp = config.gpfq_damp;
        lo.need_float_inputs = true;
        solver = [go](const LayerProblem& p) { return gpfq_solve(p, go); };
        break;
      }
      case WeightRoundingAlgorithm::kAdaRound: {
        AdaRoundOptions ao;
        ao.iterations = config.adaround_iterations;
        ao.reg_weight = config.adaround_reg_weight;
        lo.need_float_inputs = true;
        ao.max_multiply_adds = kAdaRoundLayerBudget;
        solver = [ao](const LayerProblem& p) { return adaround_solve(p, ao); };
        break;
      }
      case WeightRoundingAlgorithm::kNearest: break;
    }
    QE_ASSIGN_OR_RETURN(report.rounding,
                        round_layers_sequentially(float_graph, quant_graph, plan, rounding_batches, solver, lo));
    if (config.rounding == WeightRoundingAlgorithm::kAdaRound && config.adaround_blocks) {
      // Block-wise AdaRound refines layer-wise AdaRound's rounding (block_reconstruction.h says
      // why it does not start from the float weights).
      BlockReconstructionOptions bo;
      bo.iterations = config.adaround_block_iterations;
      bo.reg_weight = config.adaround_reg_weight;
      bo.num_threads = options.num_threads;
      bo.progress = options.block_progress;
      QE_ASSIGN_OR_RETURN(LayerSequentialReport blocks,
                          reconstruct_blocks(float_graph, quant_graph, plan, rounding_batches, bo));
      blocks.seconds += report.rounding.seconds;
      blocks.passes += report.rounding.passes;
      blocks.peak_stats_bytes = std::max(blocks.peak_stats_bytes, report.rounding.peak_stats_bytes);
      report.rounding = std::move(blocks);
    }
    report.rounded = true;
  }
  if (config.bias_correction) {
    BiasCorrectionOptions bo;
    bo.num_threads = options.num_threads;
    QE_ASSIGN_OR_RETURN(BatchSource source, bias_batches());
    QE_ASSIGN_OR_RETURN(BiasCorrectionReport bc, correct_biases(float_graph, quant_graph, plan, source,
                                                                options.bias_correction_max_batches, bo));
    report.bias_corrected_nodes = bc.corrected_nodes;
    report.bias_correction_samples = bc.samples;
    report.bias_correction_seconds = bc.seconds;
  }
  return report;
}

}  // namespace qe
