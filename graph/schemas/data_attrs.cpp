// Parameter resolution for the data-movement family (see data_attrs.h).
#include "graph/schemas/data_attrs.h"

#include <algorithm>
#include <cmath>

namespace qe {

Result<std::vector<int64_t>> normalize_axes(const std::vector<int64_t>& axes, int64_t rank, const char* what) {
  std::vector<int64_t> out;
  std::vector<bool> seen(static_cast<size_t>(std::max<int64_t>(rank, 0)), false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) return invalid_argument(what, " has axis ", a, ", out of range for rank ", rank);
    int64_t n = a < 0 ? a + rank : a;
    if (seen[static_cast<size_t>(n)]) return invalid_argument(what, " repeats axis ", a);
    seen[static_cast<size_t>(n)] = true;
    out.push_back(n);
  }
  return out;
}

Result<Shape> reshape_output_shape(const Shape& in, const std::vector<int64_t>& target, bool allowzero, ValueId self) {
  std::vector<int64_t> out(target.size(), kUnknownDim);
  std::vector<bool> copied(in.rank(), false);  // input dims carried over by a 0
  int infer_at = -1;
  bool target_known = true;
  int64_t explicit_product = 1;  // of the target's explicit (not copied, not -1) dims
  bool has_zero = false;
  // Dims copied by a 0 are taken first so that a symbol never claims them as well.
  for (size_t i = 0; i < target.size() && i < in.rank(); ++i) copied[i] = target[i] == 0 && !allowzero;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t t = target[i];
    ValueId sym_value;
    int64_t sym_dim;
    if (symbol_dim(t, &sym_value, &sym_dim) && sym_value == self && self != kNoValue &&
        static_cast<size_t>(sym_dim) < in.rank() && !copied[static_cast<size_t>(sym_dim)]) {
      // Shape(x)[d] fed back into Reshape(x, ...): the same dim on both sides.
      out[i] = in[static_cast<size_t>(sym_dim)];
      copied[static_cast<size_t>(sym_dim)] = true;
    } else if (is_unknown_value(t)) {
      target_known = false;
    } else if (t == -1) {
      if (infer_at >= 0) return invalid_argument("shape has more than one -1 (at ", infer_at, " and ", i, ")");
      infer_at = static_cast<int>(i);
    } else if (t < -1) {
      return invalid_argument("shape has invalid value ", t, " at index ", i);
    } else if (t == 0 && !allowzero) {
      if (i >= in.rank()) {
        return invalid_argument("shape has 0 at index ", i, " (copy the input dim) but the input ", in.to_string(),
                                " has rank ", in.rank());
      }
      out[i] = in[i];
      copied[i] = true;
    } else {
      out[i] = t;
      // Saturates past the element limit (the counts then cannot match) instead of overflowing.
      explicit_product = t != 0 && explicit_product > kMaxTensorElements / t ? kMaxTensorElements + 1
                                                                             : explicit_product * t;
      has_zero = has_zero || t == 0;
    }
  }
  if (allowzero && infer_at >= 0 && has_zero) return invalid_argument("shape has both 0 (with allowzero=1) and -1");
  if (!target_known) return Shape(out);
  // Copied dims appear on both sides and cancel, so they may stay unknown (torch's [0, -1]).
  int64_t rest = 1;
  for (size_t i = 0; i < in.rank(); ++i) {
    if (copied[i]) continue;
    if (in[i] < 0) return Shape(out);
    rest *= in[i];
    if (rest > kMaxTensorElements) return out_of_range("input ", in.to_string(), " has too many elements");
  }
  for (size_t i = 0; i < in.rank(); ++i) {
    if (copied[i] && in[i] == 0 && infer_at >= 0) {
      return invalid_argument("cannot reshape ", in.to_string(), " to ", Shape(target).to_string(),
                              ": the -1 is ambiguous for an empty tensor");
    }
  }
  if (infer_at >= 0) {
    if (explicit_product == 0 || rest % explicit_product != 0) {
      return invalid_argument("cannot reshape ", in.to_string(), " to ", Shape(target).to_string(), ": ", rest,
                              " elements are not a multiple of ", explicit_product);
    }
    out[static_cast<size_t>(infer_at)] = rest / explicit_product;
  } else if (explicit_product != rest) {
    return invalid_argument("cannot reshape ", in.to_string(), " to ", Shape(target).to_string(), ": element counts ",
                            rest, " and ", explicit_product, " differ");
  }
  return Shape(out);
}

