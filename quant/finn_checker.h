// Checks a quantized graph (FakeQuant / Trunc nodes, graph/quant_params.h) against what FINN's
// QONNX ingestion needs, and says which node breaks which rule:
//
//   weight-quant      a Conv / ConvTranspose / Gemm / MatMul weight does not go through a FakeQuant
//   weight-zero-point a weight quantizer has a nonzero zero point
//   weight-scale      a weight scale is neither per tensor nor per output channel
//   act-quant         an activation input of a compute op is not quantized (FakeQuant or Trunc,
//                     possibly through transparent ops such as Reshape or MaxPool)
//   add-scales        the inputs of an Add are not quantized with one scale
//   concat-scales     the inputs of a Concat are not quantized with one scale
//   relu-quant        a Relu output is used but not quantized
//   relu-unsigned     a quantizer after Relu is signed or narrow
//   act-bits          an activation quantizer has more than 8 bits
//   act-zero-point    an activation quantizer has a nonzero zero point
//   quant-kind        a quantizer is minifloat (FINN handles integer and bipolar)
//   trunc-rounding    a Trunc does not round with FLOOR
//   trunc-pool        the average pool before a Trunc has a non-square window or padding
//   quant-params      a FakeQuant's parameters cannot be read
// BatchNormalization left in the graph is fine (FINN streamlines it).
#pragma once

#include <string>
#include <vector>

#include "graph/graph.h"

namespace qe {

struct FinnViolation {
  std::string node;     // the node breaking the rule
  std::string rule;     // short id, as listed above
  std::string message;  // one line
};

std::vector<FinnViolation> check_finn(const Graph& quantized);

// One line per violation, "node 'x': [rule] message"; "FINN check: OK" when empty.
std::string format_finn_violations(const std::vector<FinnViolation>& violations);

}  // namespace qe
