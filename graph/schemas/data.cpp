// Schemas of the shape family: Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout, Shape,
// Constant, ConstantOfShape, Cast, Expand. The data-indexing ops are in data_index.cpp and
// Resize/Upsample in resize.cpp.
//
// Shape-like inputs are read as partial values (data_attrs.h): exact when constant, traced
// through torch's Shape→Gather→Unsqueeze→Concat chains otherwise, so a symbolic batch gives
// [-1, 768] rather than an unknown rank.
#include <optional>
#include <string>
#include <vector>

#include "graph/schema.h"
#include "graph/schemas/data_attrs.h"

namespace qe {

namespace {

std::optional<std::vector<int64_t>> int_input(InferContext& ctx, int i) {
  if (!ctx.has_input(i)) return std::nullopt;
  return partial_int_value(ctx.graph(), ctx.node().inputs[static_cast<size_t>(i)]);
}

bool fully_known(const std::vector<int64_t>& v) {
  for (int64_t x : v) {
    if (is_unknown_value(x)) return false;
  }
  return true;
}

Status expect_int_input(const InferContext& ctx, int i, const char* what) {
  if (!ctx.has_input(i)) return Status::ok();
  DType t = ctx.input_dtype(i);
  if (t != DType::kI64 && t != DType::kI32) {
    return invalid_argument("input '", what, "' has dtype ", dtype_name(t), ", expected int64");
  }
  return Status::ok();
}

// Sets output `i` and carries the symbolic dim names of input `in` over where `src[d]` names the
// input dim that output dim d copies (-1 for none).
void set_output_from(InferContext& ctx, int i, DType dtype, Shape shape, int in, const std::vector<int64_t>& src) {
  ctx.set_output(i, dtype, std::move(shape));
  if (!ctx.has_output(i) || !ctx.has_input(in)) return;
  const Value& x = ctx.input(in);
  Value& out = ctx.graph().value(ctx.node().outputs[static_cast<size_t>(i)]);
  for (size_t d = 0; d < out.dim_params.size() && d < src.size(); ++d) {
    int64_t s = src[d];
    bool named = s >= 0 && static_cast<size_t>(s) < x.dim_params.size() && out.shape[d] < 0;
    out.dim_params[d] = named ? x.dim_params[static_cast<size_t>(s)] : "";
  }
}

// Unknown output dims whose value came from Shape(v)[d] take v's name for dim d ("batch").
// `target` is aligned to the output's trailing dims.
void name_dims_from_symbols(InferContext& ctx, int i, const std::vector<int64_t>& target) {
  if (!ctx.has_output(i)) return;
  Value& out = ctx.graph().value(ctx.node().outputs[static_cast<size_t>(i)]);
  if (target.size() > out.dim_params.size()) return;
  size_t offset = out.dim_params.size() - target.size();
  for (size_t k = 0; k < target.size(); ++k) {
    ValueId v;
    int64_t d;
    if (out.shape[offset + k] >= 0 || !symbol_dim(target[k], &v, &d)) continue;
    const Value& src = ctx.graph().value(v);
    if (static_cast<size_t>(d) < src.dim_params.size() && !src.dim_params[static_cast<size_t>(d)].empty()) {
      out.dim_params[offset + k] = src.dim_params[static_cast<size_t>(d)];
    }
  }
}

std::vector<int64_t> iota(size_t n) {
  std::vector<int64_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<int64_t>(i);
  return v;
}

Status infer_identity(InferContext& ctx) {
  DType t = ctx.input_dtype(0);
  if (!ctx.input_shape_known(0)) {
    ctx.set_output_unknown(0, t);
    ctx.set_output_unknown(1, DType::kBool);
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  set_output_from(ctx, 0, t, x, 0, iota(x.rank()));
  set_output_from(ctx, 1, DType::kBool, x, 0, iota(x.rank()));  // Dropout's mask
  return Status::ok();
}

Status infer_dropout(InferContext& ctx) {
  for (int i = 1; i < 3; ++i) {
    if (ctx.has_input(i) && ctx.input_shape_known(i) && ctx.input_shape(i).rank() != 0) {
      return invalid_argument("input ", i == 1 ? "ratio" : "training_mode", " has shape ", ctx.input_shape(i).to_string(),
                              ", expected a scalar");
    }
  }
  return infer_identity(ctx);
}

Status infer_cast(InferContext& ctx) {
  QE_ASSIGN_OR_RETURN(DType to, cast_target_dtype(ctx.attrs()));
  if (!ctx.input_shape_known(0)) {
    ctx.set_output_unknown(0, to);
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  set_output_from(ctx, 0, to, x, 0, iota(x.rank()));
  return Status::ok();
}

Status infer_reshape(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_int_input(ctx, 1, "shape"));
  QE_ASSIGN_OR_RETURN(int64_t allowzero, ctx.attrs().get_int("allowzero", 0));
  DType t = ctx.input_dtype(0);
  auto target = int_input(ctx, 1);
  if (!target) {
    ctx.set_output_unknown(0, t);
    return Status::ok();
  }
  if (!ctx.input_shape_known(0)) {
    // Without the input shape only the explicit dims are known.
    std::vector<int64_t> d(target->size(), kUnknownDim);
    for (size_t i = 0; i < d.size(); ++i) {
      int64_t v = (*target)[i];
      if (v > 0 || (v == 0 && allowzero)) d[i] = v;
    }
    ctx.set_output(0, t, Shape(d));
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  const ValueId self = ctx.node().inputs[0];
  QE_ASSIGN_OR_RETURN(Shape out, reshape_output_shape(x, *target, allowzero != 0, self));
  std::vector<int64_t> src(out.rank(), -1);
  for (size_t i = 0; i < out.rank(); ++i) {
    ValueId sv;
    int64_t sd;
    if ((*target)[i] == 0 && !allowzero) src[i] = static_cast<int64_t>(i);
    else if (symbol_dim((*target)[i], &sv, &sd) && sv == self) src[i] = sd;
  }
  set_output_from(ctx, 0, t, out, 0, src);
  name_dims_from_symbols(ctx, 0, *target);
  return Status::ok();
}

Status infer_flatten(InferContext& ctx) {
  QE_ASSIGN_OR_RETURN(int64_t axis, ctx.attrs().get_int("axis", 1));
  DType t = ctx.input_dtype(0);
  if (!ctx.input_shape_known(0)) {
    ctx.set_output(0, t, Shape{kUnknownDim, kUnknownDim});
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  QE_ASSIGN_OR_RETURN(Shape out, flatten_output_shape(x, axis));
  int64_t a = axis < 0 ? axis + static_cast<int64_t>(x.rank()) : axis;
  // Flatten(axis=1) of [batch, ...] keeps the batch's name.
  set_output_from(ctx, 0, t, out, 0, {a == 1 ? 0 : -1, a + 1 == static_cast<int64_t>(x.rank()) ? a : -1});
  return Status::ok();
}

Status infer_squeeze(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_int_input(ctx, 1, "axes"));
  DType t = ctx.input_dtype(0);
  auto axes = int_input(ctx, 1);
  // An empty axes tensor squeezes every size-1 dim, as an absent one does (onnxruntime agrees).
  bool axes_given = ctx.has_input(1) && !(axes && axes->empty());
  if (!ctx.input_shape_known(0) || (axes_given && (!axes || !fully_known(*axes)))) {
    if (ctx.input_shape_known(0) && axes && axes->size() <= ctx.input_shape(0).rank()) {
      ctx.set_output(0, t, Shape(std::vector<int64_t>(ctx.input_shape(0).rank() - axes->size(), kUnknownDim)));
    } else {
      ctx.set_output_unknown(0, t);
    }
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  if (!axes_given && !x.is_known()) {
    ctx.set_output_unknown(0, t);
    return Status::ok();
  }
  QE_ASSIGN_OR_RETURN(Shape out, squeeze_output_shape(x, axes ? *axes : std::vector<int64_t>{}, axes_given));
  std::vector<int64_t> src;
  std::vector<bool> dropped(x.rank(), false);
  if (axes_given) {
    QE_ASSIGN_OR_RETURN(auto norm, normalize_axes(*axes, static_cast<int64_t>(x.rank()), "axes"));
    for (int64_t a : norm) dropped[static_cast<size_t>(a)] = true;
  } else {
    for (size_t i = 0; i < x.rank(); ++i) dropped[i] = x[i] == 1;
  }
  for (size_t i = 0; i < x.rank(); ++i) {
    if (!dropped[i]) src.push_back(static_cast<int64_t>(i));
  }
  set_output_from(ctx, 0, t, out, 0, src);
  return Status::ok();
}

Status infer_unsqueeze(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_int_input(ctx, 1, "axes"));
  DType t = ctx.input_dtype(0);
  auto axes = int_input(ctx, 1);
  if (!ctx.input_shape_known(0) || !axes || !fully_known(*axes)) {
    if (ctx.input_shape_known(0) && axes) {
      ctx.set_output(0, t, Shape(std::vector<int64_t>(ctx.input_shape(0).rank() + axes->size(), kUnknownDim)));
    } else {
      ctx.set_output_unknown(0, t);
    }
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  QE_ASSIGN_OR_RETURN(Shape out, unsqueeze_output_shape(x, *axes));
  QE_ASSIGN_OR_RETURN(auto norm, normalize_axes(*axes, static_cast<int64_t>(out.rank()), "axes"));
  std::vector<bool> is_new(out.rank(), false);
  for (int64_t a : norm) is_new[static_cast<size_t>(a)] = true;
  std::vector<int64_t> src;
  int64_t j = 0;
  for (size_t i = 0; i < out.rank(); ++i) src.push_back(is_new[i] ? -1 : j++);
  set_output_from(ctx, 0, t, out, 0, src);
  return Status::ok();
}

Status infer_shape(InferContext& ctx) {
  QE_ASSIGN_OR_RETURN(int64_t start, ctx.attrs().get_int("start", 0));
  if (!ctx.input_shape_known(0)) {
    ctx.set_output(0, DType::kI64, Shape{kUnknownDim});
    return Status::ok();
  }
  int64_t rank = static_cast<int64_t>(ctx.input_shape(0).rank());
  QE_ASSIGN_OR_RETURN(int64_t end, ctx.attrs().get_int("end", rank));
  auto [b, e] = shape_op_range(start, end, rank);
  ctx.set_output(0, DType::kI64, Shape{e - b});
  return Status::ok();
}

Status infer_constant(InferContext& ctx) {
  QE_ASSIGN_OR_RETURN(Tensor v, constant_op_value(ctx.attrs()));
  ctx.set_output(0, v.dtype(), v.shape());
  return Status::ok();
}

Status infer_constant_of_shape(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_int_input(ctx, 0, "input"));
  QE_ASSIGN_OR_RETURN(Tensor value, constant_of_shape_value(ctx.attrs()));
  if (ctx.input_shape_known(0) && ctx.input_shape(0).rank() != 1) {
    return invalid_argument("input has shape ", ctx.input_shape(0).to_string(), ", expected a 1-D shape");
  }
  auto dims = int_input(ctx, 0);
  if (!dims) {
    ctx.set_output_unknown(0, value.dtype());
    return Status::ok();
  }
  std::vector<int64_t> d;
  for (int64_t v : *dims) {
    if (!is_unknown_value(v) && v < 0) return invalid_argument("input has negative dim ", v);
    d.push_back(is_unknown_value(v) ? kUnknownDim : v);
  }
  ctx.set_output(0, value.dtype(), Shape(d));
  name_dims_from_symbols(ctx, 0, *dims);
  return Status::ok();
}

Status infer_expand(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_int_input(ctx, 1, "shape"));
  DType t = ctx.input_dtype(0);
  auto target = int_input(ctx, 1);
  if (!target || !ctx.input_shape_known(0)) {
    ctx.set_output_unknown(0, t);
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  QE_ASSIGN_OR_RETURN(Shape out, expand_output_shape(x, *target));
  std::vector<int64_t> src(out.rank(), -1);
  for (size_t i = 0; i < x.rank(); ++i) src[out.rank() - x.rank() + i] = static_cast<int64_t>(i);
  set_output_from(ctx, 0, t, out, 0, src);
  name_dims_from_symbols(ctx, 0, *target);
  return Status::ok();
}

}  // namespace

void register_data_schemas(SchemaTable& t) {
  t.add({OpKind::kIdentity, 1, 1, 1, 1, infer_identity});
  t.add({OpKind::kDropout, 1, 3, 1, 2, infer_dropout});
  t.add({OpKind::kCast, 1, 1, 1, 1, infer_cast});
  t.add({OpKind::kReshape, 2, 2, 1, 1, infer_reshape});
  t.add({OpKind::kFlatten, 1, 1, 1, 1, infer_flatten});
  t.add({OpKind::kSqueeze, 1, 2, 1, 1, infer_squeeze});
  t.add({OpKind::kUnsqueeze, 2, 2, 1, 1, infer_unsqueeze});
  t.add({OpKind::kShape, 1, 1, 1, 1, infer_shape});
  t.add({OpKind::kConstant, 0, 0, 1, 1, infer_constant});
  t.add({OpKind::kConstantOfShape, 1, 1, 1, 1, infer_constant_of_shape});
  t.add({OpKind::kExpand, 2, 2, 1, 1, infer_expand});
  register_data_index_schemas(t);
  register_resize_schemas(t);
}

}  // namespace qe
