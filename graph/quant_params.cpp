#include "graph/quant_params.h"

#include <algorithm>
#include <cctype>

namespace qe {

namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string_view rounding_mode_name(RoundingMode m) {
  switch (m) {
    case RoundingMode::kHalfEven: return "ROUND";
    case RoundingMode::kHalfUp: return "HALF_UP";
    case RoundingMode::kHalfDown: return "HALF_DOWN";
    case RoundingMode::kUp: return "UP";
    case RoundingMode::kDown: return "DOWN";
    case RoundingMode::kCeil: return "CEIL";
    case RoundingMode::kFloor: return "FLOOR";
  }
  return "ROUND";
}

Result<RoundingMode> parse_rounding_mode(std::string_view s) {
  const std::string u = upper(s);
  if (u == "ROUND" || u == "HALF_EVEN" || u == "ROUND_HALF_EVEN") return RoundingMode::kHalfEven;
  if (u == "HALF_UP" || u == "ROUND_HALF_UP") return RoundingMode::kHalfUp;
  if (u == "HALF_DOWN" || u == "ROUND_HALF_DOWN") return RoundingMode::kHalfDown;
  if (u == "UP") return RoundingMode::kUp;
  if (u == "DOWN") return RoundingMode::kDown;
  if (u == "CEIL") return RoundingMode::kCeil;
  if (u == "FLOOR") return RoundingMode::kFloor;
  return invalid_argument("unknown rounding mode '", std::string(s),
                          "' (expected ROUND, HALF_EVEN, HALF_UP, HALF_DOWN, UP, DOWN, CEIL or FLOOR)");
}

std::string_view quant_kind_name(QuantKind k) {
  switch (k) {
    case QuantKind::kInt: return "int";
    case QuantKind::kBipolar: return "bipolar";
    case QuantKind::kFloat: return "float";
  }
  return "int";
}

Result<QuantKind> parse_quant_kind(std::string_view s) {
  if (s == "int") return QuantKind::kInt;
  if (s == "bipolar") return QuantKind::kBipolar;
  if (s == "float") return QuantKind::kFloat;
  return invalid_argument("unknown quantizer kind '", std::string(s), "' (expected int, bipolar or float)");
}

MinifloatFormat MinifloatFormat::e4m3() { return MinifloatFormat{}; }

MinifloatFormat MinifloatFormat::e5m2() {
  MinifloatFormat f;
  f.exponent_bits = 5;
  f.mantissa_bits = 2;
  f.exponent_bias = 15.0f;
  f.max_val = 57344.0f;
  f.has_inf = true;
  return f;
}

int64_t QuantParams::min_int() const {
  if (!is_signed) return 0;
  const int64_t m = -(int64_t{1} << (bits - 1));
  return narrow ? m + 1 : m;
}

int64_t QuantParams::max_int() const {
  if (!is_signed) {
    const int64_t m = (int64_t{1} << bits) - 1;
    return narrow ? m - 1 : m;
  }
  return (int64_t{1} << (bits - 1)) - 1;
}

Tensor scalar_tensor(float v) { return Tensor::scalar<float>(v); }

Attributes fake_quant_attributes(const QuantParams& p) {
  Attributes a;
  a.set("kind", std::string(quant_kind_name(p.kind)));
  a.set("bits", int64_t{p.bits});
  a.set("signed", int64_t{p.is_signed ? 1 : 0});
  a.set("narrow", int64_t{p.narrow ? 1 : 0});
  a.set("rounding_mode", std::string(rounding_mode_name(p.rounding)));
  a.set("axis", int64_t{p.axis});
  a.set("group_size", int64_t{p.group_size});
  a.set("po2", int64_t{p.po2 ? 1 : 0});
  if (p.kind == QuantKind::kFloat) {
    const MinifloatFormat& f = p.minifloat;
    a.set("exponent_bits", int64_t{f.exponent_bits});
    a.set("mantissa_bits", int64_t{f.mantissa_bits});
    a.set("exponent_bias", f.exponent_bias);
    a.set("max_val", f.max_val);
    a.set("has_inf", int64_t{f.has_inf ? 1 : 0});
    a.set("has_nan", int64_t{f.has_nan ? 1 : 0});
    a.set("has_subnormal", int64_t{f.has_subnormal ? 1 : 0});
    a.set("saturation", int64_t{f.saturation ? 1 : 0});
  }
  return a;
}

namespace {

Status check_params(const QuantParams& p, const std::string& where) {
  if (p.kind == QuantKind::kInt && (p.bits < 1 || p.bits > 32))
    return invalid_argument(where, ": integer bit width ", p.bits, " is outside 1..32");
  if (!p.scale.defined() || p.scale.dtype() != DType::kF32)
    return invalid_argument(where, ": scale must be a float32 tensor");
  if (p.zero_point.defined() && p.zero_point.dtype() != DType::kF32)
    return invalid_argument(where, ": zero point must be a float32 tensor");
  return Status::ok();
}

}  // namespace

Result<ValueId> add_fake_quant(Graph& g, ValueId x, const QuantParams& p, const std::string& name) {
  QE_RETURN_IF_ERROR(check_params(p, "quantizer '" + name + "'"));
  const Value& xv = g.value(x);
  const DType dtype = xv.dtype;
  const Shape shape = xv.shape;
  const bool known = xv.shape_known;
  const std::vector<std::string> dim_params = xv.dim_params;
  Tensor zp = p.zero_point.defined() ? p.zero_point : Tensor(DType::kF32, p.scale.shape());
  const ValueId scale = g.add_constant(g.unique_value_name(name + "_scale"), p.scale);
  const ValueId zero = g.add_constant(g.unique_value_name(name + "_zero_point"), zp);
  const ValueId out = g.add_value(g.unique_value_name(name + "_out"), dtype, shape, known);
  g.value(out).dim_params = dim_params;
  g.add_node(OpKind::kFakeQuant, name, {x, scale, zero}, {out}, fake_quant_attributes(p));
  return out;
}

Status set_quant_params(Graph& g, NodeId id, const QuantParams& p) {
  Node& n = g.node(id);
  if (n.op != OpKind::kFakeQuant) return internal_error(describe_node(g, id), " is not a FakeQuant node");
  QE_RETURN_IF_ERROR(check_params(p, describe_node(g, id)));
  Tensor zp = p.zero_point.defined() ? p.zero_point : Tensor(DType::kF32, p.scale.shape());
  const ValueId scale = g.add_constant(g.unique_value_name(n.name + "_scale"), p.scale);
  const ValueId zero = g.add_constant(g.unique_value_name(n.name + "_zero_point"), zp);
  g.set_node_input(id, 1, scale);
  g.set_node_input(id, 2, zero);
  g.node(id).attrs = fake_quant_attributes(p);
  return Status::ok();
}

Result<QuantParams> read_quant_params(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  const std::string where = describe_node(g, id);
  if (n.op != OpKind::kFakeQuant) return invalid_argument(where, " is not a FakeQuant node");
  if (n.inputs.size() < 2 || n.inputs[1] == kNoValue || !g.value(n.inputs[1]).is_constant())
    return invalid_argument(where, ": scale is not a constant");
  QuantParams p;
  const Attributes& a = n.attrs;
  QE_ASSIGN_OR_RETURN(std::string kind, a.get_string("kind", "int"));
  QE_ASSIGN_OR_RETURN(p.kind, parse_quant_kind(kind));
  QE_ASSIGN_OR_RETURN(int64_t bits, a.get_int("bits", 8));
  QE_ASSIGN_OR_RETURN(int64_t sgn, a.get_int("signed", 1));
  QE_ASSIGN_OR_RETURN(int64_t narrow, a.get_int("narrow", 0));
  QE_ASSIGN_OR_RETURN(std::string rounding, a.get_string("rounding_mode", "ROUND"));
  QE_ASSIGN_OR_RETURN(p.rounding, parse_rounding_mode(rounding));
  QE_ASSIGN_OR_RETURN(int64_t axis, a.get_int("axis", -1));
  QE_ASSIGN_OR_RETURN(int64_t group, a.get_int("group_size", 0));
  QE_ASSIGN_OR_RETURN(int64_t po2, a.get_int("po2", 0));
  p.bits = static_cast<int>(bits);
  p.is_signed = sgn != 0;
  p.narrow = narrow != 0;
  p.axis = static_cast<int>(axis);
  p.group_size = static_cast<int>(group);
  p.po2 = po2 != 0;
  if (p.kind == QuantKind::kFloat) {
    MinifloatFormat& f = p.minifloat;
    QE_ASSIGN_OR_RETURN(int64_t e, a.get_int("exponent_bits", 4));
    QE_ASSIGN_OR_RETURN(int64_t m, a.get_int("mantissa_bits", 3));
    QE_ASSIGN_OR_RETURN(f.exponent_bias, a.get_float("exponent_bias", 7.0f));
    QE_ASSIGN_OR_RETURN(f.max_val, a.get_float("max_val", 448.0f));
    QE_ASSIGN_OR_RETURN(int64_t inf, a.get_int("has_inf", 0));
    QE_ASSIGN_OR_RETURN(int64_t nan, a.get_int("has_nan", 1));
    QE_ASSIGN_OR_RETURN(int64_t sub, a.get_int("has_subnormal", 1));
    QE_ASSIGN_OR_RETURN(int64_t sat, a.get_int("saturation", 1));
    f.exponent_bits = static_cast<int>(e);
    f.mantissa_bits = static_cast<int>(m);
    f.has_inf = inf != 0;
    f.has_nan = nan != 0;
    f.has_subnormal = sub != 0;
    f.saturation = sat != 0;
  }
  const Tensor& scale = g.value(n.inputs[1]).constant;
  p.scale = scale.dtype() == DType::kF32 ? scale : Tensor::from_vector(scale.shape(), scale.to_float_vector());
  if (n.inputs.size() >= 3 && n.inputs[2] != kNoValue) {
    const Value& zv = g.value(n.inputs[2]);
    if (!zv.is_constant()) return invalid_argument(where, ": zero point is not a constant");
    p.zero_point = zv.constant.dtype() == DType::kF32
                       ? zv.constant
                       : Tensor::from_vector(zv.constant.shape(), zv.constant.to_float_vector());
  } else {
    p.zero_point = Tensor(DType::kF32, p.scale.shape());
  }
  if (p.kind == QuantKind::kInt && (p.bits < 1 || p.bits > 32))
    return invalid_argument(where, ": integer bit width ", p.bits, " is outside 1..32");
  return p;
}

}  // namespace qe
