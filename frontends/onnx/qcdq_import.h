// QCDQ import: standard-ONNX quantization chains become FakeQuant nodes, so a QCDQ file and
// the QONNX file of the same model import to the same IR.
//
//   QuantizeLinear(x, s, z) → [Clip(lo, hi)] → DequantizeLinear(·, s, z)   ⇒  FakeQuant(x, s, z)
//   integer constant q → [Clip(lo, hi)] → DequantizeLinear(·, s, z)        ⇒  FakeQuant(float((q - z)·s), s, z)
//
// bits / signed / narrow come from the integer grid [lo, hi] (the container's range narrowed by
// the Clip): int8 + Clip(-7, 7) is 4-bit narrow signed, uint8 + Clip(0, 15) 4-bit unsigned.
// Per-axis scales (1-D + axis) are reshaped to broadcast along that axis. The dequantized
// constant is exact (what DequantizeLinear computes), and the FakeQuant after it is idempotent
// on it, so the quantizer stays visible without changing the values.
//
// Chains that do not fit (parameters of Q and DQ differ, a Clip grid no quantizer has, blocked
// quantization, non-float32 scales, per-axis activations of unknown rank) keep their
// QuantizeLinear / DequantizeLinear nodes.
//
// Numerics: QuantizeLinear rounds x/s and then adds z; FakeQuant rounds x/s + z. The two agree
// except on exact ties (x/s = k + 0.5) with an odd zero point, where round-half-even picks
// neighbours one apart.
#pragma once

#include "engine/core/status.h"
#include "graph/graph.h"

namespace qe {

Status fuse_qcdq_chains(Graph& g);

}  // namespace qe
