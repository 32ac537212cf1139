#include "frontends/onnx/onnx_normalize.h"

#include <string>
#include <vector>

namespace qe {

namespace {

// Old ops bound their scalar attributes (Clip bounds, Pad value) to the input's element type;
// the importer has not inferred types yet, so it uses the type the file declared, else float.
DType declared_float_type(const Graph& g, const Node& n) {
  if (n.inputs.empty() || n.inputs[0] == kNoValue) return DType::kF32;
  DType t = g.value(n.inputs[0]).dtype;
  return (t == DType::kF16 || t == DType::kF64 || t == DType::kBF16) ? t : DType::kF32;
}

Tensor scalar_of_type(DType t, float v) {
  Tensor s(t, Shape{});
  write_element_from_double(s.raw(), t, 0, v);
  return s;
}

// Moves a tensor into input `index` of node `id` as a new constant named after the node.
void set_constant_input(Graph& g, NodeId id, int index, const std::string& what, Tensor t) {
  std::string base = g.node(id).name + "_" + what;
  ValueId c = g.add_constant(g.unique_value_name(base), std::move(t));
  g.set_node_input(id, index, c);
}

Status ints_attr_to_input(Graph& g, NodeId id, const char* attr, int index, bool required) {
  Node& n = g.node(id);
  if (!n.attrs.has(attr)) {
    if (required) return invalid_argument(describe_node(g, id), ": required attribute '", attr, "' is missing");
    return Status::ok();
  }
  auto v = n.attrs.get_ints(attr);
  if (!v.is_ok()) return v.status().with_context(describe_node(g, id) + ": ");
  if (static_cast<int>(n.inputs.size()) > index && n.inputs[static_cast<size_t>(index)] != kNoValue) {
    return invalid_argument(describe_node(g, id), ": has both attribute '", attr, "' and input ", index);
  }
  std::vector<int64_t> vals = std::move(v).value();
  n.attrs.erase(attr);
  Tensor t = Tensor::from_vector(Shape{static_cast<int64_t>(vals.size())}, vals);
  set_constant_input(g, id, index, attr, std::move(t));
  return Status::ok();
}

// Pads the input list with omitted inputs so that `index` can be assigned.
void ensure_inputs(Graph& g, NodeId id, size_t count) {
  Node& n = g.node(id);
  if (n.inputs.size() < count) n.inputs.resize(count, kNoValue);
}

Status drop_if(Graph& g, NodeId id, const char* attr, int64_t harmless_value, const char* why) {
  Node& n = g.node(id);
  if (!n.attrs.has(attr)) return Status::ok();
  auto v = n.attrs.get_int(attr, harmless_value);
  if (!v.is_ok()) return v.status().with_context(describe_node(g, id) + ": ");
  if (*v != harmless_value) {
    return unsupported(describe_node(g, id), ": attribute ", attr, "=", *v, " is not supported (", why, ")");
  }
  n.attrs.erase(attr);
  return Status::ok();
}

Status normalize_clip(Graph& g, NodeId id, int64_t opset) {
  if (opset >= 11) return Status::ok();
  Node& n = g.node(id);
  const DType t = declared_float_type(g, n);
  const char* names[2] = {"min", "max"};
  for (int i = 0; i < 2; ++i) {
    Node& cur = g.node(id);
    if (!cur.attrs.has(names[i])) continue;
    auto v = cur.attrs.get_float(names[i], 0.f);
    if (!v.is_ok()) return v.status().with_context(describe_node(g, id) + ": ");
    cur.attrs.erase(names[i]);
    ensure_inputs(g, id, static_cast<size_t>(i + 2));
    set_constant_input(g, id, i + 1, names[i], scalar_of_type(t, *v));
  }
  return Status::ok();
}

Status normalize_pad(Graph& g, NodeId id, int64_t opset) {
  if (opset >= 11) return Status::ok();
  Node& n = g.node(id);
  const char* pads_name = n.attrs.has("pads") ? "pads" : "paddings";  // opset 1 spelling
  QE_RETURN_IF_ERROR(ints_attr_to_input(g, id, pads_name, 1, true));
  Node& cur = g.node(id);
  if (cur.attrs.has("value")) {
    auto v = cur.attrs.get_float("value", 0.f);
    if (!v.is_ok()) return v.status().with_context(describe_node(g, id) + ": ");
    cur.attrs.erase("value");
    set_constant_input(g, id, 2, "value", scalar_of_type(declared_float_type(g, cur), *v));
  }
  return Status::ok();
}

Status normalize_upsample(Graph& g, NodeId id, int64_t opset) {
  Node& n = g.node(id);
  if (n.attrs.has("width_scale") || n.attrs.has("height_scale")) {
    return unsupported(describe_node(g, id), ": the experimental Upsample-1 form (width_scale/height_scale) is not supported");
  }
  if (opset >= 9 && !n.attrs.has("scales")) return Status::ok();
  auto scales = n.attrs.get_floats("scales");
  if (!scales.is_ok()) return scales.status().with_context(describe_node(g, id) + ": ");
  if (!n.attrs.has("scales")) return invalid_argument(describe_node(g, id), ": required attribute 'scales' is missing");
  std::vector<float> vals = std::move(scales).value();
  n.attrs.erase("scales");
  set_constant_input(g, id, 1, "scales", Tensor::from_vector(Shape{static_cast<int64_t>(vals.size())}, vals));
  return Status::ok();
}

bool is_empty_constant(const Graph& g, ValueId v) {
  return v != kNoValue && g.value(v).is_constant() && g.value(v).constant.numel() == 0;
}

Status normalize_resize(Graph& g, NodeId id, int64_t opset) {
  if (opset == 10) {
    // Resize-10 is (X, scales) with Upsample's coordinate mapping.
    Node& n = g.node(id);
    if (n.inputs.size() != 2) return invalid_argument(describe_node(g, id), ": Resize-10 takes 2 inputs, got ", n.inputs.size());
    ValueId scales = n.inputs[1];
    g.set_node_input(id, 1, kNoValue);
    g.set_node_input(id, 2, scales);
    Node& cur = g.node(id);
    auto mode = cur.attrs.get_string("mode", "nearest");
    if (!mode.is_ok()) return mode.status().with_context(describe_node(g, id) + ": ");
    cur.attrs.set("coordinate_transformation_mode", std::string("asymmetric"));
    if (*mode == "nearest") cur.attrs.set("nearest_mode", std::string("floor"));
    return Status::ok();
  }
  // Opsets 11-12 require roi and scales to be present, as empty tensors when unused; the
  // canonical form omits them.
  Node& n = g.node(id);
  for (int i : {1, 2}) {
    if (static_cast<int>(n.inputs.size()) > i && is_empty_constant(g, n.inputs[static_cast<size_t>(i)])) {
      g.set_node_input(id, i, kNoValue);
    }
  }
  Node& cur = g.node(id);
  while (!cur.inputs.empty() && cur.inputs.back() == kNoValue) cur.inputs.pop_back();
  return Status::ok();
}

Status normalize_batch_norm(Graph& g, NodeId id, int64_t opset) {
  Node& n = g.node(id);
  if (opset < 7 && n.attrs.has("consumed_inputs")) n.attrs.erase("consumed_inputs");
  QE_RETURN_IF_ERROR(drop_if(g, id, "is_test", 1, "training-mode BatchNormalization"));
  QE_RETURN_IF_ERROR(drop_if(g, id, "spatial", 1, "per-activation (non-spatial) statistics"));
  QE_RETURN_IF_ERROR(drop_if(g, id, "training_mode", 0, "training-mode BatchNormalization"));
  return Status::ok();
}

Status normalize_softmax(Graph& g, NodeId id, int64_t opset) {
  if (opset >= 13) return Status::ok();
  Node& n = g.node(id);
  auto axis = n.attrs.get_int("axis", 1);  // the old default was 1, the new one is -1
  if (!axis.is_ok()) return axis.status().with_context(describe_node(g, id) + ": ");
  n.attrs.set("axis", *axis);
  n.attrs.set(kCoerce2dAttr, int64_t{1});
  return Status::ok();
}

ValueId add_int64_op(Graph& g, OpKind op, const std::string& name, std::vector<ValueId> inputs, Attributes attrs = {}) {
  ValueId out = g.add_value(g.unique_value_name(name), DType::kI64);
  g.add_node(op, name, std::move(inputs), {out}, std::move(attrs));
  return out;
}

ValueId int64_vector_constant(Graph& g, const std::string& name, const std::vector<int64_t>& v) {
  return g.add_constant(g.unique_value_name(name), Tensor::from_vector(Shape{static_cast<int64_t>(v.size())}, v));
}

// B gets `rank(A) - axis - rank(B)` trailing 1-dims, computed at run time when the model does
// not declare the ranks: Reshape(B, Concat(Shape(B), ConstantOfShape(rank(A) - axis - rank(B), 1))).
// Shape folding removes these nodes once the input shapes are known.
void broadcast_b_dynamically(Graph& g, NodeId id, int64_t axis) {
  const std::string base = g.node(id).name + "_broadcast";
  ValueId a = g.node(id).inputs[0];
  ValueId b = g.node(id).inputs[1];
  const Value& bv = g.value(b);
  ValueId shape_b;
  ValueId fixed;  // axis + rank(B)
  if (bv.shape_known && bv.shape.is_known()) {
    shape_b = int64_vector_constant(g, base + "_shape_b", bv.shape.dims());
    fixed = int64_vector_constant(g, base + "_fixed", {axis + static_cast<int64_t>(bv.shape.rank())});
  } else {
    shape_b = add_int64_op(g, OpKind::kShape, base + "_shape_b", {b});
    ValueId rank_b = add_int64_op(g, OpKind::kShape, base + "_rank_b", {shape_b});
    fixed = add_int64_op(g, OpKind::kAdd, base + "_fixed", {rank_b, int64_vector_constant(g, base + "_axis", {axis})});
  }
  ValueId shape_a = add_int64_op(g, OpKind::kShape, base + "_shape_a", {a});
  ValueId rank_a = add_int64_op(g, OpKind::kShape, base + "_rank_a", {shape_a});
  ValueId count = add_int64_op(g, OpKind::kSub, base + "_count", {rank_a, fixed});
  Attributes one;
  one.set("value", Tensor::from_vector(Shape{1}, std::vector<int64_t>{1}));
  ValueId ones = add_int64_op(g, OpKind::kConstantOfShape, base + "_ones", {count}, one);
  Attributes axis0;
  axis0.set("axis", int64_t{0});
  ValueId new_shape = add_int64_op(g, OpKind::kConcat, base + "_new_shape", {shape_b, ones}, axis0);
  ValueId reshaped = g.add_value(g.unique_value_name(base), g.value(b).dtype);
  g.add_node(OpKind::kReshape, base, {b, new_shape}, {reshaped});
  g.set_node_input(id, 1, reshaped);
}

// Opset < 7 binary ops broadcast only with broadcast=1, aligning B with A starting at `axis`
// (default: the trailing dimensions, which is numpy broadcasting). For another axis, B gets
// trailing 1-dims so that numpy broadcasting lines it up the same way.
Status normalize_legacy_broadcast(Graph& g, NodeId id, int64_t opset) {
  if (opset >= 7) return Status::ok();
  Node& n = g.node(id);
  auto bcast = n.attrs.get_int("broadcast", 0);
  auto axis = n.attrs.get_int("axis", -1);
  if (!bcast.is_ok() || !axis.is_ok()) return invalid_argument(describe_node(g, id), ": bad broadcast/axis attribute");
  const bool has_axis = n.attrs.has("axis");
  n.attrs.erase("broadcast");
  n.attrs.erase("axis");
  if (*bcast == 0 || !has_axis || n.inputs.size() != 2) return Status::ok();
  if (*axis < 0) return invalid_argument(describe_node(g, id), ": negative broadcast axis ", *axis, " (opset ", opset, ")");
  const Value& a = g.value(n.inputs[0]);
  const Value& b = g.value(n.inputs[1]);
  if (!a.shape_known || !b.shape_known) {
    broadcast_b_dynamically(g, id, *axis);
    return Status::ok();
  }
  const int64_t ra = static_cast<int64_t>(a.shape.rank());
  const int64_t rb = static_cast<int64_t>(b.shape.rank());
  if (*axis + rb > ra) {
    return invalid_argument(describe_node(g, id), ": broadcast axis ", *axis, " does not fit B of rank ", rb,
                            " into A of rank ", ra);
  }
  const int64_t trailing = ra - *axis - rb;
  if (trailing == 0) return Status::ok();
  std::vector<int64_t> dims = b.shape.dims();
  for (int64_t i = 0; i < trailing; ++i) dims.push_back(1);
  const std::string base = g.node(id).name + "_broadcast";
  if (b.is_constant()) {
    Tensor t = b.constant.reshaped(Shape(dims));
    ValueId c = g.add_constant(g.unique_value_name(base), std::move(t));
    g.set_node_input(id, 1, c);
    return Status::ok();
  }
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < trailing; ++i) axes.push_back(rb + i);
  ValueId bin = n.inputs[1];
  DType bt = b.dtype;
  ValueId axes_v = int64_vector_constant(g, base + "_axes", axes);
  ValueId out = g.add_value(g.unique_value_name(base), bt, Shape(dims), true);
  g.value(out).dim_params.assign(dims.size(), "");
  g.add_node(OpKind::kUnsqueeze, base, {bin, axes_v}, {out});
  g.set_node_input(id, 1, out);
  return Status::ok();
}

}  // namespace