Result<Shape> flatten_output_shape(const Shape& in, int64_t axis) {
  int64_t rank = static_cast<int64_t>(in.rank());
  if (axis < -rank || axis > rank) return invalid_argument("axis ", axis, " is out of range for rank ", rank);
  if (axis < 0) axis += rank;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t& p = i < axis ? outer : inner;
    int64_t d = in[static_cast<size_t>(i)];
    p = (p < 0 || d < 0) ? kUnknownDim : p * d;
  }
  // A zero-size dim makes the product known even next to unknown dims.
  for (int64_t i = 0; i < rank; ++i) {
    if (in[static_cast<size_t>(i)] == 0) (i < axis ? outer : inner) = 0;
  }
  return Shape{outer, inner};
}

Result<Shape> unsqueeze_output_shape(const Shape& in, const std::vector<int64_t>& axes) {
  int64_t out_rank = static_cast<int64_t>(in.rank() + axes.size());
  QE_ASSIGN_OR_RETURN(std::vector<int64_t> norm, normalize_axes(axes, out_rank, "axes"));
  std::vector<bool> is_new(static_cast<size_t>(out_rank), false);
  for (int64_t a : norm) is_new[static_cast<size_t>(a)] = true;
  std::vector<int64_t> out;
  size_t j = 0;
  for (int64_t i = 0; i < out_rank; ++i) out.push_back(is_new[static_cast<size_t>(i)] ? 1 : in[j++]);
  return Shape(out);
}

Result<Shape> squeeze_output_shape(const Shape& in, const std::vector<int64_t>& axes, bool axes_given) {
  int64_t rank = static_cast<int64_t>(in.rank());
  std::vector<bool> drop(in.rank(), false);
  if (axes_given) {
    QE_ASSIGN_OR_RETURN(std::vector<int64_t> norm, normalize_axes(axes, rank, "axes"));
    for (int64_t a : norm) {
      int64_t d = in[static_cast<size_t>(a)];
      if (d >= 0 && d != 1) {
        return invalid_argument("cannot squeeze axis ", a, " of shape ", in.to_string(), ": its size is ", d, ", not 1");
      }
      drop[static_cast<size_t>(a)] = true;
    }
  } else {
    for (size_t i = 0; i < in.rank(); ++i) {
      if (in[i] < 0) return invalid_argument("squeeze without axes needs known dims, got ", in.to_string());
      drop[i] = in[i] == 1;
    }
  }
  std::vector<int64_t> out;
  for (size_t i = 0; i < in.rank(); ++i) {
    if (!drop[i]) out.push_back(in[i]);
  }
  return Shape(out);
}

std::pair<int64_t, int64_t> shape_op_range(int64_t start, int64_t end, int64_t rank) {
  auto clamp = [&](int64_t v) {
    if (v < 0) v += rank;
    return std::clamp<int64_t>(v, 0, rank);
  };
  int64_t b = clamp(start), e = clamp(end);
  return {b, std::max(b, e)};
}

Result<SliceParams> resolve_slice(const Shape& in, const std::vector<int64_t>& starts, const std::vector<int64_t>& ends,
                                  const std::vector<int64_t>* axes, const std::vector<int64_t>* steps) {
  int64_t rank = static_cast<int64_t>(in.rank());
  size_t k = starts.size();
  if (ends.size() != k) return invalid_argument("starts has ", k, " values but ends has ", ends.size());
  if (axes && axes->size() != k) return invalid_argument("starts has ", k, " values but axes has ", axes->size());
  if (steps && steps->size() != k) return invalid_argument("starts has ", k, " values but steps has ", steps->size());
  std::vector<int64_t> ax(k);
  if (axes) {
    QE_ASSIGN_OR_RETURN(ax, normalize_axes(*axes, rank, "axes"));
  } else {
    if (static_cast<int64_t>(k) > rank) return invalid_argument("starts has ", k, " values for an input of rank ", rank);
    for (size_t i = 0; i < k; ++i) ax[i] = static_cast<int64_t>(i);
  }
  SliceParams p;
  p.start.assign(in.rank(), 0);
  p.step.assign(in.rank(), 1);
  p.length.assign(in.begin(), in.end());
  for (size_t i = 0; i < k; ++i) {
    size_t a = static_cast<size_t>(ax[i]);
    int64_t step = steps ? (*steps)[i] : 1;
    if (step == 0) return invalid_argument("steps has 0 for axis ", ax[i]);
    p.step[a] = step;
    int64_t dim = in[a];
    if (dim < 0 || is_unknown_value(starts[i]) || is_unknown_value(ends[i]) || is_unknown_value(step)) {
      p.length[a] = kUnknownDim;
      continue;
    }
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    int64_t len;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      len = e > s ? (e - s + step - 1) / step : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      len = s > e ? (s - e + (-step) - 1) / (-step) : 0;
    }
    p.start[a] = len > 0 ? s : 0;
    p.length[a] = len;
  }
  return p;
}

