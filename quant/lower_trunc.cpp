#include "quant/lower_trunc.h"

#include <cmath>

#include "graph/quant_params.h"

namespace qe {

namespace {

Result<float> scalar_input(const Graph& g, const Node& n, int i, const std::string& where, const char* what) {
  if (static_cast<int>(n.inputs.size()) <= i || n.inputs[static_cast<size_t>(i)] == kNoValue) {
    return invalid_argument(where, ": missing ", what);
  }
  const Value& v = g.value(n.inputs[static_cast<size_t>(i)]);
  if (!v.is_constant() || v.constant.numel() != 1) return invalid_argument(where, ": ", what, " must be a constant scalar");
  return v.constant.to_float_vector()[0];
}

}  // namespace

Result<Graph> lower_trunc_to_standard_ops(const Graph& src) {
  Graph g = src;
  for (NodeId id = 0; id < static_cast<NodeId>(g.num_nodes()); ++id) {
    if (!g.node(id).alive || g.node(id).op != OpKind::kTrunc) continue;
    const Node n = g.node(id);
    const std::string where = describe_node(g, id);
    QE_ASSIGN_OR_RETURN(float scale, scalar_input(g, n, 1, where, "scale"));
    QE_ASSIGN_OR_RETURN(float zero, scalar_input(g, n, 2, where, "zero point"));
    QE_ASSIGN_OR_RETURN(float out_bits, scalar_input(g, n, 5, where, "output bit width"));
    QE_ASSIGN_OR_RETURN(float out_scale, scalar_input(g, n, 4, where, "output scale"));
    QE_ASSIGN_OR_RETURN(int64_t version, n.attrs.get_int("version", 2));
    QE_ASSIGN_OR_RETURN(std::string rounding_text, n.attrs.get_string("rounding_mode", "FLOOR"));
    QE_ASSIGN_OR_RETURN(RoundingMode rounding, parse_rounding_mode(rounding_text));
    QE_ASSIGN_OR_RETURN(int64_t is_signed, n.attrs.get_int("signed", 1));
    QE_ASSIGN_OR_RETURN(int64_t narrow, n.attrs.get_int("narrow", 0));
    if (version != 2) return unsupported(where, ": only Trunc v2 can be lowered to standard ops");
    if (zero != 0.0f) return unsupported(where, ": a Trunc with a non-zero zero point has no QCDQ form");
    if (rounding != RoundingMode::kFloor && rounding != RoundingMode::kCeil && rounding != RoundingMode::kHalfEven) {
      return unsupported(where, ": Trunc rounding ", rounding_text, " has no QCDQ form (FLOOR, CEIL or ROUND only)");
    }
    if (!(scale > 0) || !(out_scale > 0) || out_bits < 1 || out_bits > 32 || out_bits != std::floor(out_bits)) {
      return invalid_argument(where, ": bad scale or bit width");
    }
    QuantParams bounds;
    bounds.bits = static_cast<int>(out_bits);
    bounds.is_signed = is_signed != 0;
    bounds.narrow = narrow != 0;
    const float t = std::exp2(std::round(std::log2(out_scale / scale)));
    const OpKind round_op = rounding == RoundingMode::kFloor  ? OpKind::kFloor
                            : rounding == RoundingMode::kCeil ? OpKind::kCeil
                                                              : OpKind::kRound;

    const ValueId x = n.inputs[0];
    const ValueId y = n.outputs[0];
    const Value xv = g.value(x);
    auto tmp = [&](const std::string& suffix) {
      ValueId v = g.add_value(g.unique_value_name(n.name + suffix), DType::kF32, xv.shape, xv.shape_known);
      g.value(v).dim_params = xv.dim_params;
      return v;
    };
    auto constant = [&](const std::string& suffix, float v) {
      return g.add_constant(g.unique_value_name(n.name + suffix), Tensor::scalar<float>(v));
    };
    g.remove_node(id);
    const ValueId grid = tmp("_grid");
    g.add_node(OpKind::kDiv, n.name + "_to_grid", {x, constant("_scale", scale)}, {grid});
    const ValueId ints = tmp("_int");
    g.add_node(OpKind::kRound, n.name + "_round", {grid}, {ints});
    const ValueId shifted = tmp("_shifted");
    g.add_node(OpKind::kDiv, n.name + "_shift", {ints, constant("_t", t)}, {shifted});
    const ValueId clipped = tmp("_clipped");
    g.add_node(OpKind::kClip, n.name + "_clip",
               {shifted, constant("_min", static_cast<float>(bounds.min_int())),
                constant("_max", static_cast<float>(bounds.max_int()))},
               {clipped});
    const ValueId truncated = tmp("_trunc");
    g.add_node(round_op, n.name + "_truncate", {clipped}, {truncated});
    if (bounds.bits < 2 || bounds.bits > 8) {
      g.add_node(OpKind::kMul, n.name + "_rescale", {truncated, constant("_out_scale", out_scale)}, {y});
      continue;
    }
    // The values are on the output grid already, so a quantizer onto it changes none of them;
    // it marks the result as quantized for readers of the QCDQ file (onnxruntime's QDQ fusion,
    // qengine's integer lowering and exact simulation), as Trunc itself does in QONNX.
    const ValueId rescaled = tmp("_rescaled");
    g.add_node(OpKind::kMul, n.name + "_rescale", {truncated, constant("_out_scale", out_scale)}, {rescaled});
    QuantParams on_grid = bounds;  // bits, sign and narrow; scale and zero point are the inputs
    on_grid.rounding = RoundingMode::kHalfEven;
    g.add_node(OpKind::kFakeQuant, n.name + "_grid", {rescaled, constant("_grid_scale", out_scale), constant("_grid_zero_point", 0.f)},
               {y}, fake_quant_attributes(on_grid));
  }
  return g;
}

}  // namespace qe
