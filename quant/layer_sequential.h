// The layer-sequential weight rounding driver shared by GPTQ, GPFQ and AdaRound. Layers are
// taken in topological order; for each, the calibration data is streamed through the
// quantized graph as it stands (the layers before it already rounded by the algorithm, the
// activation quantizers active), so a layer's statistics are those of the inputs it will
// really get. Only the prefix of the graph that computes the layer's input is run, and layers
// that read the same value (ResNet's downsample and first conv, attention's Q/K/V) share one
// pass. The solver's weights, on the quantizer's grid, replace the float weight under the
// layer's FakeQuant, so simulation, export and the integer kernels all use them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/session.h"
#include "graph/graph.h"
#include "quant/calibrator.h"
#include "graph/quant_params.h"
#include "quant/layer_problem.h"
#include "quant/layer_stats.h"
#include "quant/quant_plan.h"

namespace qe {

using LayerSolver = std::function<Result<std::vector<float>>(const LayerProblem&)>;
// A fresh pass over the calibration data (each layer streams it once).
using BatchSourceFactory = std::function<Result<BatchSource>()>;

struct LayerSequentialOptions {
  std::string algorithm = "gptq";  // for messages and the report
  bool need_float_inputs = false;  // the solver reads LayerProblem::g
  int num_threads = 0;
  // Called after each layer: (layers done, layers in total).
  std::function<void(int, int)> progress;
};

struct LayerRoundingRecord {
  std::string node;
  int64_t groups = 0, rows = 0, k = 0;
  // The layer's output error in excess of keeping its float weights, on the inputs the
  // quantized graph gives it (‖W̃X̃ − WX‖² − ‖WX̃ − WX‖², summed over groups; with the float
  // inputs unknown, X = X̃), for round-to-nearest and for the solver's weights: the per-layer
  // evidence that the algorithm helped. Negative when the weights compensate input error.
  double error_nearest = 0, error_solved = 0;
  double seconds = 0;
};

struct LayerSequentialReport {
  std::vector<LayerRoundingRecord> layers;
  std::vector<std::string> skipped;  // "<node>: <why>"
  int64_t samples = 0;               // input columns of the last layer, for reference
  int64_t passes = 0;                // passes over the calibration data
  int64_t peak_stats_bytes = 0;      // the largest set of per-layer sums held at once
  double seconds = 0;
};

// One layer whose weights a rounding algorithm chooses.
struct RoundingTarget {
  NodeId node = kNoNode;
  ValueId weight = kNoValue;  // the float constant under the weight FakeQuant (in both graphs)
  QuantParams params;
  LayerGemmForm form;
  std::string quant_input, float_input;  // value names
};

// Every Conv / Gemm / MatMul with an enabled integer weight quantizer, in topological order;
// the layers that cannot be rounded (other quantizer kinds, shared or computed weights,
// unsupported layouts) are listed in `skipped` as "<node>: <why>".
Result<std::vector<RoundingTarget>> find_rounding_targets(const Graph& float_graph, const Graph& quant_graph,
                                                          const QuantPlan& plan, std::vector<std::string>& skipped);

// `t` (numpy-broadcastable to `shape`) expanded to one value per element of `shape`, through the
// engine's own broadcasting plan.
Result<std::vector<float>> broadcast_to(const Tensor& t, const Shape& shape);

// A session computing only `value` of `g` (dead code elimination drops everything else), or
// nullptr when `value` is a graph input (the batch itself).
Result<std::unique_ptr<Session>> prefix_session(const Graph& g, const std::string& value, int threads);
// `value` for one batch: the prefix session's output, or the batch's input of that name.
Result<Tensor> prefix_value(Session* session, const Graph& g, const std::string& value, const std::vector<Tensor>& batch);

// Rounds the weights of every Conv / Gemm / MatMul with an enabled integer weight quantizer in
// `quant_graph` (= materialize_plan(float_graph, plan, ...)). Weights under other quantizer
// kinds (minifloat, bipolar), shared weights and unsupported layouts are left as they are and
// listed in `skipped`.
Result<LayerSequentialReport> round_layers_sequentially(const Graph& float_graph, Graph& quant_graph,
                                                        const QuantPlan& plan, const BatchSourceFactory& batches,
                                                        const LayerSolver& solver,
                                                        const LayerSequentialOptions& options = {});

}  // namespace qe
