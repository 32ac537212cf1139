#include "graph/schemas/quant_attrs.h"

namespace qe {

Status check_param_broadcast(const Shape& x, const Shape& param, const char* what) {
  const size_t r = x.rank(), pr = param.rank();
  for (size_t k = 0; k < pr; ++k) {
    const int64_t p = param[k];
    if (p == 1 || p < 0) continue;
    if (k + r < pr) {
      return invalid_argument(what, " has shape ", param.to_string(), ", more dimensions than the input's ",
                              x.to_string());
    }
    const int64_t d = x[k + r - pr];
    if (d >= 0 && p != d) {
      return invalid_argument(what, " has shape ", param.to_string(), ", which does not broadcast against the input's ",
                              x.to_string(), " (each dim must be 1 or the input's)");
    }
  }
  return Status::ok();
}

namespace {

bool same_known_shape(const Shape& a, const Shape& b) {
  if (a.is_known() && b.is_known() && a.numel() == 1 && b.numel() == 1) return true;  // [] and [1]
  if (a.rank() != b.rank()) return false;
  for (size_t k = 0; k < a.rank(); ++k) {
    if (a[k] >= 0 && b[k] >= 0 && a[k] != b[k]) return false;
  }
  return true;
}

}  // namespace

Result<QdqGeometry> resolve_qdq_geometry(const Attributes& attrs, const Shape& x, const Shape& scale,
                                         const Shape* zero_point) {
  QE_ASSIGN_OR_RETURN(int64_t axis, attrs.get_int("axis", 1));
  QE_ASSIGN_OR_RETURN(int64_t block, attrs.get_int("block_size", 0));
  if (block < 0) return invalid_argument("attribute 'block_size' is ", block, ", expected >= 0");
  if (zero_point && !same_known_shape(scale, *zero_point)) {
    return invalid_argument("zero point shape ", zero_point->to_string(), " differs from the scale shape ",
                            scale.to_string());
  }
  const int64_t rank = static_cast<int64_t>(x.rank());
  QdqGeometry g;
  if (block > 0) {
    QE_ASSIGN_OR_RETURN(g.axis, normalize_axis(axis, rank));
    g.mode = QdqGeometry::Mode::kBlocked;
    g.block_size = block;
    if (scale.rank() != x.rank()) {
      return invalid_argument("blocked quantization needs a scale of the input's rank ", rank, ", got shape ",
                              scale.to_string());
    }
    for (int64_t k = 0; k < rank; ++k) {
      const int64_t d = x[static_cast<size_t>(k)], s = scale[static_cast<size_t>(k)];
      if (d < 0 || s < 0) continue;
      const int64_t want = k == g.axis ? (d + block - 1) / block : d;
      if (s != want) {
        return invalid_argument("scale shape ", scale.to_string(), " does not match input shape ", x.to_string(),
                                " with block_size ", block, " along axis ", g.axis, " (dim ", k, " should be ", want,
                                ")");
      }
    }
    return g;
  }
  bool single = true;
  for (int64_t d : scale) single = single && d == 1;
  if (single && scale.rank() <= 1) return g;
  if (scale.rank() != 1) {
    return invalid_argument("scale has shape ", scale.to_string(),
                            "; expected a scalar, a 1-D per-axis scale, or block_size for blocked quantization");
  }
  QE_ASSIGN_OR_RETURN(g.axis, normalize_axis(axis, rank));
  g.mode = QdqGeometry::Mode::kPerAxis;
  const int64_t d = x[static_cast<size_t>(g.axis)];
  if (d >= 0 && scale[0] >= 0 && scale[0] != d) {
    return invalid_argument("per-axis scale has ", scale[0], " values but input dim ", g.axis, " is ", d);
  }
  return g;
}

bool qdq_integer_dtype(DType t, bool allow_int32) {
  switch (t) {
    case DType::kU8:
    case DType::kI8:
    case DType::kU16:
    case DType::kI16:
    case DType::kU4:
    case DType::kI4: return true;
    case DType::kI32: return allow_int32;
    default: return false;
  }
}

Result<DType> quantize_linear_output_dtype(const Attributes& attrs, std::optional<DType> zero_point) {
  QE_ASSIGN_OR_RETURN(int64_t code, attrs.get_int("output_dtype", 0));
  std::optional<DType> from_attr;
  switch (code) {
    case 0: break;
    case 2: from_attr = DType::kU8; break;
    case 3: from_attr = DType::kI8; break;
    case 4: from_attr = DType::kU16; break;
    case 5: from_attr = DType::kI16; break;
    case 21: from_attr = DType::kU4; break;
    case 22: from_attr = DType::kI4; break;
    case 17:
    case 18:
    case 19:
    case 20: return unsupported("output_dtype ", code, " is a float8 type, which qengine does not support");
    default: return invalid_argument("attribute 'output_dtype' is ", code, ", not a QuantizeLinear output type");
  }
  if (zero_point) {
    if (!qdq_integer_dtype(*zero_point, false)) {
      return unsupported("zero point dtype ", dtype_name(*zero_point),
                         " is not supported (expected uint8, int8, uint16, int16, uint4 or int4)");
    }
    if (from_attr && *from_attr != *zero_point) {
      return invalid_argument("attribute 'output_dtype' (", dtype_name(*from_attr), ") differs from the zero point's dtype ",
                              dtype_name(*zero_point));
    }
    return *zero_point;
  }
  return from_attr.value_or(DType::kU8);
}

Result<TruncInputs> resolve_trunc_inputs(const Attributes& attrs, int num_inputs) {
  QE_ASSIGN_OR_RETURN(int64_t version, attrs.get_int("version", 2));
  TruncInputs t;
  if (version == 2) {
    if (num_inputs < 6) return invalid_argument("Trunc v2 has ", num_inputs, " inputs, expected 6");
    return t;
  }
  if (version != 1) return invalid_argument("attribute 'version' is ", version, ", expected 1 or 2");
  if (num_inputs < 5) return invalid_argument("Trunc v1 has ", num_inputs, " inputs, expected 5");
  t.version = 1;
  t.out_scale = -1;
  t.out_bits = num_inputs == 5 ? 4 : 5;
  return t;
}

}  // namespace qe
