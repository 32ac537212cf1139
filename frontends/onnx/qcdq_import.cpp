#include "frontends/onnx/qcdq_import.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "frontends/onnx/onnx_proto_util.h"
#include "frontends/onnx/quant_io_util.h"
#include "graph/quant_params.h"

namespace qe {

namespace {

// The parameters of one QuantizeLinear or DequantizeLinear node, as written.
struct QdqParams {
  Tensor scale;          // float32, scalar or 1-D
  Tensor zero_point;     // the container type, or undefined (0)
  int64_t axis = 1;      // used only when the scale has more than one value
  DType container = DType::kUndefined;  // Q: its output type; DQ: the type of zero_point when given
};

const Value* constant_input(const Graph& g, const Node& n, size_t i) {
  if (i >= n.inputs.size() || n.inputs[i] == kNoValue) return nullptr;
  const Value& v = g.value(n.inputs[i]);
  return v.is_constant() ? &v : nullptr;
}

bool has_input(const Node& n, size_t i) { return i < n.inputs.size() && n.inputs[i] != kNoValue; }

std::optional<QdqParams> read_params(const Graph& g, const Node& n, bool quantize) {
  QdqParams p;
  const Value* s = constant_input(g, n, 1);
  if (!s || s->constant.dtype() != DType::kF32 || s->constant.shape().rank() > 1) return std::nullopt;
  p.scale = s->constant;
  if (has_input(n, 2)) {
    const Value* z = constant_input(g, n, 2);
    if (!z || z->constant.numel() != p.scale.numel()) return std::nullopt;
    p.zero_point = z->constant;
    p.container = z->constant.dtype();
  }
  auto block = n.attrs.get_int("block_size", 0);
  auto axis = n.attrs.get_int("axis", 1);
  if (!block.is_ok() || *block != 0 || !axis.is_ok()) return std::nullopt;
  p.axis = *axis;
  if (quantize && p.container == DType::kUndefined) {
    // Without a zero point the output type is output_dtype (opset 21), else uint8.
    auto out_type = n.attrs.get_int("output_dtype", 0);
    if (!out_type.is_ok()) return std::nullopt;
    if (*out_type == 0) {
      p.container = DType::kU8;
    } else {
      auto t = onnx_util::dtype_from_onnx(static_cast<int32_t>(*out_type));
      if (!t) return std::nullopt;
      p.container = *t;
    }
  }
  for (int64_t i = 0; i < p.scale.numel(); ++i) {
    const float v = p.scale.data<float>()[i];
    if (!(std::isfinite(v) && v > 0)) return std::nullopt;
  }
  return p;
}

double zero_point_at(const QdqParams& p, int64_t i) {
  return p.zero_point.defined() ? read_element_as_double(p.zero_point.raw(), p.zero_point.dtype(), i) : 0.0;
}

bool same_params(const QdqParams& a, const QdqParams& b) {
  const int64_t n = a.scale.numel();
  if (n != b.scale.numel() || std::memcmp(a.scale.raw(), b.scale.raw(), a.scale.bytes()) != 0) return false;
  if (n > 1 && a.axis != b.axis) return false;
  for (int64_t i = 0; i < n; ++i) {
    if (zero_point_at(a, i) != zero_point_at(b, i)) return false;
  }
  return true;
}

// Clip bounds as integers; nullopt when they are not constant integers.
bool clip_bounds(const Graph& g, const Node& clip, int64_t* lo, int64_t* hi) {
  for (size_t i = 1; i <= 2; ++i) {
    if (!has_input(clip, i)) continue;
    const Value* b = constant_input(g, clip, i);
    if (!b || b->constant.numel() != 1) return false;
    const double v = read_element_as_double(b->constant.raw(), b->constant.dtype(), 0);
    if (!quant_io::is_integer_valued(v)) return false;
    if (i == 1) *lo = std::max<int64_t>(*lo, static_cast<int64_t>(v));
    if (i == 2) *hi = std::min<int64_t>(*hi, static_cast<int64_t>(v));
  }
  return true;
}

// The dequantized constant: exactly what DequantizeLinear computes, float(q - z) · s.
Tensor dequantize_constant(const Tensor& q, const QdqParams& p, int axis, int64_t lo, int64_t hi) {
  Tensor out(DType::kF32, q.shape());
  float* y = out.data<float>();
  const int64_t channels = axis >= 0 ? q.shape()[static_cast<size_t>(axis)] : 1;
  int64_t inner = 1;
  if (axis >= 0) {
    for (size_t d = static_cast<size_t>(axis) + 1; d < q.shape().rank(); ++d) inner *= q.shape()[d];
  }
  const float* s = p.scale.data<float>();
  for (int64_t i = 0; i < q.numel(); ++i) {
    const int64_t c = axis >= 0 ? (i / inner) % channels : 0;
    int64_t v = static_cast<int64_t>(read_element_as_double(q.raw(), q.dtype(), i));
    v = std::clamp(v, lo, hi);
    const int64_t z = static_cast<int64_t>(zero_point_at(p, c));
    y[i] = static_cast<float>(v - z) * s[c];
  }
  return out;
}

Tensor zero_point_f32(const QdqParams& p) {
  Tensor z(DType::kF32, p.scale.shape());
  for (int64_t i = 0; i < z.numel(); ++i) z.data<float>()[i] = static_cast<float>(zero_point_at(p, i));
  return z;
}

// Tries to replace DequantizeLinear `d` (and what feeds it) by a FakeQuant. Returns the Q and
// Clip nodes of the chain that may have become dead, or nothing when the chain does not fit.
std::vector<NodeId> fuse_one(Graph& g, NodeId d) {
  const Node& dn = g.node(d);
  if (dn.inputs.empty() || dn.inputs[0] == kNoValue || dn.outputs.size() != 1) return {};
  std::optional<QdqParams> dq = read_params(g, dn, false);
  if (!dq) return {};
  std::vector<NodeId> chain;
  ValueId v = dn.inputs[0];
  int64_t clip_lo = INT64_MIN, clip_hi = INT64_MAX;
  NodeId producer = g.value(v).producer;
  if (producer != kNoNode && g.node(producer).op == OpKind::kClip) {
    const Node& c = g.node(producer);
    if (c.inputs.empty() || c.inputs[0] == kNoValue || !clip_bounds(g, c, &clip_lo, &clip_hi)) return {};
    chain.push_back(producer);
    v = c.inputs[0];
    producer = g.value(v).producer;
  }
  ValueId x = kNoValue;
  DType container = DType::kUndefined;
  const bool weight = producer == kNoNode && g.value(v).is_constant();
  if (producer != kNoNode && g.node(producer).op == OpKind::kQuantizeLinear) {
    const Node& qn = g.node(producer);
    std::optional<QdqParams> q = read_params(g, qn, true);
    if (!q || qn.inputs.empty() || qn.inputs[0] == kNoValue || !same_params(*q, *dq)) return {};
    if (dq->container != DType::kUndefined && dq->container != q->container) return {};
    const DType xt = g.value(qn.inputs[0]).dtype;
    if (xt != DType::kUndefined && xt != DType::kF32) return {};
    x = qn.inputs[0];
    container = q->container;
    chain.push_back(producer);
  } else if (weight) {
    container = g.value(v).constant.dtype();
    if (dq->container != DType::kUndefined && dq->container != container) return {};
  } else {
    return {};
  }
  int64_t lo = 0, hi = 0;
  if (!quant_io::container_range(container, &lo, &hi)) return {};
  lo = std::max(lo, clip_lo);
  hi = std::min(hi, clip_hi);
  std::optional<quant_io::IntGrid> grid = quant_io::grid_from_range(lo, hi);
  if (!grid) return {};

  int axis = -1;
  int rank = quant_io::known_rank(g, weight ? v : x);
  if (dq->scale.numel() > 1) {
    if (rank < 0) return {};
    const int64_t a = dq->axis < 0 ? dq->axis + rank : dq->axis;
    if (a < 0 || a >= rank) return {};
    const Value& xv = g.value(weight ? v : x);
    const Shape& shape = xv.is_constant() ? xv.constant.shape() : xv.shape;
    if (shape[static_cast<size_t>(a)] >= 0 && shape[static_cast<size_t>(a)] != dq->scale.numel()) return {};
    axis = static_cast<int>(a);
  }
  QuantParams p;
  p.kind = QuantKind::kInt;
  p.bits = grid->bits;
  p.is_signed = grid->is_signed;
  p.narrow = grid->narrow;
  p.rounding = RoundingMode::kHalfEven;
  p.axis = axis;
  p.scale = quant_io::along_axis(dq->scale.clone(), axis, rank);
  p.zero_point = quant_io::along_axis(zero_point_f32(*dq), axis, rank);
  if (weight) {
    const Value& qv = g.value(v);
    Tensor w = dequantize_constant(qv.constant, *dq, axis, lo, hi);
    x = g.add_constant(g.unique_value_name(qv.name + "_dequantized"), std::move(w));
  }
  const std::string name = g.node(d).name;
  const ValueId out = g.node(d).outputs[0];
  g.remove_node(d);
  quant_io::add_fake_quant_node(g, name, x, p, out);
  return chain;
}

}  // namespace

Status fuse_qcdq_chains(Graph& g) {
  std::vector<NodeId> dqs;
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    const Node& n = g.node(static_cast<NodeId>(i));
    if (n.alive && n.op == OpKind::kDequantizeLinear) dqs.push_back(n.id);
  }
  std::vector<NodeId> touched;
  for (NodeId d : dqs) {
    std::vector<NodeId> chain = fuse_one(g, d);
    touched.insert(touched.end(), chain.begin(), chain.end());
  }
  // Clip before its QuantizeLinear (chain order), so a Q whose only reader was the Clip goes too.
  for (NodeId id : touched) {
    const Node& n = g.node(id);
    if (!n.alive) continue;
    bool dead = true;
    for (ValueId o : n.outputs) {
      if (o != kNoValue && (!g.value(o).uses.empty() || g.is_graph_output(o))) dead = false;
    }
    if (dead) g.remove_node(id);
  }
  return Status::ok();
}

}  // namespace qe
