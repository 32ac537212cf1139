// Schemas of the data-indexing ops: Gather, Concat, Split, Slice, Pad, Transpose.
#include <algorithm>
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

bool fully_known(const std::optional<std::vector<int64_t>>& v) {
  return v && std::none_of(v->begin(), v->end(), [](int64_t x) { return is_unknown_value(x); });
}

Status expect_index_input(const InferContext& ctx, int i, const char* what) {
  if (!ctx.has_input(i)) return Status::ok();
  DType t = ctx.input_dtype(i);
  if (t != DType::kI64 && t != DType::kI32) {
    return invalid_argument("input '", what, "' has dtype ", dtype_name(t), ", expected int64 or int32");
  }
  return Status::ok();
}

// Output `i` with the dim names of input `in` where the dim is copied (src[d] >= 0) and unknown.
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

std::vector<int64_t> identity_src(size_t rank) {
  std::vector<int64_t> v(rank);
  for (size_t i = 0; i < rank; ++i) v[i] = static_cast<int64_t>(i);
  return v;
}

Status infer_gather(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_index_input(ctx, 1, "indices"));
  QE_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().get_int("axis", 0));
  DType t = ctx.input_dtype(0);
  if (!ctx.input_shape_known(0) || !ctx.input_shape_known(1)) {
    ctx.set_output_unknown(0, t);
    return Status::ok();
  }
  const Shape& data = ctx.input_shape(0);
  const Shape& idx = ctx.input_shape(1);
  QE_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(axis_attr, static_cast<int64_t>(data.rank())));
  // Constant indices out of range are a model error worth reporting before anything runs.
  if (const Tensor* c = ctx.constant_input(1); c && data[static_cast<size_t>(axis)] >= 0) {
    int64_t dim = data[static_cast<size_t>(axis)];
    for (int64_t i : c->to_int64_vector()) {
      if (i < -dim || i >= dim) {
        return invalid_argument("index ", i, " in 'indices' is out of range for axis ", axis, " of size ", dim);
      }
    }
  }
  Shape out = gather_output_shape(data, idx, axis);
  std::vector<int64_t> src;
  for (int64_t i = 0; i < axis; ++i) src.push_back(i);
  for (size_t i = 0; i < idx.rank(); ++i) src.push_back(-1);
  for (size_t i = static_cast<size_t>(axis) + 1; i < data.rank(); ++i) src.push_back(static_cast<int64_t>(i));
  set_output_from(ctx, 0, t, out, 0, src);
  return Status::ok();
}

Status infer_concat(InferContext& ctx) {
  if (!ctx.attrs().has("axis")) return invalid_argument("required attribute 'axis' is missing");
  QE_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().get_int("axis", 0));
  DType t = ctx.input_dtype(0);
  int known_from = -1;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return invalid_argument("input ", i, " is missing");
    if (ctx.input_dtype(i) != t) {
      return invalid_argument("input ", i, " ('", ctx.input(i).name, "') has dtype ", dtype_name(ctx.input_dtype(i)),
                              ", input 0 has ", dtype_name(t));
    }
    if (known_from < 0 && ctx.input_shape_known(i)) known_from = i;
  }
  if (known_from < 0) {
    ctx.set_output_unknown(0, t);
    return Status::ok();
  }
  size_t rank = ctx.input_shape(known_from).rank();
  QE_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(axis_attr, static_cast<int64_t>(rank)));
  std::vector<int64_t> out(rank, kUnknownDim);
  int64_t axis_sum = 0;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.input_shape_known(i)) {
      axis_sum = kUnknownDim;
      continue;
    }
    const Shape& s = ctx.input_shape(i);
    if (s.rank() != rank) {
      return invalid_argument("input ", i, " has shape ", s.to_string(), " of rank ", s.rank(), ", input ", known_from,
                              " has rank ", rank);
    }
    for (size_t d = 0; d < rank; ++d) {
      if (static_cast<int64_t>(d) == axis) continue;
      if (s[d] < 0) continue;
      if (out[d] >= 0 && out[d] != s[d]) {
        return invalid_argument("input ", i, " has shape ", s.to_string(), ", which differs from the other inputs in dim ",
                                d, " (", s[d], " vs ", out[d], ") outside the concat axis ", axis);
      }
      out[d] = s[d];
    }
    int64_t a = s[static_cast<size_t>(axis)];
    axis_sum = (axis_sum < 0 || a < 0) ? kUnknownDim : axis_sum + a;
  }
  out[static_cast<size_t>(axis)] = axis_sum;
  std::vector<int64_t> src = identity_src(rank);
  src[static_cast<size_t>(axis)] = -1;
  set_output_from(ctx, 0, t, Shape(out), known_from, src);
  return Status::ok();
}

Status infer_split(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_index_input(ctx, 1, "split"));
  QE_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().get_int("axis", 0));
  QE_ASSIGN_OR_RETURN(int64_t num_outputs_attr, ctx.attrs().get_int("num_outputs", 0));
  DType t = ctx.input_dtype(0);
  int n = ctx.num_outputs();
  if (!ctx.input_shape_known(0)) {
    for (int i = 0; i < n; ++i) ctx.set_output_unknown(i, t);
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  QE_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(axis_attr, static_cast<int64_t>(x.rank())));
  auto split = int_input(ctx, 1);
  if (ctx.has_input(1) && !split) {
    split = std::vector<int64_t>(static_cast<size_t>(n), kUnknownValue);
  }
  QE_ASSIGN_OR_RETURN(std::vector<int64_t> sizes,
                      resolve_split(x[static_cast<size_t>(axis)], n, split ? &*split : nullptr, num_outputs_attr));
  std::vector<int64_t> src = identity_src(x.rank());
  src[static_cast<size_t>(axis)] = -1;
  for (int i = 0; i < n; ++i) {
    Shape s = x;
    s[static_cast<size_t>(axis)] = sizes[static_cast<size_t>(i)];
    set_output_from(ctx, i, t, s, 0, src);
  }
  return Status::ok();
}

