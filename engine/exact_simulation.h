// Exact simulation: in a fake-quant graph, a Conv / Gemm / MatMul whose input and weights are
// quantized is computed the way the integer runtime computes it: its input's integer codes times
// the integer weights, summed exactly in int32 (QConv / QGemm with a dequantized fp32 output),
// instead of a float sum of dequantized products. The float sum's rounding depends on the
// summation order; a one-step difference at the next quantizer then spreads through every later
// layer, so a float-accumulating simulation and the integer kernels drift apart end to end.
// With this rewrite the simulation's arithmetic is the integer runtime's, operation for
// operation, and the two agree bit for bit (docs/accuracy.md, "Integer execution").
// A GlobalAveragePool that a quantizer reads directly (DQ → GlobalAveragePool → Q, as other
// tools write it) is rewritten the same way: the integer window sum times fp32(x_scale / window)
// (QAvgPool with an fp32 output), which the quantizer then divides by its scale.
//
// The same predicates decide both (engine/integer_regions.h): a node is rewritten here exactly
// when quant/lower_integer.cpp makes it an integer node. Session::create applies the rewrite to
// its own copy of the graph unless SessionOptions::exact_quantized_compute is off; the graph a
// caller holds (and exports) keeps its Quant → Conv → Quant form.
#pragma once

#include "engine/core/status.h"
#include "graph/graph.h"

namespace qe {

// Rewrites every eligible compute node and pool in place; returns how many. Shapes must be
// inferred.
Result<int> make_quantized_compute_exact(Graph& g);

}  // namespace qe
