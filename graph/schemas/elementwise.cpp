// Schemas of the elementwise family: unary maps and activations, Clip, Softmax, binary ops
// with numpy broadcasting (Max/Min variadic), comparisons, Where, and ReduceMax/Mean/Sum in
// the opset-18 form (axes as optional input 1).
#include <algorithm>
#include <string>
#include <vector>

#include "graph/schema.h"

namespace qe {

namespace {

bool all_shapes_known(const InferContext& ctx, int from, int to) {
  for (int i = from; i < to; ++i) {
    if (ctx.has_input(i) && !ctx.input_shape_known(i)) return false;
  }
  return true;
}

Status infer_same(InferContext& ctx) {
  if (!ctx.input_shape_known(0)) {
    ctx.set_output_unknown(0, ctx.input_dtype(0));
    return Status::ok();
  }
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  return Status::ok();
}

Status infer_clip(InferContext& ctx) {
  for (int i = 1; i < 3; ++i) {
    if (!ctx.has_input(i)) continue;
    if (ctx.input_dtype(i) != ctx.input_dtype(0)) {
      return invalid_argument("bound input ", i, " has dtype ", dtype_name(ctx.input_dtype(i)), " but input has ",
                              dtype_name(ctx.input_dtype(0)));
    }
    if (ctx.input_shape_known(i) && ctx.input_shape(i).is_known() && ctx.input_shape(i).numel() != 1) {
      return invalid_argument("bound input ", i, " has shape ", ctx.input_shape(i).to_string(), ", expected a scalar");
    }
  }
  return infer_same(ctx);
}

Status infer_softmax(InferContext& ctx) {
  QE_ASSIGN_OR_RETURN(int64_t axis, ctx.attrs().get_int("axis", -1));
  if (ctx.input_shape_known(0)) {
    int64_t rank = static_cast<int64_t>(ctx.input_shape(0).rank());
    QE_RETURN_IF_ERROR(normalize_axis(axis, std::max<int64_t>(rank, 1)).status());
  }
  return infer_same(ctx);
}

// Broadcast of inputs [from, to), all required to be present; unknown ranks give an unknown output.
Status infer_broadcast(InferContext& ctx, int from, int to, DType out_dtype) {
  if (!all_shapes_known(ctx, from, to)) {
    ctx.set_output_unknown(0, out_dtype);
    return Status::ok();
  }
  Shape out = ctx.input_shape(from);
  for (int i = from + 1; i < to; ++i) {
    QE_ASSIGN_OR_RETURN(out, broadcast_shapes(out, ctx.input_shape(i)));
  }
  ctx.set_output(0, out_dtype, out);
  return Status::ok();
}

Status same_dtypes(const InferContext& ctx, int from, int to) {
  for (int i = from + 1; i < to; ++i) {
    if (ctx.input_dtype(i) != ctx.input_dtype(from)) {
      return invalid_argument("inputs ", from, " and ", i, " have different dtypes (", dtype_name(ctx.input_dtype(from)),
                              " and ", dtype_name(ctx.input_dtype(i)), ")");
    }
  }
  return Status::ok();
}

Status infer_arith(InferContext& ctx) {
  QE_RETURN_IF_ERROR(same_dtypes(ctx, 0, ctx.num_inputs()));
  return infer_broadcast(ctx, 0, ctx.num_inputs(), ctx.input_dtype(0));
}

Status infer_pow(InferContext& ctx) { return infer_broadcast(ctx, 0, 2, ctx.input_dtype(0)); }

Status infer_compare(InferContext& ctx) {
  QE_RETURN_IF_ERROR(same_dtypes(ctx, 0, 2));
  return infer_broadcast(ctx, 0, 2, DType::kBool);
}

Status infer_where(InferContext& ctx) {
  if (ctx.input_dtype(0) != DType::kBool) {
    return invalid_argument("condition input has dtype ", dtype_name(ctx.input_dtype(0)), ", expected bool");
  }
  QE_RETURN_IF_ERROR(same_dtypes(ctx, 1, 3));
  return infer_broadcast(ctx, 0, 3, ctx.input_dtype(1));
}

Status infer_reduce(InferContext& ctx) {
  DType t = ctx.input_dtype(0);
  QE_ASSIGN_OR_RETURN(int64_t keepdims, ctx.attrs().get_int("keepdims", 1));
  QE_ASSIGN_OR_RETURN(int64_t noop, ctx.attrs().get_int("noop_with_empty_axes", 0));
  if (!ctx.input_shape_known(0)) {
    ctx.set_output_unknown(0, t);
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  const int64_t rank = static_cast<int64_t>(x.rank());
  std::vector<int64_t> axes;
  if (ctx.has_input(1)) {
    const Tensor* a = ctx.constant_input(1);
    if (!a) {
      // Which axes is known only at run time: the rank survives when dims are kept.
      if (keepdims) {
        ctx.set_output(0, t, Shape(std::vector<int64_t>(x.rank(), -1)));
      } else {
        ctx.set_output_unknown(0, t);
      }
      return Status::ok();
    }
    if (a->dtype() != DType::kI64 && a->dtype() != DType::kI32) {
      return invalid_argument("axes input has dtype ", dtype_name(a->dtype()), ", expected int64");
    }
    axes = a->to_int64_vector();
  }
  std::vector<bool> reduced(x.rank(), false);
  if (axes.empty()) {
    if (noop) return infer_same(ctx);
    reduced.assign(x.rank(), true);
  }
  for (int64_t a : axes) {
    QE_ASSIGN_OR_RETURN(int64_t ax, normalize_axis(a, rank));
    if (reduced[static_cast<size_t>(ax)]) return invalid_argument("axis ", a, " is listed twice in axes");
    reduced[static_cast<size_t>(ax)] = true;
  }
  std::vector<int64_t> out;
  for (size_t i = 0; i < x.rank(); ++i) {
    if (!reduced[i]) {
      out.push_back(x[i]);
    } else if (keepdims) {
      out.push_back(1);
    }
  }
  ctx.set_output(0, t, Shape(out));
  return Status::ok();
}

}  // namespace

void register_elementwise_schemas(SchemaTable& t) {
  for (OpKind op : {OpKind::kAbs, OpKind::kCeil, OpKind::kErf, OpKind::kExp, OpKind::kFloor, OpKind::kGelu,
                    OpKind::kHardSigmoid, OpKind::kHardSwish, OpKind::kLeakyRelu, OpKind::kLog, OpKind::kNeg,
                    OpKind::kReciprocal, OpKind::kRelu, OpKind::kRound, OpKind::kSigmoid, OpKind::kSqrt, OpKind::kTanh}) {
    t.add({op, 1, 1, 1, 1, infer_same});
  }
  t.add({OpKind::kClip, 1, 3, 1, 1, infer_clip});
  t.add({OpKind::kSoftmax, 1, 1, 1, 1, infer_softmax});
  for (OpKind op : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv}) t.add({op, 2, 2, 1, 1, infer_arith});
  t.add({OpKind::kPow, 2, 2, 1, 1, infer_pow});
  // Variadic: any number of inputs >= 1.
  t.add({OpKind::kMax, 1, 1 << 16, 1, 1, infer_arith});
  t.add({OpKind::kMin, 1, 1 << 16, 1, 1, infer_arith});
  for (OpKind op : {OpKind::kEqual, OpKind::kGreater, OpKind::kLess}) t.add({op, 2, 2, 1, 1, infer_compare});
  t.add({OpKind::kWhere, 3, 3, 1, 1, infer_where});
  for (OpKind op : {OpKind::kReduceMax, OpKind::kReduceMean, OpKind::kReduceSum}) t.add({op, 1, 2, 1, 1, infer_reduce});
}

}  // namespace qe
