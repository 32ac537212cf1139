// Trunc → standard ONNX ops, for formats without a Trunc (QCDQ).
// Pattern: Trunc(X, s, 0, in_bits, s_out, out_bits)  →
//   Mul(R(Clip(Round(X / s) / t, min, max)), s_out) with t = 2^round(log2(s_out / s)), where R is
// Floor, Ceil or Round for Trunc's rounding mode FLOOR, CEIL or ROUND (half to even, like the
// first Round). Dividing by the power of two t is exact in float. With at most 8 output bits the
// Mul is followed by a FakeQuant onto the output grid (written as Q → DQ), which changes no value
// but marks the result as quantized for whoever reads the file.
#pragma once

#include "graph/graph.h"

namespace qe {

// Every Trunc must have zero point 0 and FLOOR, CEIL or ROUND rounding (an error names the node
// otherwise). A graph without Trunc nodes comes back unchanged.
Result<Graph> lower_trunc_to_standard_ops(const Graph& g);

}  // namespace qe
