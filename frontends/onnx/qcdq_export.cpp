// FakeQuant → QuantizeLinear / Clip / DequantizeLinear (QCDQ), as an IR rewrite on a copy of
// the graph; the float exporter then writes standard ONNX.
//
//   FakeQuant(x, s, z), x computed   ⇒  DQ(Clip(Q(x, s, z), min_int, max_int), s, z)
//   FakeQuant(w, s, z), w constant   ⇒  DQ(Clip(q, min_int, max_int), s, z), q = the integers of w
//   (Clip only when the grid is narrower than the int8 / uint8 / int32 container)
#include <cmath>

#include "frontends/onnx/onnx_export_dialect.h"
#include "frontends/onnx/onnx_import.h"
#include "frontends/onnx/quant_export.h"
#include "frontends/onnx/quant_io_util.h"
#include "graph/quant_params.h"

namespace qe {

namespace {

// Where a per-channel scale varies, as a DequantizeLinear axis. With X's rank unknown the axis
// counts from the end (numpy broadcasting aligns trailing dims; Q/DQ accept negative axes).
Result<int> qdq_axis(const Graph& g, ValueId x, const QuantParams& p, const std::string& where) {
  const Shape& s = p.scale.shape();
  if (s.numel() <= 1) return -1;
  const int srank = static_cast<int>(s.rank());
  const int xrank = quant_io::known_rank(g, x);
  QE_ASSIGN_OR_RETURN(int axis, quant_io::channel_axis(s, xrank >= 0 ? xrank : srank, where + ": scale"));
  return xrank >= 0 ? axis : axis - srank;
}

Tensor scalar_of(DType t, int64_t v) {
  Tensor s(t, Shape{});
  write_element_from_double(s.raw(), t, 0, static_cast<double>(v));
  return s;
}

// The integers a FakeQuant puts a constant on: clip(round(x / s + z), min, max), channel by
// channel, computed as the quantizer does (double, then round half to even).
Result<Tensor> quantize_constant(const Tensor& x, const QuantParams& p, int axis, DType container,
                                 const std::string& where) {
  const Tensor xf = quant_io::to_f32(x);
  const Shape& shape = xf.shape();
  const int64_t channels = p.scale.numel();
  int64_t inner = 1;
  if (channels > 1) {
    const size_t a = static_cast<size_t>(axis < 0 ? axis + static_cast<int>(shape.rank()) : axis);
    if (shape[a] != channels) {
      return invalid_argument(where, ": scale has ", channels, " values but the constant has ", shape[a],
                              " along axis ", a);
    }
    for (size_t d = a + 1; d < shape.rank(); ++d) inner *= shape[d];
  }
  Tensor q(container, shape);
  const float* xs = xf.data<float>();
  const float* s = p.scale.data<float>();
  const float* z = p.zero_point.data<float>();
  const double lo = static_cast<double>(p.min_int()), hi = static_cast<double>(p.max_int());
  for (int64_t i = 0; i < xf.numel(); ++i) {
    if (!std::isfinite(xs[i])) return invalid_argument(where, ": the constant holds a non-finite value at element ", i);
    const int64_t c = channels > 1 ? (i / inner) % channels : 0;
    // x / s in float, as the FakeQuant kernel (and QONNX's numpy code) divides: a double
    // quotient rounds differently at near-ties and would move a weight by one step.
    const double v = std::nearbyint(static_cast<double>(xs[i] / s[c]) + static_cast<double>(z[c]));
    const double clipped = std::fmin(std::fmax(v, lo), hi);
    if (dtype_is_packed(container)) {
      int4_set(q.data<uint8_t>(), i, static_cast<int>(clipped));
    } else {
      write_element_from_double(q.raw(), container, i, clipped);
    }
  }
  return q;
}

Status lower_fake_quant(Graph& g, NodeId id, const QcdqExportOptions& o) {
  const std::string where = describe_node(g, id);
  QE_ASSIGN_OR_RETURN(QuantParams p, read_quant_params(g, id));
  if (p.kind != QuantKind::kInt) {
    return unsupported(where, ": is a ", quant_kind_name(p.kind),
                       " quantizer; QCDQ (QuantizeLinear/DequantizeLinear) expresses only integer quantizers "
                       "(export as QONNX instead)");
  }
  if (p.rounding != RoundingMode::kHalfEven) {
    return unsupported(where, ": rounds with ", rounding_mode_name(p.rounding),
                       "; QuantizeLinear always rounds half to even (ROUND), so QCDQ cannot express it");
  }
  if (p.group_size > 0) {
    return unsupported(where, ": per-group quantization (group size ", p.group_size, ") has no QCDQ form here");
  }
  const ValueId x = g.node(id).inputs[0];
  const bool is_const = g.value(x).is_constant();
  const bool bias = is_const && (p.bits == 16 || p.bits == 32);
  if (p.bits > 8 && !bias) {
    return unsupported(where, ": has ", p.bits, " bits; QCDQ holds ", is_const ? "weights" : "activations",
                       " in int8/uint8, at most 8 bits (only a 16- or 32-bit quantizer on a constant, a bias, "
                       "becomes int32)");
  }
  DType container = p.is_signed ? DType::kI8 : DType::kU8;
  if (bias) container = DType::kI32;
  if (is_const && !bias && o.int4_weights && p.bits <= 4) container = p.is_signed ? DType::kI4 : DType::kU4;
  int64_t clo = 0, chi = 0;
  quant_io::container_range(container, &clo, &chi);
  if (p.min_int() < clo || p.max_int() > chi) {
    return unsupported(where, ": its grid [", p.min_int(), ", ", p.max_int(), "] does not fit the ",
                       dtype_name(container), " container");
  }
  for (int64_t i = 0; i < p.zero_point.numel(); ++i) {
    const double z = p.zero_point.data<float>()[i];
    if (!quant_io::is_integer_valued(z) || z < static_cast<double>(clo) || z > static_cast<double>(chi)) {
      return unsupported(where, ": zero point ", z, " is not an integer of the ", dtype_name(container), " container");
    }
  }
  QE_ASSIGN_OR_RETURN(int axis, qdq_axis(g, x, p, where));

  const std::string name = g.node(id).name;
  const ValueId out = g.node(id).outputs[0];
  const Value xv = g.value(x);
  Tensor q;
  if (is_const) {
    QE_ASSIGN_OR_RETURN(q, quantize_constant(xv.constant, p, axis, container, where));
  }
  Tensor zp(container, quant_io::flatten_channels(p.zero_point).shape());
  bool zp_all_zero = true;
  for (int64_t i = 0; i < zp.numel(); ++i) {
    const float z = p.zero_point.data<float>()[i];
    zp_all_zero = zp_all_zero && z == 0.f;
    if (dtype_is_packed(container)) {
      int4_set(zp.data<uint8_t>(), i, static_cast<int>(z));
    } else {
      write_element_from_double(zp.raw(), container, i, z);
    }
  }
  g.remove_node(id);
  const ValueId scale_v = g.add_constant(g.unique_value_name(name + "_y_scale"), quant_io::flatten_channels(p.scale.clone()));
  const ValueId zp_v = g.add_constant(g.unique_value_name(name + "_y_zero_point"), zp);
  Attributes qdq_attrs;
  if (p.scale.numel() > 1) qdq_attrs.set("axis", int64_t{axis});
  ValueId v;
  if (is_const) {
    v = g.add_constant(g.unique_value_name(xv.name + "_quantized"), std::move(q));
  } else {
    v = g.add_value(g.unique_value_name(name + "_quantized"), container, xv.shape, xv.shape_known);
    g.value(v).dim_params = xv.dim_params;
    g.add_node(OpKind::kQuantizeLinear, name + "_quantize", {x, scale_v, zp_v}, {v}, qdq_attrs);
  }
  // ONNX Clip has no int4 form; int4 constants are on the grid already.
  if ((p.min_int() != clo || p.max_int() != chi) && !dtype_is_packed(container)) {
    const ValueId lo = g.add_constant(g.unique_value_name(name + "_clip_min"), scalar_of(container, p.min_int()));
    const ValueId hi = g.add_constant(g.unique_value_name(name + "_clip_max"), scalar_of(container, p.max_int()));
    const Value& vv = g.value(v);
    const Shape shape = vv.is_constant() ? vv.constant.shape() : vv.shape;
    const bool known = vv.is_constant() || vv.shape_known;
    const std::vector<std::string> params = vv.is_constant() ? std::vector<std::string>(shape.rank(), "") : vv.dim_params;
    const ValueId clipped = g.add_value(g.unique_value_name(name + "_clipped"), container, shape, known);
    g.value(clipped).dim_params = params;
    g.add_node(OpKind::kClip, name + "_clip", {v, lo, hi}, {clipped});
    v = clipped;
  }
  // onnxruntime takes an int32 DequantizeLinear only with no (or an all-zero) zero point.
  std::vector<ValueId> dq_inputs = {v, scale_v};
  if (!(container == DType::kI32 && zp_all_zero)) dq_inputs.push_back(zp_v);
  g.add_node(OpKind::kDequantizeLinear, name, std::move(dq_inputs), {out}, qdq_attrs);
  return Status::ok();
}

bool uses_int4(const Graph& g) {
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    const Node& n = g.node(static_cast<NodeId>(i));
    if (!n.alive) continue;
    for (ValueId v : n.inputs) {
      if (v != kNoValue && dtype_is_packed(g.value(v).dtype)) return true;
    }
  }
  return false;
}

}  // namespace