Result<PadMode> pad_mode_from_attrs(const Attributes& attrs) {
  QE_ASSIGN_OR_RETURN(std::string mode, attrs.get_string("mode", "constant"));
  if (mode == "constant") return PadMode::kConstant;
  if (mode == "reflect") return PadMode::kReflect;
  if (mode == "edge") return PadMode::kEdge;
  if (mode == "wrap") return PadMode::kWrap;
  return invalid_argument("attribute 'mode' has unknown value '", mode, "'");
}

Result<PadParams> resolve_pads(int64_t rank, const std::vector<int64_t>& pads, const std::vector<int64_t>* axes,
                               PadMode mode) {
  std::vector<int64_t> ax;
  if (axes) {
    QE_ASSIGN_OR_RETURN(ax, normalize_axes(*axes, rank, "axes"));
  } else {
    for (int64_t i = 0; i < rank; ++i) ax.push_back(i);
  }
  if (pads.size() != 2 * ax.size()) {
    return invalid_argument("pads has ", pads.size(), " values, expected ", 2 * ax.size(), " (2 per padded axis)");
  }
  PadParams p;
  p.mode = mode;
  p.begin.assign(static_cast<size_t>(rank), 0);
  p.end.assign(static_cast<size_t>(rank), 0);
  for (size_t i = 0; i < ax.size(); ++i) {
    p.begin[static_cast<size_t>(ax[i])] = pads[i];
    p.end[static_cast<size_t>(ax[i])] = pads[i + ax.size()];
  }
  return p;
}

Result<std::vector<int64_t>> resolve_split(int64_t dim, int num_outputs, const std::vector<int64_t>* split,
                                           int64_t num_outputs_attr) {
  if (split) {
    if (static_cast<int>(split->size()) != num_outputs) {
      return invalid_argument("split has ", split->size(), " sizes for ", num_outputs, " outputs");
    }
    int64_t total = 0;
    for (int64_t s : *split) {
      if (is_unknown_value(s)) return std::vector<int64_t>(static_cast<size_t>(num_outputs), kUnknownDim);
      if (s < 0) return invalid_argument("split has negative size ", s);
      total += s;
    }
    if (dim >= 0 && total != dim) {
      return invalid_argument("split sizes add up to ", total, " but the split axis has size ", dim);
    }
    return *split;
  }
  if (num_outputs_attr > 0 && num_outputs_attr != num_outputs) {
    return invalid_argument("attribute num_outputs=", num_outputs_attr, " but the node has ", num_outputs, " outputs");
  }
  if (dim < 0) return std::vector<int64_t>(static_cast<size_t>(num_outputs), kUnknownDim);
  std::vector<int64_t> sizes(static_cast<size_t>(num_outputs));
  if (num_outputs_attr > 0) {
    // Opset 18: ceil-sized chunks, the last one smaller.
    int64_t chunk = (dim + num_outputs - 1) / num_outputs;
    int64_t left = dim;
    for (auto& s : sizes) {
      s = std::min(chunk, left);
      left -= s;
    }
    if (num_outputs > 1 && sizes.back() <= 0 && dim >= num_outputs) {
      return invalid_argument("cannot split size ", dim, " into ", num_outputs, " chunks");
    }
    return sizes;
  }
  if (dim % num_outputs != 0) {
    return invalid_argument("split axis of size ", dim, " does not divide evenly into ", num_outputs, " outputs");
  }
  for (auto& s : sizes) s = dim / num_outputs;
  return sizes;
}

Shape gather_output_shape(const Shape& data, const Shape& indices, int64_t axis) {
  std::vector<int64_t> d(data.begin(), data.begin() + axis);
  d.insert(d.end(), indices.begin(), indices.end());
  d.insert(d.end(), data.begin() + axis + 1, data.end());
  return Shape(d);
}

Result<Shape> expand_output_shape(const Shape& in, const std::vector<int64_t>& target) {
  size_t rank = std::max(in.rank(), target.size());
  std::vector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t a = i + in.rank() >= rank ? in[i + in.rank() - rank] : 1;
    int64_t b = i + target.size() >= rank ? target[i + target.size() - rank] : 1;
    if (!is_unknown_value(b) && b < 0) return invalid_argument("shape has negative value ", b);
    if (is_unknown_value(b)) {
      // Broadcasting a dim > 1 against anything gives that dim (or an error).
      out[i] = a > 1 ? a : kUnknownDim;
    } else if (a < 0) {
      out[i] = b == 1 ? kUnknownDim : b;
    } else if (a == b || b == 1) {
      out[i] = a;
    } else if (a == 1) {
      out[i] = b;
    } else {
      return invalid_argument("cannot expand ", in.to_string(), " to ", Shape(target).to_string(), ": dim ", a,
                              " does not broadcast with ", b);
    }
  }
  return Shape(out);
}

