#include "frontends/onnx/onnx_export_lower.h"

#include <cmath>
#include <limits>

#include "frontends/onnx/onnx_import.h"
#include "frontends/onnx/onnx_normalize.h"

namespace qe {

namespace {

constexpr int64_t kBaseOpset = 13;

DType float_type_of(const Graph& g, ValueId v) {
  DType t = g.value(v).dtype;
  return (t == DType::kF16 || t == DType::kF64 || t == DType::kBF16) ? t : DType::kF32;
}

ValueId scalar_constant(Graph& g, const std::string& base, DType t, double v) {
  Tensor s(t, Shape{});
  write_element_from_double(s.raw(), t, 0, v);
  return g.add_constant(g.unique_value_name(base), std::move(s));
}

// Adds a node with one fresh output value, typed like `like` (shape left to the consumer).
ValueId add_op(Graph& g, OpKind op, const std::string& name, std::vector<ValueId> inputs, Attributes attrs, DType dtype,
               const Shape* shape = nullptr) {
  ValueId out = g.add_value(g.unique_value_name(name + "_out"), dtype);
  if (shape) {
    g.value(out).shape = *shape;
    g.value(out).shape_known = true;
  }
  g.add_node(op, name, std::move(inputs), {out}, std::move(attrs));
  return out;
}

// Moves node `id`'s output 0 to a fresh value and returns the original output, which the
// caller makes some new node produce.
ValueId detach_output(Graph& g, NodeId id, const std::string& suffix, ValueId* fresh) {
  ValueId out = g.node(id).outputs[0];
  const Value& ov = g.value(out);
  ValueId tmp = g.add_value(g.unique_value_name(ov.name + suffix), ov.dtype, ov.shape, ov.shape_known);
  g.value(tmp).dim_params = g.value(out).dim_params;
  g.set_node_output(id, 0, tmp);
  *fresh = tmp;
  return out;
}

Status expand_fused_activation(Graph& g, NodeId id) {
  const Node& n = g.node(id);
  auto act = n.attrs.get_string("_act", "");
  if (!act.is_ok()) return act.status().with_context(describe_node(g, id) + ": ");
  if (act->empty()) return Status::ok();
  const std::string name = *act;
  const std::string node_name = n.name + "_" + name;
  auto alpha = n.attrs.get_float("_act_alpha", 0.f);
  auto beta = n.attrs.get_float("_act_beta", 0.f);
  if (!alpha.is_ok() || !beta.is_ok()) {
    return invalid_argument(describe_node(g, id), ": fused activation parameters _act_alpha/_act_beta must be floats");
  }
  OpKind op;
  Attributes attrs;
  std::vector<ValueId> extra;  // inputs after the data input
  if (name == "Relu") {
    op = OpKind::kRelu;
  } else if (name == "Sigmoid") {
    op = OpKind::kSigmoid;
  } else if (name == "HardSwish") {
    op = OpKind::kHardSwish;
  } else if (name == "LeakyRelu") {
    op = OpKind::kLeakyRelu;
    attrs.set("alpha", *alpha);
  } else if (name == "HardSigmoid") {
    op = OpKind::kHardSigmoid;
    attrs.set("alpha", *alpha);
    attrs.set("beta", *beta);
  } else if (name == "Clip") {
    op = OpKind::kClip;
    DType t = float_type_of(g, n.outputs[0]);
    // Infinite bounds are the omitted inputs of ONNX Clip.
    extra.push_back(std::isinf(*alpha) && *alpha < 0 ? kNoValue : scalar_constant(g, node_name + "_min", t, *alpha));
    extra.push_back(std::isinf(*beta) && *beta > 0 ? kNoValue : scalar_constant(g, node_name + "_max", t, *beta));
    while (!extra.empty() && extra.back() == kNoValue) extra.pop_back();
  } else {
    return unsupported(describe_node(g, id), ": fused activation '", name, "' has no ONNX equivalent known to the exporter");
  }
  Node& p = g.node(id);
  p.attrs.erase("_act");
  p.attrs.erase("_act_alpha");
  p.attrs.erase("_act_beta");
  ValueId pre;
  ValueId out = detach_output(g, id, "_preact", &pre);
  std::vector<ValueId> inputs = {pre};
  inputs.insert(inputs.end(), extra.begin(), extra.end());
  g.add_node(op, node_name, std::move(inputs), {out}, std::move(attrs));
  return Status::ok();
}

Status expand_coerced_softmax(Graph& g, NodeId id) {
  Node& n = g.node(id);
  if (!n.attrs.has(kCoerce2dAttr)) return Status::ok();
  auto coerce = n.attrs.get_int(kCoerce2dAttr, 0);
  auto axis = n.attrs.get_int("axis", 1);
  if (!coerce.is_ok() || !axis.is_ok()) return invalid_argument(describe_node(g, id), ": bad _coerce_2d/axis attribute");
  n.attrs.erase(kCoerce2dAttr);
  if (*coerce == 0 || n.inputs.empty()) return Status::ok();
  const Value& x = g.value(n.inputs[0]);
  if (x.shape_known) {
    auto a = normalize_axis(*axis, static_cast<int64_t>(x.shape.rank()));
    if (!a.is_ok()) return a.status().with_context(describe_node(g, id) + ": ");
    // Flattening around the last axis changes nothing: this is the opset-13 Softmax.
    if (*a == static_cast<int64_t>(x.shape.rank()) - 1) return Status::ok();
  }
  const std::string base = n.name;
  ValueId xin = n.inputs[0];
  DType dt = x.dtype;
  Attributes flat_attrs;
  flat_attrs.set("axis", *axis);
  ValueId shape = add_op(g, OpKind::kShape, base + "_shape", {xin}, {}, DType::kI64);
  ValueId flat = add_op(g, OpKind::kFlatten, base + "_flatten", {xin}, flat_attrs, dt);
  g.set_node_input(id, 0, flat);
  g.node(id).attrs.set("axis", int64_t{1});
  ValueId soft;
  ValueId out = detach_output(g, id, "_2d", &soft);
  g.value(soft).shape_known = false;
  g.value(soft).shape = Shape();
  g.value(soft).dim_params.clear();
  g.add_node(OpKind::kReshape, base + "_reshape", {soft, shape}, {out});
  return Status::ok();
}

void upsample_to_resize(Graph& g, NodeId id) {
  Node& n = g.node(id);
  auto mode = n.attrs.get_string("mode", "nearest");
  std::string m = mode.is_ok() ? *mode : "nearest";
  if (m == "bilinear") m = "linear";
  Attributes attrs;
  attrs.set("mode", m);
  attrs.set("coordinate_transformation_mode", std::string("asymmetric"));
  if (m == "nearest") attrs.set("nearest_mode", std::string("floor"));
  std::vector<ValueId> inputs = {n.inputs.empty() ? kNoValue : n.inputs[0], kNoValue,
                                 n.inputs.size() > 1 ? n.inputs[1] : kNoValue};
  std::vector<ValueId> outputs = n.outputs;
  std::string name = n.name;
  g.remove_node(id);
  g.add_node(OpKind::kResize, name, std::move(inputs), std::move(outputs), std::move(attrs));
}

// Gelu(x) = x·Φ(x), written with ops every opset since 13 has.
Status expand_gelu(Graph& g, NodeId id) {
  Node& n = g.node(id);
  auto approx = n.attrs.get_string("approximate", "none");
  if (!approx.is_ok()) return approx.status().with_context(describe_node(g, id) + ": ");
  if (*approx != "none" && *approx != "tanh") {
    return invalid_argument(describe_node(g, id), ": unknown approximate='", *approx, "'");
  }
  const std::string base = n.name;
  ValueId x = n.inputs[0];
  ValueId out = n.outputs[0];
  const DType t = float_type_of(g, x);
  const Shape* shp = g.value(x).shape_known ? &g.value(x).shape : nullptr;
  Shape shape_copy = shp ? *shp : Shape();
  const Shape* s = shp ? &shape_copy : nullptr;
  g.remove_node(id);
  ValueId inner;
  if (*approx == "none") {
    ValueId scaled = add_op(g, OpKind::kDiv, base + "_div", {x, scalar_constant(g, base + "_sqrt2", t, std::sqrt(2.0))}, {}, t, s);
    inner = add_op(g, OpKind::kErf, base + "_erf", {scaled}, {}, t, s);
  } else {
    ValueId cube = add_op(g, OpKind::kPow, base + "_pow", {x, scalar_constant(g, base + "_three", t, 3.0)}, {}, t, s);
    ValueId k = scalar_constant(g, base + "_c", t, 0.044715);
    ValueId kc = add_op(g, OpKind::kMul, base + "_mul_c", {cube, k}, {}, t, s);
    ValueId sum = add_op(g, OpKind::kAdd, base + "_add_x", {x, kc}, {}, t, s);
    ValueId r = scalar_constant(g, base + "_sqrt_2_pi", t, std::sqrt(2.0 / 3.14159265358979323846));
    ValueId arg = add_op(g, OpKind::kMul, base + "_mul_r", {sum, r}, {}, t, s);
    inner = add_op(g, OpKind::kTanh, base + "_tanh", {arg}, {}, t, s);
  }
  ValueId one_plus = add_op(g, OpKind::kAdd, base + "_add_one", {inner, scalar_constant(g, base + "_one", t, 1.0)}, {}, t, s);
  ValueId times_x = add_op(g, OpKind::kMul, base + "_mul_x", {x, one_plus}, {}, t, s);
  g.add_node(OpKind::kMul, base + "_mul_half", {times_x, scalar_constant(g, base + "_half", t, 0.5)}, {out});
  return Status::ok();
}

bool has_input(const Node& n, size_t i) { return i < n.inputs.size() && n.inputs[i] != kNoValue; }

// Lowest opset whose version of this node's op accepts the node as written (canonical form).
int64_t min_opset_for(const Graph& g, const Node& n) {
  auto str = [&](const char* a) {
    auto r = n.attrs.get_string(a, "");
    return r.is_ok() ? *r : std::string();
  };
  switch (n.op) {
    case OpKind::kHardSwish: return 14;
    case OpKind::kReshape: {
      auto allowzero = n.attrs.get_int("allowzero", 0);
      return allowzero.is_ok() && *allowzero != 0 ? 14 : kBaseOpset;
    }
    case OpKind::kLayerNormalization: return 17;
    case OpKind::kGelu: return 20;
    case OpKind::kShape: return (n.attrs.has("start") || n.attrs.has("end")) ? 15 : kBaseOpset;
    case OpKind::kSplit: return n.attrs.has("num_outputs") ? 18 : kBaseOpset;
    case OpKind::kReduceMean:
    case OpKind::kReduceMax:
      if (n.attrs.has("noop_with_empty_axes")) return 18;
      if (has_input(n, 1) && !g.value(n.inputs[1]).is_constant()) return 18;
      return kBaseOpset;
    case OpKind::kPad:
      if (str("mode") == "wrap") return 19;
      return has_input(n, 3) ? 18 : kBaseOpset;
    case OpKind::kResize:
      if (str("coordinate_transformation_mode") == "half_pixel_symmetric") return 19;
      if (n.attrs.has("antialias") || n.attrs.has("axes") || n.attrs.has("keep_aspect_ratio_policy")) return 18;
      return kBaseOpset;
    case OpKind::kAveragePool: return n.attrs.has("dilations") ? 19 : kBaseOpset;
    case OpKind::kCast: return n.attrs.has("saturate") ? 19 : kBaseOpset;
    default: return kBaseOpset;
  }
}

// Below opset 18 ReduceMean/ReduceMax take their axes as an attribute.
void reduce_axes_to_attribute(Graph& g, NodeId id) {
  Node& n = g.node(id);
  if (!has_input(n, 1)) return;
  std::vector<int64_t> axes = g.value(n.inputs[1]).constant.to_int64_vector();
  g.set_node_input(id, 1, kNoValue);
  Node& cur = g.node(id);
  while (!cur.inputs.empty() && cur.inputs.back() == kNoValue) cur.inputs.pop_back();
  cur.attrs.set("axes", axes);
}

}  // namespace

Result<ExportLowering> lower_for_export(const Graph& src, int64_t requested_opset) {
  if (requested_opset != 0 && (requested_opset < kBaseOpset || requested_opset > kOnnxMaxOpset)) {
    return invalid_argument("export opset ", requested_opset, " is outside the range the exporter writes (", kBaseOpset,
                            "-", kOnnxMaxOpset, ")");
  }
  ExportLowering out;
  out.graph = src;
  Graph& g = out.graph;
  const size_t original_nodes = g.num_nodes();
  for (size_t i = 0; i < original_nodes; ++i) {
    const NodeId id = static_cast<NodeId>(i);
    if (!g.node(id).alive) continue;
    QE_RETURN_IF_ERROR(expand_fused_activation(g, id));
    if (is_softmax_family(g.node(id).op)) QE_RETURN_IF_ERROR(expand_coerced_softmax(g, id));
    if (g.node(id).op == OpKind::kUpsample) {
      upsample_to_resize(g, id);
      continue;
    }
    // Gelu is an opset-20 op; below that (and for checkers that do not know 20) it is written
    // as its exact definition.
    if (g.node(id).op == OpKind::kGelu && requested_opset < 20) QE_RETURN_IF_ERROR(expand_gelu(g, id));
  }
  // Internal attributes are engine hints; none of them may reach the file.
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    Node& n = g.node(static_cast<NodeId>(i));
    if (!n.alive) continue;
    std::vector<std::string> internal;
    for (const auto& [k, v] : n.attrs.items()) {
      if (!k.empty() && k[0] == '_') internal.push_back(k);
    }
    for (const auto& k : internal) n.attrs.erase(k);
  }

