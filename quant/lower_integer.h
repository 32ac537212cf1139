// Integer lowering: a fake-quant graph (FakeQuant / Trunc nodes around float ops, as calibrate
// writes it or as a QONNX / QCDQ file imports) becomes a graph whose quantized regions run on
// integer kernels.
//
//   FakeQuant(x)                                   → QuantizeLinear (region entry; with an odd
//                                                    zero point it reads the kept FakeQuant)
//   Conv|Gemm|MatMul [→ Relu|Clip] → FakeQuant      → QConv / QGemm, requantized to the
//                                                    FakeQuant's grid, the activation as a clamp
//   Conv|Gemm|MatMul with a float consumer          → QConv / QGemm with a dequantized output
//   Add|Mul of two quantized values [→ Relu] → FQ   → QAdd / QMul
//   unary op of a quantized value → FakeQuant       → QLut (the 256 outcomes, evaluated by the
//                                                    float engine itself)
//   GlobalAveragePool → Trunc | FakeQuant           → QAvgPool (window sum, then a shift)
//   MaxPool, Flatten, Reshape, Concat, ...          → the same op on the integer tensor
//   a quantized value read by a float op            → DequantizeLinear (region exit)
// Everything else stays in float; the report says which compute nodes and why. The integer ops
// reproduce the simulation bit for bit: the simulation sums the same compute nodes exactly
// (engine/exact_simulation.h) and the kernels replay its float steps (kernels/int8/requantize.h).
#pragma once

#include <string>
#include <vector>

#include "graph/graph.h"
#include "kernels/int8/requantize.h"

namespace qe {

struct IntegerLoweringOptions {
  kernels::RequantMode requant = kernels::RequantMode::kFloat;
};

struct IntegerLoweringReport {
  int lowered_nodes = 0;   // float ops now inside integer ops
  int integer_nodes = 0;   // integer ops created (QConv, QGemm, ...)
  int entries = 0;         // QuantizeLinear region entries
  int exits = 0;           // DequantizeLinear region exits
  struct FloatNode {
    std::string node;    // "Conv 'name'"
    std::string reason;  // why it stays in float
  };
  std::vector<FloatNode> float_nodes;  // compute / quantizer nodes left in float
  // Every quantized value of the fake-quant graph and the integer value that now holds it
  // (value = (q - zero_point) * scale), for tests and debugging.
  struct IntegerValue {
    std::string float_name;
    std::string int_name;
    float scale = 1.f;
    int32_t zero_point = 0;
  };
  std::vector<IntegerValue> values;
};

// Whether the graph holds quantizer nodes (so integer execution means something).
bool has_quantizers(const Graph& g);

// Lowers `g` in place. Shapes are inferred afterwards; quantizers that cannot run in integers
// (minifloat, more than 8 bits, per-group, rounding other than half-even) stay as FakeQuant.
Result<IntegerLoweringReport> lower_to_integer(Graph& g, const IntegerLoweringOptions& options = {});

// One line per float node of the report, for `qengine info --explain`.
std::string format_lowering_report(const IntegerLoweringReport& r);

}  // namespace qe