Status normalize_onnx_node(Graph& g, NodeId id, int64_t opset) {
  // Opsets 1-6 let many ops name inputs they may overwrite; a hint with no meaning for us.
  if (opset < 7) g.node(id).attrs.erase("consumed_inputs");
  switch (g.node(id).op) {
    case OpKind::kReshape:
      return opset >= 5 ? Status::ok() : ints_attr_to_input(g, id, "shape", 1, true);
    case OpKind::kConcat:
      if (opset < 4 && !g.node(id).attrs.has("axis")) g.node(id).attrs.set("axis", int64_t{1});  // the old default
      return Status::ok();
    case OpKind::kClip: return normalize_clip(g, id, opset);
    case OpKind::kSlice:
      if (opset >= 10) return Status::ok();
      QE_RETURN_IF_ERROR(ints_attr_to_input(g, id, "starts", 1, true));
      QE_RETURN_IF_ERROR(ints_attr_to_input(g, id, "ends", 2, true));
      return ints_attr_to_input(g, id, "axes", 3, false);
    case OpKind::kSqueeze:
      return opset >= 13 ? Status::ok() : ints_attr_to_input(g, id, "axes", 1, false);
    case OpKind::kUnsqueeze:
      return opset >= 13 ? Status::ok() : ints_attr_to_input(g, id, "axes", 1, true);
    case OpKind::kSplit:
      return opset >= 13 ? Status::ok() : ints_attr_to_input(g, id, "split", 1, false);
    case OpKind::kReduceMean:
    case OpKind::kReduceMax:
      return opset >= 18 ? Status::ok() : ints_attr_to_input(g, id, "axes", 1, false);
    case OpKind::kReduceSum:
      return opset >= 13 ? Status::ok() : ints_attr_to_input(g, id, "axes", 1, false);
    case OpKind::kPad: return normalize_pad(g, id, opset);
    case OpKind::kUpsample: return normalize_upsample(g, id, opset);
    case OpKind::kResize: return normalize_resize(g, id, opset);
    case OpKind::kBatchNormalization: return normalize_batch_norm(g, id, opset);
    case OpKind::kDropout: {
      // Inference ignores the ratio; opset 12+ passes it as an input, which stays.
      Node& n = g.node(id);
      n.attrs.erase("ratio");
      n.attrs.erase("is_test");
      return Status::ok();
    }
    case OpKind::kGemm:
      if (opset < 7) g.node(id).attrs.erase("broadcast");
      return Status::ok();
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv:
    case OpKind::kPow:
    case OpKind::kEqual:
    case OpKind::kGreater:
    case OpKind::kLess:
      return normalize_legacy_broadcast(g, id, opset);
    default:
      if (is_softmax_family(g.node(id).op)) return normalize_softmax(g, id, opset);
      return Status::ok();
  }
}

bool is_softmax_family(OpKind op) {
  const std::string_view name = op_name(op);
  return name == "Softmax" || name == "LogSoftmax" || name == "Hardmax";
}

}  // namespace qe