Result<std::vector<int64_t>> resolve_perm(const Attributes& attrs, int64_t rank) {
  QE_ASSIGN_OR_RETURN(std::vector<int64_t> perm, attrs.get_ints("perm"));
  if (!attrs.has("perm")) {
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
    return perm;
  }
  if (static_cast<int64_t>(perm.size()) != rank) {
    return invalid_argument("attribute 'perm' has ", perm.size(), " values for an input of rank ", rank);
  }
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t& p : perm) {
    if (p < -rank || p >= rank) return invalid_argument("attribute 'perm' has value ", p, ", out of range for rank ", rank);
    if (p < 0) p += rank;
    if (seen[static_cast<size_t>(p)]) return invalid_argument("attribute 'perm' repeats axis ", p);
    seen[static_cast<size_t>(p)] = true;
  }
  return perm;
}

Result<DType> cast_target_dtype(const Attributes& attrs) {
  if (!attrs.has("to")) return invalid_argument("required attribute 'to' is missing");
  QE_ASSIGN_OR_RETURN(int64_t to, attrs.get_int("to", 0));
  // TensorProto.DataType numbering, fixed by the ONNX standard.
  switch (to) {
    case 1: return DType::kF32;
    case 2: return DType::kU8;
    case 3: return DType::kI8;
    case 4: return DType::kU16;
    case 5: return DType::kI16;
    case 6: return DType::kI32;
    case 7: return DType::kI64;
    case 9: return DType::kBool;
    case 10: return DType::kF16;
    case 11: return DType::kF64;
    case 12: return DType::kU32;
    case 13: return DType::kU64;
    case 16: return DType::kBF16;
    case 21: return DType::kU4;
    case 22: return DType::kI4;
    case 8: return unsupported("attribute to=8 (string) is not supported");
    case 14: case 15: return unsupported("attribute to=", to, " (complex) is not supported");
    case 17: case 18: case 19: case 20: case 23:
      return unsupported("attribute to=", to, " (8-bit or 4-bit float) is not supported");
    default: return invalid_argument("attribute 'to' has unknown element type ", to);
  }
}

Result<Tensor> constant_op_value(const Attributes& attrs) {
  if (const AttrValue* v = attrs.find("value")) {
    if (const Tensor* t = std::get_if<Tensor>(v)) return *t;
    return invalid_argument("attribute 'value' should be a tensor but is ", attr_type_name(*v));
  }
  if (attrs.has("value_float")) {
    QE_ASSIGN_OR_RETURN(float f, attrs.get_float("value_float", 0.f));
    return Tensor::scalar(f);
  }
  if (attrs.has("value_int")) {
    QE_ASSIGN_OR_RETURN(int64_t i, attrs.get_int("value_int", 0));
    return Tensor::scalar(i);
  }
  if (attrs.has("value_floats")) {
    QE_ASSIGN_OR_RETURN(std::vector<float> f, attrs.get_floats("value_floats"));
    return Tensor::from_vector(Shape{static_cast<int64_t>(f.size())}, f);
  }
  if (attrs.has("value_ints")) {
    QE_ASSIGN_OR_RETURN(std::vector<int64_t> i, attrs.get_ints("value_ints"));
    return Tensor::from_vector(Shape{static_cast<int64_t>(i.size())}, i);
  }
  for (const char* n : {"sparse_value", "value_string", "value_strings"}) {
    if (attrs.has(n)) return unsupported("attribute '", n, "' is not supported");
  }
  return invalid_argument("Constant has no value attribute");
}

Result<Tensor> constant_of_shape_value(const Attributes& attrs) {
  if (!attrs.has("value")) return Tensor::scalar(0.f);
  QE_ASSIGN_OR_RETURN(Tensor t, attrs.get_tensor("value"));
  if (t.numel() != 1) return invalid_argument("attribute 'value' has ", t.numel(), " elements, expected 1");
  if (dtype_is_packed(t.dtype()) || t.dtype() == DType::kString) {
    return unsupported("attribute 'value' has dtype ", dtype_name(t.dtype()));
  }
  return t;
}

}  // namespace qe