  int64_t need = kBaseOpset;
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    const Node& n = g.node(static_cast<NodeId>(i));
    if (!n.alive) continue;
    int64_t o = min_opset_for(g, n);
    if (o > need) {
      need = o;
      out.opset_reason = describe_node(g, n.id);
    }
  }
  for (size_t v = 0; v < g.num_values(); ++v) {
    DType t = g.value(static_cast<ValueId>(v)).dtype;
    if ((t == DType::kI4 || t == DType::kU4) && need < 21) {
      need = 21;
      out.opset_reason = str_cat("value '", g.value(static_cast<ValueId>(v)).name, "' of type ", dtype_name(t));
    }
  }
  if (requested_opset != 0 && requested_opset < need) {
    return invalid_argument("export at opset ", requested_opset, " is not possible: ", out.opset_reason,
                            " needs opset ", need);
  }
  out.opset = requested_opset != 0 ? requested_opset : need;
  if (out.opset < 18) {
    for (size_t i = 0; i < g.num_nodes(); ++i) {
      const Node& n = g.node(static_cast<NodeId>(i));
      if (n.alive && (n.op == OpKind::kReduceMean || n.op == OpKind::kReduceMax)) {
        reduce_axes_to_attribute(g, static_cast<NodeId>(i));
      }
    }
  }
  return out;
}

}  // namespace qe
