// FakeQuant / Trunc → QONNX nodes, on the lowered copy of the graph; the float exporter's
// writer then spells them in the QONNX domain (onnx_export_dialect.h).
#include <unordered_map>

#include "frontends/onnx/onnx_export_dialect.h"
#include "frontends/onnx/onnx_export_lower.h"
#include "frontends/onnx/qonnx_import.h"
#include "frontends/onnx/quant_export.h"
#include "graph/quant_params.h"

namespace qe {

namespace {

ValueId scalar_param(Graph& g, const std::string& base, float v) {
  return g.add_constant(g.unique_value_name(base), Tensor::scalar<float>(v));
}

// Rewrites FakeQuant `id` in place into the QONNX input / attribute layout; returns its op type.
Result<std::string> rewrite_fake_quant(Graph& g, NodeId id) {
  QE_ASSIGN_OR_RETURN(QuantParams p, read_quant_params(g, id));
  const std::string base = g.node(id).name;
  Attributes a;
  std::string op;
  switch (p.kind) {
    case QuantKind::kInt:
      op = "Quant";
      g.set_node_input(id, 3, scalar_param(g, base + "_bitwidth", static_cast<float>(p.bits)));
      a.set("signed", int64_t{p.is_signed ? 1 : 0});
      a.set("narrow", int64_t{p.narrow ? 1 : 0});
      a.set("rounding_mode", std::string(rounding_mode_name(p.rounding)));
      break;
    case QuantKind::kBipolar:
      op = "BipolarQuant";
      g.set_node_input(id, 2, kNoValue);
      g.node(id).inputs.resize(2);
      break;
    case QuantKind::kFloat: {
      op = "FloatQuant";
      const MinifloatFormat& f = p.minifloat;
      g.set_node_input(id, 2, scalar_param(g, base + "_exponent_bitwidth", static_cast<float>(f.exponent_bits)));
      g.set_node_input(id, 3, scalar_param(g, base + "_mantissa_bitwidth", static_cast<float>(f.mantissa_bits)));
      g.set_node_input(id, 4, scalar_param(g, base + "_exponent_bias", f.exponent_bias));
      g.set_node_input(id, 5, scalar_param(g, base + "_max_val", f.max_val));
      // has_inf is what the qonnx implementation and Brevitas read (the spec says has_infinity;
      // our importer takes both).
      a.set("has_inf", int64_t{f.has_inf ? 1 : 0});
      a.set("has_nan", int64_t{f.has_nan ? 1 : 0});
      a.set("has_subnormal", int64_t{f.has_subnormal ? 1 : 0});
      a.set("saturation", int64_t{f.saturation ? 1 : 0});
      a.set("rounding_mode", std::string(rounding_mode_name(p.rounding)));
      break;
    }
  }
  g.node(id).attrs = std::move(a);
  return op;
}

Result<int> trunc_version(const Graph& g, NodeId id) {
  auto v = g.node(id).attrs.get_int("version", 2);
  if (!v.is_ok()) return v.status().with_context(describe_node(g, id) + ": ");
  if (*v != 1 && *v != 2) return invalid_argument(describe_node(g, id), ": Trunc version ", *v, " is not 1 or 2");
  return static_cast<int>(*v);
}

// Trunc keeps its inputs (the IR uses the v2 layout); v1 has no out_scale, which the IR leaves
// empty (input 4) or leaves out (5 inputs).
Status rewrite_trunc(Graph& g, NodeId id, int version) {
  Node& n = g.node(id);
  const size_t want = version == 1 && n.inputs.size() == 5 ? 5 : 6;
  if (n.inputs.size() != want) {
    return invalid_argument(describe_node(g, id), ": has ", n.inputs.size(),
                            " inputs, expected X, scale, zero_point, in_bitwidth, out_scale, out_bitwidth");
  }
  for (size_t i = 1; i < want; ++i) {
    if (version == 1 && want == 6 && i == 4) continue;
    if (n.inputs[i] == kNoValue || !g.value(n.inputs[i]).is_constant()) {
      return invalid_argument(describe_node(g, id), ": input ", i, " is not a constant; QONNX Trunc parameters are initializers");
    }
  }
  auto mode = n.attrs.get_string("rounding_mode", "FLOOR");
  auto sgn = n.attrs.get_int("signed", 1);
  auto narrow = n.attrs.get_int("narrow", 0);
  if (!mode.is_ok() || !sgn.is_ok() || !narrow.is_ok()) {
    return invalid_argument(describe_node(g, id), ": rounding_mode / signed / narrow have the wrong type");
  }
  auto parsed = parse_rounding_mode(*mode);
  if (!parsed.is_ok()) return parsed.status().with_context(describe_node(g, id) + ": ");
  Attributes a;
  a.set("rounding_mode", std::string(rounding_mode_name(*parsed)));
  if (version == 2) {
    a.set("signed", int64_t{*sgn != 0 ? 1 : 0});
    a.set("narrow", int64_t{*narrow != 0 ? 1 : 0});
  } else if (want == 6) {
    const ValueId out_bits = n.inputs[5];
    g.set_node_input(id, 5, kNoValue);
    g.set_node_input(id, 4, out_bits);
    g.node(id).inputs.resize(5);
  }
  g.node(id).attrs = std::move(a);
  return Status::ok();
}

}  // namespace

Result<std::string> export_qonnx_bytes(const Graph& src, const QonnxExportOptions& options) {
  QE_ASSIGN_OR_RETURN(ExportLowering lowered, lower_for_export(src, options.onnx.opset));
  Graph& g = lowered.graph;
  // The Trunc version decides the domain's opset, so it is settled before anything is written.
  NodeId v1 = kNoNode, v2 = kNoNode;
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    const Node& n = g.node(static_cast<NodeId>(i));
    if (!n.alive || n.op != OpKind::kTrunc) continue;
    QE_ASSIGN_OR_RETURN(int version, trunc_version(g, n.id));
    (version == 1 ? v1 : v2) = n.id;
  }
  if (v1 != kNoNode && v2 != kNoNode) {
    return unsupported("QONNX export: ", describe_node(g, v1), " is Trunc v1 and ", describe_node(g, v2),
                       " is Trunc v2; one file holds one opset of the QONNX domain, so it cannot hold both");
  }
  const int64_t domain_opset = v1 != kNoNode ? 1 : 2;

