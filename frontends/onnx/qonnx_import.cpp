#include "frontends/onnx/qonnx_import.h"

#include <cmath>
#include <initializer_list>

#include "frontends/onnx/quant_io_util.h"
#include "graph/quant_params.h"

namespace qe {

using quant_io::is_integer_valued;

namespace {

// Attributes the QONNX spec defines for each op; anything else is a spelling we would
// otherwise ignore silently, so it is an error.
Status check_attrs(const Node& n, std::initializer_list<const char*> allowed, const std::string& what) {
  for (const auto& [k, v] : n.attrs.items()) {
    (void)v;
    bool ok = false;
    for (const char* a : allowed) ok = ok || k == a;
    if (!ok) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return invalid_argument(what, ": unknown attribute '", k, "' (expected ", list.empty() ? "none" : list, ")");
    }
  }
  return Status::ok();
}

Result<bool> flag(const Node& n, const char* name, bool def, const std::string& what) {
  auto v = n.attrs.get_int(name, def ? 1 : 0);
  if (!v.is_ok()) return v.status().with_context(what + ": ");
  if (*v != 0 && *v != 1) return invalid_argument(what, ": attribute '", name, "' must be 0 or 1, is ", *v);
  return *v == 1;
}

Result<RoundingMode> rounding(const Node& n, const char* def, const std::string& what) {
  auto s = n.attrs.get_string("rounding_mode", def);
  if (!s.is_ok()) return s.status().with_context(what + ": ");
  auto m = parse_rounding_mode(*s);
  if (!m.is_ok()) return m.status().with_context(what + ": ");
  return *m;
}

// Input `index` as a float32 constant; QONNX parameters are initializers, never computed.
Result<Tensor> const_input(const Graph& g, const Node& n, size_t index, const char* name, const std::string& what) {
  if (index >= n.inputs.size() || n.inputs[index] == kNoValue) {
    return invalid_argument(what, ": input ", index, " (", name, ") is missing");
  }
  const Value& v = g.value(n.inputs[index]);
  if (!v.is_constant()) {
    return invalid_argument(what, ": input ", index, " (", name, ") must be a constant initializer, but '", v.name,
                            "' is computed by the graph");
  }
  if (!dtype_is_float(v.constant.dtype()) && v.constant.dtype() != DType::kI32 && v.constant.dtype() != DType::kI64 &&
      v.constant.dtype() != DType::kI8 && v.constant.dtype() != DType::kU8) {
    return invalid_argument(what, ": input ", index, " (", name, ") has element type ", dtype_name(v.constant.dtype()),
                            ", expected a number");
  }
  return quant_io::to_f32(v.constant);
}

// A bit width (or another small integer parameter): one value holding an integer in [lo, hi].
// Float tensors are allowed, as the spec says, as long as they hold an integer.
Result<int> integer_scalar(const Tensor& t, const char* name, const std::string& what, int lo, int hi) {
  if (t.numel() != 1) {
    return unsupported(what, ": ", name, " has shape ", t.shape().to_string(), "; only a single value is supported");
  }
  const double v = t.data<float>()[0];
  if (!is_integer_valued(v)) return invalid_argument(what, ": ", name, " ", v, " is not an integer");
  if (v < lo || v > hi) return invalid_argument(what, ": ", name, " ", v, " is outside ", lo, "..", hi);
  return static_cast<int>(v);
}

Result<float> float_scalar(const Tensor& t, const char* name, const std::string& what) {
  if (t.numel() != 1) {
    return unsupported(what, ": ", name, " has shape ", t.shape().to_string(), "; only a single value is supported");
  }
  const float v = t.data<float>()[0];
  if (!std::isfinite(v)) return invalid_argument(what, ": ", name, " is not finite");
  return v;
}

Status check_scale(const Tensor& s, const char* name, const std::string& what) {
  const float* p = s.data<float>();
  for (int64_t i = 0; i < s.numel(); ++i) {
    if (!(std::isfinite(p[i]) && p[i] > 0)) {
      return invalid_argument(what, ": ", name, " must be positive and finite, element ", i, " is ", p[i]);
    }
  }
  return Status::ok();
}

Status check_zero_point(const Tensor& z, const std::string& what) {
  const float* p = z.data<float>();
  for (int64_t i = 0; i < z.numel(); ++i) {
    if (!is_integer_valued(p[i])) {
      return unsupported(what, ": zero point element ", i, " is ", p[i],
                         "; only integer zero points are supported");
    }
  }
  return Status::ok();
}

Tensor filled(const Shape& shape, float v) {
  Tensor t(DType::kF32, shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = v;
  return t;
}

bool all_powers_of_two(const Tensor& s) {
  const float* p = s.data<float>();
  for (int64_t i = 0; i < s.numel(); ++i) {
    int e = 0;
    if (std::frexp(p[i], &e) != 0.5f) return false;
  }
  return true;
}

// Scale and zero point of one quantizer: same shape (a single value is spread to the other's
// shape), the channel axis derived from that shape against X.
Status set_scale_zero_point(const Graph& g, const Node& n, Tensor scale, Tensor zp, QuantParams* p,
                            const std::string& what) {
  QE_RETURN_IF_ERROR(check_scale(scale, "scale", what));
  QE_RETURN_IF_ERROR(check_zero_point(zp, what));
  if (scale.shape() != zp.shape()) {
    if (zp.numel() == 1) {
      zp = filled(scale.shape(), zp.data<float>()[0]);
    } else if (scale.numel() == 1) {
      scale = filled(zp.shape(), scale.data<float>()[0]);
    } else {
      return unsupported(what, ": scale ", scale.shape().to_string(), " and zero point ", zp.shape().to_string(),
                         " have different shapes");
    }
  }
  QE_ASSIGN_OR_RETURN(p->axis, quant_io::channel_axis(scale.shape(), quant_io::known_rank(g, n.inputs[0]),
                                                      what + ": scale"));
  p->po2 = all_powers_of_two(scale);
  p->scale = std::move(scale);
  p->zero_point = std::move(zp);
  return Status::ok();
}

// Drops inputs from `count` on (the parameters that became attributes).
void keep_inputs(Graph& g, NodeId id, size_t count) {
  for (size_t i = g.node(id).inputs.size(); i > count; --i) g.set_node_input(id, static_cast<int>(i - 1), kNoValue);
  g.node(id).inputs.resize(count);
}

Status expect_inputs(const Node& n, size_t want, const char* layout, const std::string& what) {
  if (n.inputs.size() != want) {
    return invalid_argument(what, ": takes ", want, " inputs (", layout, "), has ", n.inputs.size());
  }
  return Status::ok();
}

Status convert_int_quant(Graph& g, NodeId id, const std::string& what) {
  const Node& n = g.node(id);
  QE_RETURN_IF_ERROR(expect_inputs(n, 4, "X, scale, zeropt, bitwidth", what));
  QE_RETURN_IF_ERROR(check_attrs(n, {"signed", "narrow", "rounding_mode"}, what));
  QuantParams p;
  p.kind = QuantKind::kInt;
  QE_ASSIGN_OR_RETURN(Tensor scale, const_input(g, n, 1, "scale", what));
  QE_ASSIGN_OR_RETURN(Tensor zp, const_input(g, n, 2, "zeropt", what));
  QE_ASSIGN_OR_RETURN(Tensor bw, const_input(g, n, 3, "bitwidth", what));
  QE_ASSIGN_OR_RETURN(p.bits, integer_scalar(bw, "bitwidth", what, 1, 32));
  QE_ASSIGN_OR_RETURN(p.is_signed, flag(n, "signed", true, what));
  // The spec's default for narrow is 0; the qonnx implementation defaults to 1. Writers that
  // care (Brevitas, our exporter) spell it out, and a reader must follow the spec.
  QE_ASSIGN_OR_RETURN(p.narrow, flag(n, "narrow", false, what));
  QE_ASSIGN_OR_RETURN(p.rounding, rounding(n, "ROUND", what));
  if (p.narrow && p.bits < 2) return invalid_argument(what, ": a narrow range of 1 bit holds only 0");
  QE_RETURN_IF_ERROR(set_scale_zero_point(g, n, std::move(scale), std::move(zp), &p, what));
  QE_RETURN_IF_ERROR(set_quant_params(g, id, p));
  keep_inputs(g, id, 3);
  return Status::ok();
}

Status convert_bipolar_quant(Graph& g, NodeId id, const std::string& what) {
  const Node& n = g.node(id);
  QE_RETURN_IF_ERROR(expect_inputs(n, 2, "X, scale", what));
  QE_RETURN_IF_ERROR(check_attrs(n, {}, what));
  QuantParams p;
  p.kind = QuantKind::kBipolar;
  p.bits = 1;
  QE_ASSIGN_OR_RETURN(Tensor scale, const_input(g, n, 1, "scale", what));
  Tensor zp(DType::kF32, scale.shape());
  QE_RETURN_IF_ERROR(set_scale_zero_point(g, n, std::move(scale), std::move(zp), &p, what));
  return set_quant_params(g, id, p);
}

Status convert_float_quant(Graph& g, NodeId id, const std::string& what) {
  const Node& n = g.node(id);
  QE_RETURN_IF_ERROR(expect_inputs(n, 6, "X, scale, exponent_bitwidth, mantissa_bitwidth, exponent_bias, max_val", what));
  // The spec spells it has_infinity, the qonnx implementation and Brevitas has_inf.
  QE_RETURN_IF_ERROR(check_attrs(
      n, {"has_inf", "has_infinity", "has_nan", "has_subnormal", "saturation", "rounding_mode", "signed"}, what));
  QuantParams p;
  p.kind = QuantKind::kFloat;
  MinifloatFormat& f = p.minifloat;
  QE_ASSIGN_OR_RETURN(Tensor scale, const_input(g, n, 1, "scale", what));
  QE_ASSIGN_OR_RETURN(Tensor e, const_input(g, n, 2, "exponent_bitwidth", what));
  QE_ASSIGN_OR_RETURN(Tensor m, const_input(g, n, 3, "mantissa_bitwidth", what));
  QE_ASSIGN_OR_RETURN(Tensor bias, const_input(g, n, 4, "exponent_bias", what));
  QE_ASSIGN_OR_RETURN(Tensor max_val, const_input(g, n, 5, "max_val", what));
  QE_ASSIGN_OR_RETURN(f.exponent_bits, integer_scalar(e, "exponent_bitwidth", what, 1, 11));
  QE_ASSIGN_OR_RETURN(f.mantissa_bits, integer_scalar(m, "mantissa_bitwidth", what, 0, 23));
  QE_ASSIGN_OR_RETURN(f.exponent_bias, float_scalar(bias, "exponent_bias", what));
  QE_ASSIGN_OR_RETURN(f.max_val, float_scalar(max_val, "max_val", what));
  if (!(f.max_val > 0)) return invalid_argument(what, ": max_val must be positive, is ", f.max_val);
  QE_ASSIGN_OR_RETURN(bool signed_attr, flag(n, "signed", true, what));
  if (!signed_attr) return unsupported(what, ": unsigned minifloat (signed=0) is not supported");
  const bool spec_name = n.attrs.has("has_infinity");
  if (spec_name && n.attrs.has("has_inf")) {
    QE_ASSIGN_OR_RETURN(bool a, flag(n, "has_inf", false, what));
    QE_ASSIGN_OR_RETURN(bool b, flag(n, "has_infinity", false, what));
    if (a != b) return invalid_argument(what, ": has_inf and has_infinity disagree");
  }
  // Defaults are the spec's (has_subnormal 1); the qonnx implementation requires all four.
  QE_ASSIGN_OR_RETURN(f.has_inf, flag(n, spec_name ? "has_infinity" : "has_inf", false, what));
  QE_ASSIGN_OR_RETURN(f.has_nan, flag(n, "has_nan", false, what));
  QE_ASSIGN_OR_RETURN(f.has_subnormal, flag(n, "has_subnormal", true, what));
  QE_ASSIGN_OR_RETURN(f.saturation, flag(n, "saturation", true, what));
  QE_ASSIGN_OR_RETURN(p.rounding, rounding(n, "ROUND", what));
  p.bits = 1 + f.exponent_bits + f.mantissa_bits;
  Tensor zp(DType::kF32, scale.shape());
  QE_RETURN_IF_ERROR(set_scale_zero_point(g, n, std::move(scale), std::move(zp), &p, what));
  QE_RETURN_IF_ERROR(set_quant_params(g, id, p));
  keep_inputs(g, id, 3);
  return Status::ok();
}

// Trunc's version follows the opset the file imports for its domain (the two versions share
// the op name); the input count must agree with it.
Status convert_trunc(Graph& g, NodeId id, const std::string& domain, int64_t domain_opset, const std::string& what) {
  const Node& n = g.node(id);
  int version = 0;
  if (domain_opset == 0) {
    if (n.inputs.size() == 5) version = 1;
    if (n.inputs.size() == 6) version = 2;
    if (version == 0) {
      return invalid_argument(what, ": takes 5 inputs (Trunc v1) or 6 (Trunc v2), has ", n.inputs.size());
    }
  } else {
    version = domain_opset >= 2 ? 2 : 1;
    const size_t want = version == 1 ? 5 : 6;
    if (n.inputs.size() != want) {
      return invalid_argument(what, ": domain '", domain, "' is imported at opset ", domain_opset, ", where Trunc (v",
                              version, ") takes ", want, " inputs (",
                              version == 1 ? "X, scale, zeropt, in_bitwidth, out_bitwidth"
                                           : "X, scale, zeropt, in_bitwidth, out_scale, out_bitwidth",
                              "), but the node has ", n.inputs.size());
    }
  }
  if (version == 1) {
    QE_RETURN_IF_ERROR(check_attrs(n, {"rounding_mode"}, what));
  } else {
    QE_RETURN_IF_ERROR(check_attrs(n, {"rounding_mode", "signed", "narrow"}, what));
  }
  QE_ASSIGN_OR_RETURN(Tensor scale, const_input(g, n, 1, "scale", what));
  QE_ASSIGN_OR_RETURN(Tensor zp, const_input(g, n, 2, "zeropt", what));
  QE_ASSIGN_OR_RETURN(Tensor in_bw, const_input(g, n, 3, "in_bitwidth", what));
  // v1 has no output scale (its result stays on the input scale): input 4 is left empty.
  Tensor out_scale = scale;
  if (version == 2) {
    QE_ASSIGN_OR_RETURN(out_scale, const_input(g, n, 4, "out_scale", what));
  }
  QE_ASSIGN_OR_RETURN(Tensor out_bw, const_input(g, n, version == 1 ? 4 : 5, "out_bitwidth", what));
  QE_RETURN_IF_ERROR(check_scale(scale, "scale", what));
  QE_RETURN_IF_ERROR(check_scale(out_scale, "out_scale", what));
  QE_RETURN_IF_ERROR(check_zero_point(zp, what));
  QE_ASSIGN_OR_RETURN(int in_bits, integer_scalar(in_bw, "in_bitwidth", what, 1, 32));
  QE_ASSIGN_OR_RETURN(int out_bits, integer_scalar(out_bw, "out_bitwidth", what, 1, 32));
  QE_ASSIGN_OR_RETURN(RoundingMode mode, rounding(n, "FLOOR", what));
  QE_ASSIGN_OR_RETURN(bool is_signed, flag(n, "signed", true, what));
  QE_ASSIGN_OR_RETURN(bool narrow, flag(n, "narrow", false, what));
  const std::string base = n.name;
  const Tensor params[5] = {scale, zp, Tensor::scalar<float>(static_cast<float>(in_bits)), out_scale,
                            Tensor::scalar<float>(static_cast<float>(out_bits))};
  const char* names[5] = {"_scale", "_zero_point", "_in_bits", "_out_scale", "_out_bits"};
  for (int i = 0; i < 5; ++i) {
    const bool absent = version == 1 && i == 3;
    const ValueId c = absent ? kNoValue : g.add_constant(g.unique_value_name(base + names[i]), params[i]);
    g.set_node_input(id, i + 1, c);
  }
  Attributes a;
  a.set("rounding_mode", std::string(rounding_mode_name(mode)));
  a.set("signed", int64_t{is_signed ? 1 : 0});
  a.set("narrow", int64_t{narrow ? 1 : 0});
  a.set("version", int64_t{version});
  g.node(id).attrs = std::move(a);
  return Status::ok();
}

}  // namespace

bool is_qonnx_domain(std::string_view domain) {
  return domain == "qonnx.custom_op.general" || domain == "onnx.brevitas" || domain == "finn.custom_op.general";
}

std::optional<OpKind> qonnx_op_kind(std::string_view op_type) {
  if (op_type == "Quant" || op_type == "IntQuant" || op_type == "BipolarQuant" || op_type == "FloatQuant") {
    return OpKind::kFakeQuant;
  }
  if (op_type == "Trunc") return OpKind::kTrunc;
  return std::nullopt;
}

Status convert_qonnx_node(Graph& g, NodeId id, const std::string& op_type, const std::string& domain,
                          int64_t domain_opset) {
  const std::string what = str_cat("node '", g.node(id).name, "' (", op_type, ", domain ", domain, ")");
  if (op_type == "Quant" || op_type == "IntQuant") return convert_int_quant(g, id, what);
  if (op_type == "BipolarQuant") return convert_bipolar_quant(g, id, what);
  if (op_type == "FloatQuant") return convert_float_quant(g, id, what);
  if (op_type == "Trunc") return convert_trunc(g, id, domain, domain_opset, what);
  return unsupported(what, ": is not a QONNX quantizer op");
}

}  // namespace qe
