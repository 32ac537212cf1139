// Schemas of the integer runtime's internal ops (made by quant/lower_integer.cpp). Activations
// are uint8 / int8 with a per-tensor scale and zero point; the output dtype is the attribute
// `out_dtype` ("u8", "s8", or "f32" for a dequantized region exit).
//
// QConv    inputs x, w (int8 constant holding w_bits-bit values, ONNX Conv layout), bias (int32,
//          optional, in units of x_scale * w_scale[c]); Conv attributes plus
//          x_scale, x_zero_point, w_scale (one or one per output channel), w_bits,
//          y_scale, y_zero_point, y_min, y_max (the clamp, which carries a fused Relu/Clip),
//          out_dtype, requant ("float" | "fixed").
// QGemm    inputs x [..., K], w [N, K] (int8 constant), bias [N] (int32, optional); attributes
//          as QConv without the Conv ones. Y = x · wᵀ over the last axis.
// QAdd     inputs a, b (numpy broadcasting); a_scale, a_zero_point, b_scale, b_zero_point,
// QMul     y_scale, y_zero_point, y_min, y_max, out_dtype.
// QAvgPool input x [N, C, spatial...]; global (1) only; x_zero_point, multiplier (applied to the
//          window sum of x - x_zero_point), y_scale (optional: the float form then divides by
//          it), y_zero_point, y_min, y_max, out_dtype (f32: fp32(sum) * multiplier), requant.
// QLut     input x (u8/s8); table (256 output values, indexed by the raw input byte: an int8
//          value v at index uint8(v)), out_dtype.
#include "graph/schema.h"
#include "graph/schemas/conv_attrs.h"

namespace qe {

namespace {

Result<DType> out_dtype(const InferContext& ctx) {
  QE_ASSIGN_OR_RETURN(std::string t, ctx.attrs().get_string("out_dtype", ""));
  if (t == "u8") return DType::kU8;
  if (t == "s8") return DType::kI8;
  if (t == "f32") return DType::kF32;
  return invalid_argument("attribute out_dtype is '", t, "', expected u8, s8 or f32");
}

Status expect_int8(const InferContext& ctx, int i, const char* what) {
  DType t = ctx.input_dtype(i);
  if (t != DType::kU8 && t != DType::kI8) {
    return invalid_argument(what, " ('", ctx.input(i).name, "') has dtype ", dtype_name(t), ", expected uint8 or int8");
  }
  return Status::ok();
}

Status expect_weights_and_bias(const InferContext& ctx) {
  if (ctx.input_dtype(1) != DType::kI8 || !ctx.constant_input(1)) {
    return invalid_argument("weights ('", ctx.input(1).name, "') must be an int8 constant");
  }
  if (ctx.has_input(2) && (ctx.input_dtype(2) != DType::kI32 || !ctx.constant_input(2))) {
    return invalid_argument("bias ('", ctx.input(2).name, "') must be an int32 constant");
  }
  return Status::ok();
}

Status infer_qconv(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_int8(ctx, 0, "input x"));
  QE_RETURN_IF_ERROR(expect_weights_and_bias(ctx));
  QE_ASSIGN_OR_RETURN(DType t, out_dtype(ctx));
  if (!ctx.input_shape_known(0)) {
    ctx.set_output_unknown(0, t);
    return Status::ok();
  }
  QE_ASSIGN_OR_RETURN(ConvGeometry g, resolve_conv_geometry(ctx.attrs(), ctx.input_shape(0), ctx.input_shape(1)));
  ctx.set_output(0, t, g.output_shape());
  return Status::ok();
}

Status infer_qgemm(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_int8(ctx, 0, "input x"));
  QE_RETURN_IF_ERROR(expect_weights_and_bias(ctx));
  QE_ASSIGN_OR_RETURN(DType t, out_dtype(ctx));
  const Shape& w = ctx.input_shape(1);
  if (w.rank() != 2) return invalid_argument("weights have shape ", w.to_string(), ", expected [N, K]");
  if (!ctx.input_shape_known(0)) {
    ctx.set_output_unknown(0, t);
    return Status::ok();
  }
  Shape x = ctx.input_shape(0);
  if (x.rank() < 1 || (x[x.rank() - 1] >= 0 && x[x.rank() - 1] != w[1])) {
    return invalid_argument("input has shape ", x.to_string(), ", expected last dim K = ", w[1]);
  }
  std::vector<int64_t> d(x.begin(), x.end());
  d.back() = w[0];
  ctx.set_output(0, t, Shape(d));
  return Status::ok();
}

Status infer_qbinary(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_int8(ctx, 0, "input A"));
  QE_RETURN_IF_ERROR(expect_int8(ctx, 1, "input B"));
  QE_ASSIGN_OR_RETURN(DType t, out_dtype(ctx));
  if (!ctx.input_shape_known(0) || !ctx.input_shape_known(1)) {
    ctx.set_output_unknown(0, t);
    return Status::ok();
  }
  QE_ASSIGN_OR_RETURN(Shape s, broadcast_shapes(ctx.input_shape(0), ctx.input_shape(1)));
  ctx.set_output(0, t, s);
  return Status::ok();
}

Status infer_qavgpool(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_int8(ctx, 0, "input x"));
  QE_ASSIGN_OR_RETURN(DType t, out_dtype(ctx));
  if (!ctx.input_shape_known(0)) {
    ctx.set_output_unknown(0, t);
    return Status::ok();
  }
  const Shape& x = ctx.input_shape(0);
  if (x.rank() < 3) return invalid_argument("input has shape ", x.to_string(), ", expected [N, C, spatial...]");
  std::vector<int64_t> d(x.rank(), 1);
  d[0] = x[0];
  d[1] = x[1];
  ctx.set_output(0, t, Shape(d));
  return Status::ok();
}

Status infer_qlut(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_int8(ctx, 0, "input x"));
  QE_ASSIGN_OR_RETURN(DType t, out_dtype(ctx));
  if (t == DType::kF32) return invalid_argument("QLut produces uint8 or int8");
  QE_ASSIGN_OR_RETURN(std::vector<int64_t> table, ctx.attrs().get_ints("table"));
  if (table.size() != 256) return invalid_argument("table has ", table.size(), " entries, expected 256");
  if (ctx.input_shape_known(0)) {
    ctx.set_output(0, t, ctx.input_shape(0));
  } else {
    ctx.set_output_unknown(0, t);
  }
  return Status::ok();
}

}  // namespace

void register_qlinear_schemas(SchemaTable& t) {
  t.add({OpKind::kQConv, 2, 3, 1, 1, infer_qconv});
  t.add({OpKind::kQGemm, 2, 3, 1, 1, infer_qgemm});
  t.add({OpKind::kQAdd, 2, 2, 1, 1, infer_qbinary});
  t.add({OpKind::kQMul, 2, 2, 1, 1, infer_qbinary});
  t.add({OpKind::kQAvgPool, 1, 1, 1, 1, infer_qavgpool});
  t.add({OpKind::kQLut, 1, 1, 1, 1, infer_qlut});
}

}  // namespace qe