  std::unordered_map<NodeId, std::string> op_types;
  const size_t count = g.num_nodes();
  for (size_t i = 0; i < count; ++i) {
    const NodeId id = static_cast<NodeId>(i);
    if (!g.node(id).alive) continue;
    if (g.node(id).op == OpKind::kFakeQuant) {
      QE_ASSIGN_OR_RETURN(op_types[id], rewrite_fake_quant(g, id));
    } else if (g.node(id).op == OpKind::kTrunc) {
      QE_RETURN_IF_ERROR(rewrite_trunc(g, id, static_cast<int>(domain_opset)));
      op_types[id] = "Trunc";
    }
  }
  OnnxDialect dialect;
  if (!op_types.empty()) dialect.opset_imports.emplace_back(kQonnxDomain, domain_opset);
  dialect.spell = [&op_types](const Node& n) -> std::optional<NodeSpelling> {
    auto it = op_types.find(n.id);
    if (it == op_types.end()) return std::nullopt;
    return NodeSpelling{it->second, kQonnxDomain};
  };
  return export_lowered_bytes(lowered, options.onnx, dialect);
}

Status export_qonnx(const Graph& g, const std::string& path, const QonnxExportOptions& options) {
  QE_ASSIGN_OR_RETURN(std::string bytes, export_qonnx_bytes(g, options));
  return write_file_atomically(path, bytes);
}

}  // namespace qe
