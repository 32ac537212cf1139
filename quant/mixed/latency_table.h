// HAWQ-V3's per-layer latency lookup table, measured on this machine with qengine's own integer
// kernels. For each bit width b the whole model is quantized uniformly (every compute layer's
// weights per-channel at b bits, every activation at b bits, so each layer reads its input at
// its own width as the mixed-precision choice says), lowered to the integer runtime and run
// with a per-node observer; each layer is charged the median over the runs of the time of the
// integer nodes it became. The float graph is timed the same way, its runs interleaved with
// the quantized variants' (a load change in the middle of a measurement once made every 4-bit
// layer look 50% slower than its 8-bit form).
//
// What a layer is charged, in the plan that runs (names from quant/lower_integer.cpp):
//   '<layer>_int'          the QConv / QGemm the layer became (activation clamp included)
//   '<fq>_quantize'        a region entry QuantizeLinear feeding only this layer, and its
//   '<value>_clamp_lut'    clamp onto a grid narrower than the int8 container
//   '<value>_lut'          a QLut requantizing onto this layer's input grid, feeding only it
//                          (a QLut that computes a unary op is not charged to anyone)
//   '<layer>'              the float node, when the layer could not be lowered (flagged)
// Float: the node named '<layer>' with its fused activation. Other nodes (Add, pooling,
// Flatten, region exits) are charged to no layer; totals include them.
//
// Timing facts: time between consecutive observer callbacks is the node that just ran, so the
// first node also carries Session::run's set-up (a map look-up). 4-bit convolution weights are
// stored as int8 for the convolution kernels (engine/ops/qlinear_compute.cpp, weight_source),
// so a 4-bit conv is usually no faster than an 8-bit one; 2 bits run on the same kernels.
// Each layer's median drops the runs in which that layer was preempted, so on a loaded machine
// the layers' medians add up to less than the attributed median (which is per run).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "engine/session.h"
#include "graph/graph.h"
#include "quant/lower_integer.h"

namespace qe {

struct LatencyOptions {
  int num_threads = 2;
  int runs = 20;    // observed runs; each layer gets the median
  int warmup = 3;   // untimed runs first
  int64_t batch = 1;
  // Called after each variant is prepared (float, then each bit width) and once more after
  // their interleaved timing, with (done, total); not part of the cache key.
  std::function<void(int, int)> progress;
};

struct LayerLatency {
  std::string layer;  // compute node name in the canonical float graph
  double float_us = 0;
  std::map<int, double> us_by_bits;
  // Bit widths at which the layer stayed a float node (measured as that, not as integers).
  std::vector<int> float_fallback_bits;
  // The plan nodes charged to the layer per bit width: the attribution, for reports and tests.
  std::map<int, std::vector<std::string>> nodes_by_bits;

  bool operator==(const LayerLatency& o) const;
};

struct LatencyTable {
  std::string machine;  // CPU brand, ISA level, threads
  int64_t batch = 1;
  int num_threads = 0;
  int runs = 0;
  std::vector<LayerLatency> layers;
  // Median whole-run time, measured around each observed run (every node plus run overhead).
  double float_total_us = 0;
  std::map<int, double> total_us_by_bits;
  // Median over runs of the run's time charged to the layers; per run it is a sum of disjoint
  // node intervals inside the run, so it never exceeds the total.
  double float_attributed_us = 0;
  std::map<int, double> attributed_us_by_bits;

  bool operator==(const LatencyTable& o) const;
};

// `layers` are compute node names (Conv, ConvTranspose, Gemm, MatMul) of the canonical float
// graph (quant/prepare.h), unique and non-empty; an empty list means every compute node.
// `bits` each in 2..8 (sorted and de-duplicated). Quantization is calibrated on a few random
// inputs: the latency is real, the accuracy is not.
Result<LatencyTable> measure_layer_latency(const Graph& canonical_float_graph, const std::vector<std::string>& layers,
                                           const std::vector<int>& bits, const LatencyOptions& o);

// What load_or_measure_layer_latency did.
struct LatencyCacheInfo {
  std::string path;   // the cache file for this key
  bool hit = false;   // the table came from the file, nothing was measured
  std::vector<std::string> warnings;  // a corrupt or mismatched cache file, a failed write
};

// The table from `cache_dir`/<key hash>.json when its key matches, else measured and written
// there atomically (temp file + rename). The key: the model's compute layers (name, op, weight
// shape), the graph input shapes, the requested layers, the bit list, batch, threads and the
// machine string. A corrupt file is re-measured with a warning; a failed write is a warning.
Result<LatencyTable> load_or_measure_layer_latency(const Graph& g, const std::vector<std::string>& layers,
                                                   const std::vector<int>& bits, const LatencyOptions& o,
                                                   const std::string& cache_dir, LatencyCacheInfo* info = nullptr);

// $XDG_CACHE_HOME/qengine/latency, else ~/.cache/qengine/latency, else <temp dir>/qengine/latency.
std::string default_latency_cache_dir();

// "<cpu brand> | isa=<level> | <threads> threads".
std::string latency_machine_string(int num_threads);

nlohmann::json latency_table_to_json(const LatencyTable& t);
Result<LatencyTable> latency_table_from_json(const nlohmann::json& j);

// --- the pieces, for tests

// Per-node wall time of observed runs of one session: time between consecutive observer
// callbacks (one per node, however many outputs it has).
struct NodeTimes {
  std::vector<std::string> nodes;       // plan order
  std::vector<std::vector<double>> us;  // [run][node]
  std::vector<double> whole_run_us;     // [run], measured around run_observed
};
Result<NodeTimes> time_session_nodes(Session& s, const std::vector<Tensor>& inputs, int runs, int warmup);
// The same for several sessions, their runs interleaved (run r of every session, in turn,
// before run r + 1 of any): a machine whose load changes during the measurement slows every
// session alike, so the widths' ratios hold even when their absolute times do not.
Result<std::vector<NodeTimes>> time_sessions_interleaved(const std::vector<Session*>& sessions,
                                                         const std::vector<Tensor>& inputs, int runs, int warmup);

// The plan nodes each layer became (see the top of this file), in `layers` order. `plan` is the
// graph as the session runs it (Session::specialized_graph); for an integer plan, `fake_quant`
// is the graph before integer lowering and `lowering` its report (both null: a float plan).
// Errors name a layer found in neither form.
struct LayerNodes {
  std::vector<std::string> nodes;
  bool stayed_float = false;  // an integer plan in which the layer is still its float node
};
Result<std::vector<LayerNodes>> attribute_layer_nodes(const Graph& plan, const std::vector<std::string>& layers,
                                                      const Graph* fake_quant = nullptr,
                                                      const IntegerLoweringReport* lowering = nullptr);

}  // namespace qe
