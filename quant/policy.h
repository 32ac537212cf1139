// Quantizer placement policies: from a canonical float graph (quant/prepare.h) and the
// resolved per-node settings (quant/rules.h) to a QuantPlan.
//
//   layerwise  Brevitas "layerwise": only the weights and activation inputs of compute ops
//              (Conv, ConvTranspose, Gemm, MatMul), each input quantizer applied to that one use.
//   full       Brevitas "fx": activations are quantized once, at their origin (the first value
//              upstream that a transparent op did not merely move), only where something needs
//              them quantized, plus every activation-function output; Add / Sub inputs share a
//              scale, Concat inputs share everything; average pools of quantized values become
//              AveragePool → Trunc.
//   finn       full, keeping BatchNormalization, forcing zero point 0 everywhere and unsigned
//              non-narrow quantizers after Relu (what FINN's streamlining needs).
// Every spec in the plan has its sign resolved (Signedness::kAuto → unsigned on provably
// non-negative values, signed otherwise).
#pragma once

#include <string_view>

#include "engine/core/status.h"
#include "graph/graph.h"
#include "quant/quant_plan.h"
#include "quant/rules.h"

namespace qe {

// `policy` empty: config.policy. Errors: unknown policy, a config not made for this graph,
// settings the policy cannot honour (e.g. minifloat under finn).
Result<QuantPlan> make_quant_plan(const Graph& g, const ResolvedConfig& config, std::string_view policy = {});

}  // namespace qe
