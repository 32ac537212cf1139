// Plan + calibration → a quantized graph: FakeQuant nodes on weights, biases and activations,
// Trunc nodes after quantized average pools. The result is still a float graph (fake
// quantization), runs in a Session and is what the exporters write.
#pragma once

#include <string>
#include <vector>

#include "graph/graph.h"
#include "quant/calibrator.h"
#include "quant/quant_plan.h"

namespace qe {

// Node names of the inserted quantizers, deterministic for a graph and plan and unique in the
// result: "<owner>/<role>_quant" ("conv1/weight_quant", "relu1/output_quant",
// "add1/input1_quant" for the second input of add1), "<pool>/trunc" for a Trunc and
// "<pool>/output_quant" for a fallback Trunc. Reports use them to find a quantizer's node.
struct QuantNodeNames {
  std::vector<std::string> quantizers;  // by plan id ("" for disabled quantizers)
  std::vector<std::string> truncs;      // by plan trunc index
};
QuantNodeNames quant_node_names(const Graph& float_graph, const QuantPlan& plan);

// Activation quantizers rewire plan.consumers, or every use when that list is empty; a graph
// output keeps its name (the FakeQuant takes over the name, the float value is renamed
// "<name>_float"). Shapes are inferred and the graph verified before it is returned.
Result<Graph> materialize_plan(const Graph& float_graph, const QuantPlan& plan, const CalibrationResult& calibration);

}  // namespace qe