Result<Graph> lower_to_qcdq(const Graph& src, const QcdqExportOptions& options) {
  Graph g = src;
  const size_t count = g.num_nodes();
  for (size_t i = 0; i < count; ++i) {
    const NodeId id = static_cast<NodeId>(i);
    if (!g.node(id).alive) continue;
    if (g.node(id).op == OpKind::kTrunc) {
      return unsupported(describe_node(g, id),
                         ": Trunc (quantized average pooling) has no QuantizeLinear/DequantizeLinear form; export "
                         "the graph as QONNX instead");
    }
    if (g.node(id).op == OpKind::kFakeQuant) QE_RETURN_IF_ERROR(lower_fake_quant(g, id, options));
  }
  return g;
}

Result<std::string> export_qcdq_bytes(const Graph& g, const QcdqExportOptions& options) {
  QE_ASSIGN_OR_RETURN(Graph lowered, lower_to_qcdq(g, options));
  OnnxExportOptions onnx = options.onnx;
  const bool int4 = uses_int4(lowered);
  // INT4 needs opset 21 (IR 10), which the linked checker refuses to look at (see
  // quant_export.h); the file is validated by importing it back instead.
  if (int4) onnx.check = false;
  QE_ASSIGN_OR_RETURN(std::string bytes, export_onnx_bytes(lowered, onnx));
  if (int4) {
    auto back = import_onnx_bytes(bytes.data(), bytes.size(), "", "exported QCDQ model");
    if (!back.is_ok()) return internal_error("the QCDQ model written does not import back: ", back.status().message());
  }
  return bytes;
}

Status export_qcdq(const Graph& g, const std::string& path, const QcdqExportOptions& options) {
  QE_ASSIGN_OR_RETURN(std::string bytes, export_qcdq_bytes(g, options));
  return write_file_atomically(path, bytes);
}

}  // namespace qe
