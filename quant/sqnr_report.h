// Quantization error per layer: how far the quantized graph drifts from the float graph on
// calibration data, streamed over batches (Σx² and Σ(x−q)² per value; memory does not grow
// with the number of batches). SQNR = 10·log10(Σx² / Σ(x−q)²) in dB; +inf when identical.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "quant/calibrator.h"
#include "quant/quant_plan.h"

namespace qe {

constexpr double kNoSqnr = std::numeric_limits<double>::quiet_NaN();

struct LayerSqnr {
  std::string node;  // name in the float graph
  std::string op;
  std::string output;             // the node's first output value
  double weight_sqnr_db = kNoSqnr;  // float weight vs fake-quantized weight (nodes with a weight quantizer)
  double output_sqnr_db = kNoSqnr;  // the output value in the quantized graph vs the float graph
};

struct QuantizerSqnr {
  int quantizer = -1;
  // The quantizer's own noise: weights and biases: the constant vs its fake-quantized copy;
  // activations: the FakeQuant's input vs its output in the quantized graph (clipping and
  // rounding of this quantizer alone).
  double sqnr_db = kNoSqnr;
};

struct OutputSqnr {
  std::string name;
  double sqnr_db = kNoSqnr;
};

struct SqnrReport {
  std::vector<LayerSqnr> layers;          // compute nodes and quantizer owners, in topological order
  std::vector<QuantizerSqnr> quantizers;  // by plan id
  std::vector<OutputSqnr> outputs;        // per graph output
  double output_sqnr_db = kNoSqnr;        // all graph outputs together
  int64_t samples = 0;
  int64_t batches = 0;
};

struct SqnrOptions {
  int num_threads = 0;
};

// `quant_graph` is materialize_plan(float_graph, plan, ...). Runs both graphs on the same
// batches (at most `max_batches`; <= 0: until the source ends).
Result<SqnrReport> measure_sqnr(const Graph& float_graph, const Graph& quant_graph, const QuantPlan& plan,
                                const BatchSource& source, int max_batches, const SqnrOptions& options = {});

// 10·log10(signal / noise) with the conventions above (+inf for zero noise, NaN for no data).
double sqnr_from_sums(double signal, double noise);

}  // namespace qe
