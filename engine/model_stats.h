// Size and work of a graph: parameter count and bytes, multiply-accumulates per node.
#pragma once

#include <map>
#include <string>

#include "graph/graph.h"

namespace qe {

struct ModelStats {
  int64_t params = 0;        // elements of float/int constant inputs of compute nodes and all initializers
  int64_t param_bytes = 0;   // storage bytes of all constants
  int64_t macs = 0;          // multiply-accumulates of Conv/ConvTranspose/Gemm/MatMul
  std::map<std::string, int> op_histogram;
};

// MACs need concrete shapes: pass a specialised graph (Session::specialized_graph).
ModelStats compute_model_stats(const Graph& g);
int64_t node_macs(const Graph& g, NodeId id);

}  // namespace qe
