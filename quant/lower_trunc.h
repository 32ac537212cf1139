// Trunc → standard ONNX ops, for formats without a Trunc (QCDQ).
// Pattern: Trunc(X, s, 0, in_bits, s_out, out_bits)  →
//   Mul(Floor(Clip(Floor(Floor(X / s + 0.5) / t), min, max)), s_out) with t = 2^round(log2(s_out / s)).
// X / s is the integer sum the pooled value stands for, so Floor(· + 0.5) rounds it exactly;
// dividing by the power of two t is exact in float; the outer Floor is Trunc's FLOOR rounding.
#pragma once

#include "graph/graph.h"

namespace qe {

// Every Trunc must have zero point 0 and FLOOR or CEIL rounding (an error names the node
// otherwise). A graph without Trunc nodes comes back unchanged.
Result<Graph> lower_trunc_to_standard_ops(const Graph& g);

}  // namespace qe
