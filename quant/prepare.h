// The canonical float graph: the one graph that planning, calibration, materialisation and
// export all refer to. It is the engine's load-time form minus activation fusion (a fused
// Relu would hide the value an output quantizer sits on), with BatchNormalization optionally
// kept (FINN keeps it). Value names of surviving values do not change, so a plan and its
// observers can address values by name in any session built from this graph.
#pragma once

#include <map>
#include <string>

#include "engine/core/shape.h"
#include "engine/core/status.h"
#include "graph/graph.h"

namespace qe {

struct PrepareOptions {
  bool keep_batch_norm = false;
  // Input name → shape, as the CLI's --input-shape: rank must match a declared shape.
  std::map<std::string, Shape> input_shapes;
  int num_threads = 1;  // for constant folding
};

Result<Graph> prepare_float_graph(Graph g, const PrepareOptions& options = {});

}  // namespace qe