Status infer_slice(InferContext& ctx) {
  for (int i = 1; i < 5; ++i) QE_RETURN_IF_ERROR(expect_index_input(ctx, i, "starts/ends/axes/steps"));
  DType t = ctx.input_dtype(0);
  if (!ctx.input_shape_known(0)) {
    ctx.set_output_unknown(0, t);
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  auto starts = int_input(ctx, 1);
  auto ends = int_input(ctx, 2);
  auto axes = int_input(ctx, 3);
  auto steps = int_input(ctx, 4);
  bool axes_ok = !ctx.has_input(3) || fully_known(axes);
  bool steps_ok = !ctx.has_input(4) || fully_known(steps);
  if (!starts || !ends || !axes_ok || !steps_ok) {
    ctx.set_output(0, t, Shape(std::vector<int64_t>(x.rank(), kUnknownDim)));
    return Status::ok();
  }
  QE_ASSIGN_OR_RETURN(SliceParams p, resolve_slice(x, *starts, *ends, ctx.has_input(3) ? &*axes : nullptr,
                                                   steps ? &*steps : nullptr));
  std::vector<int64_t> src = identity_src(x.rank());
  for (size_t d = 0; d < x.rank(); ++d) {
    if (p.length[d] != x[d] || p.start[d] != 0 || p.step[d] != 1) src[d] = -1;
  }
  set_output_from(ctx, 0, t, Shape(p.length), 0, src);
  return Status::ok();
}

Status infer_pad(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_index_input(ctx, 1, "pads"));
  QE_RETURN_IF_ERROR(expect_index_input(ctx, 3, "axes"));
  QE_ASSIGN_OR_RETURN(PadMode mode, pad_mode_from_attrs(ctx.attrs()));
  DType t = ctx.input_dtype(0);
  if (ctx.has_input(2)) {
    if (ctx.input_dtype(2) != t) {
      return invalid_argument("input 'constant_value' has dtype ", dtype_name(ctx.input_dtype(2)), ", input has ",
                              dtype_name(t));
    }
    if (ctx.input_shape_known(2) && ctx.input_shape(2).is_known() && ctx.input_shape(2).numel() != 1) {
      return invalid_argument("input 'constant_value' has shape ", ctx.input_shape(2).to_string(), ", expected a scalar");
    }
  }
  if (!ctx.input_shape_known(0)) {
    ctx.set_output_unknown(0, t);
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  int64_t rank = static_cast<int64_t>(x.rank());
  auto pads = int_input(ctx, 1);
  auto axes = int_input(ctx, 3);
  if (!fully_known(pads) || (ctx.has_input(3) && !fully_known(axes))) {
    ctx.set_output(0, t, Shape(std::vector<int64_t>(x.rank(), kUnknownDim)));
    return Status::ok();
  }
  QE_ASSIGN_OR_RETURN(PadParams p, resolve_pads(rank, *pads, ctx.has_input(3) ? &*axes : nullptr, mode));
  std::vector<int64_t> out(x.rank());
  std::vector<int64_t> src = identity_src(x.rank());
  for (size_t d = 0; d < x.rank(); ++d) {
    if (p.begin[d] != 0 || p.end[d] != 0) src[d] = -1;
    if (x[d] < 0) {
      out[d] = kUnknownDim;
      continue;
    }
    out[d] = x[d] + p.begin[d] + p.end[d];
    if (out[d] < 0) {
      return invalid_argument("pads ", p.begin[d], " and ", p.end[d], " crop axis ", d, " of size ", x[d],
                              " below zero");
    }
    if (mode != PadMode::kConstant && x[d] == 0 && out[d] > 0) {
      return invalid_argument("cannot pad the empty axis ", d, " in a non-constant mode");
    }
  }
  set_output_from(ctx, 0, t, Shape(out), 0, src);
  return Status::ok();
}

Status infer_transpose(InferContext& ctx) {
  DType t = ctx.input_dtype(0);
  if (!ctx.input_shape_known(0)) {
    ctx.set_output_unknown(0, t);
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  QE_ASSIGN_OR_RETURN(std::vector<int64_t> perm, resolve_perm(ctx.attrs(), static_cast<int64_t>(x.rank())));
  std::vector<int64_t> out(x.rank());
  for (size_t i = 0; i < x.rank(); ++i) out[i] = x[static_cast<size_t>(perm[i])];
  set_output_from(ctx, 0, t, Shape(out), 0, perm);
  return Status::ok();
}

}  // namespace

void register_data_index_schemas(SchemaTable& t) {
  t.add({OpKind::kGather, 2, 2, 1, 1, infer_gather});
  t.add({OpKind::kConcat, 1, 1 << 16, 1, 1, infer_concat});
  t.add({OpKind::kSplit, 1, 2, 1, 1 << 16, infer_split});
  t.add({OpKind::kSlice, 3, 5, 1, 1, infer_slice});
  t.add({OpKind::kPad, 2, 4, 1, 1, infer_pad});
  t.add({OpKind::kTranspose, 1, 1, 1, 1, infer_transpose});
}

}  // namespace qe
