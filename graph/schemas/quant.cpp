// Schemas of the quantization ops: FakeQuant and Trunc (qengine's quantizer nodes, layouts in
// graph/quant_params.h) and ONNX QuantizeLinear / DequantizeLinear (opsets 10-21). Each output
// has its input's shape; the checks here are the ones a model can fail before any kernel is
// bound (types, attribute spellings, parameter shapes that cannot broadcast).
#include <optional>
#include <string>

#include "graph/quant_params.h"
#include "graph/schema.h"
#include "graph/schemas/quant_attrs.h"

namespace qe {

namespace {

void set_like_input(InferContext& ctx, DType dtype) {
  if (ctx.input_shape_known(0)) {
    ctx.set_output(0, dtype, ctx.input_shape(0));
  } else {
    ctx.set_output_unknown(0, dtype);
  }
}

bool is_float_type(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16 || t == DType::kF64; }

Status expect_float_param(const InferContext& ctx, int i, const char* what) {
  if (!ctx.has_input(i)) return Status::ok();
  if (!is_float_type(ctx.input_dtype(i))) {
    return invalid_argument(what, " ('", ctx.input(i).name, "') has dtype ", dtype_name(ctx.input_dtype(i)),
                            ", expected a float type");
  }
  return Status::ok();
}

Status check_broadcast(const InferContext& ctx, int i, const char* what) {
  if (!ctx.has_input(i) || !ctx.input_shape_known(0) || !ctx.input_shape_known(i)) return Status::ok();
  return check_param_broadcast(ctx.input_shape(0), ctx.input_shape(i), what);
}

Status infer_fake_quant(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_float_input(ctx, 0));
  QE_ASSIGN_OR_RETURN(std::string kind, ctx.attrs().get_string("kind", "int"));
  QE_RETURN_IF_ERROR(parse_quant_kind(kind).status());
  QE_ASSIGN_OR_RETURN(std::string rounding, ctx.attrs().get_string("rounding_mode", "ROUND"));
  QE_RETURN_IF_ERROR(parse_rounding_mode(rounding).status());
  QE_RETURN_IF_ERROR(expect_float_param(ctx, 1, "scale"));
  QE_RETURN_IF_ERROR(check_broadcast(ctx, 1, "scale"));
  QE_RETURN_IF_ERROR(check_broadcast(ctx, 2, "zero point"));
  set_like_input(ctx, DType::kF32);
  return Status::ok();
}

Status infer_trunc(InferContext& ctx) {
  QE_RETURN_IF_ERROR(expect_float_input(ctx, 0));
  QE_ASSIGN_OR_RETURN(TruncInputs in, resolve_trunc_inputs(ctx.attrs(), ctx.num_inputs()));
  if (!ctx.has_input(in.out_bits)) return invalid_argument("required input out_bitwidth (", in.out_bits, ") is missing");
  if (in.out_scale >= 0 && !ctx.has_input(in.out_scale)) {
    return invalid_argument("required input out_scale (", in.out_scale, ") is missing");
  }
  QE_ASSIGN_OR_RETURN(std::string rounding, ctx.attrs().get_string("rounding_mode", "FLOOR"));
  QE_RETURN_IF_ERROR(parse_rounding_mode(rounding).status());
  QE_RETURN_IF_ERROR(expect_float_param(ctx, 1, "scale"));
  QE_RETURN_IF_ERROR(check_broadcast(ctx, 1, "scale"));
  QE_RETURN_IF_ERROR(check_broadcast(ctx, 2, "zero point"));
  if (in.out_scale >= 0) {
    QE_RETURN_IF_ERROR(expect_float_param(ctx, in.out_scale, "out_scale"));
    QE_RETURN_IF_ERROR(check_broadcast(ctx, in.out_scale, "out_scale"));
  }
  set_like_input(ctx, DType::kF32);
  return Status::ok();
}

Status check_qdq_shapes(const InferContext& ctx) {
  if (!ctx.input_shape_known(0) || !ctx.input_shape_known(1)) return Status::ok();
  const bool zp_known = ctx.has_input(2) && ctx.input_shape_known(2);
  return resolve_qdq_geometry(ctx.attrs(), ctx.input_shape(0), ctx.input_shape(1),
                              zp_known ? &ctx.input_shape(2) : nullptr)
      .status();
}

Status infer_quantize_linear(InferContext& ctx) {
  const DType x = ctx.input_dtype(0);
  if (!(x == DType::kF32 || x == DType::kF16 || x == DType::kBF16 || x == DType::kI32)) {
    return unsupported("input x has dtype ", dtype_name(x), " (expected float, float16, bfloat16 or int32)");
  }
  QE_RETURN_IF_ERROR(expect_float_param(ctx, 1, "scale"));
  std::optional<DType> zp;
  if (ctx.has_input(2)) zp = ctx.input_dtype(2);
  QE_ASSIGN_OR_RETURN(DType out, quantize_linear_output_dtype(ctx.attrs(), zp));
  QE_RETURN_IF_ERROR(check_qdq_shapes(ctx));
  set_like_input(ctx, out);
  return Status::ok();
}

Status infer_dequantize_linear(InferContext& ctx) {
  const DType x = ctx.input_dtype(0);
  if (!qdq_integer_dtype(x, true)) {
    return unsupported("input x has dtype ", dtype_name(x),
                       " (expected uint8, int8, uint16, int16, int32, uint4 or int4)");
  }
  const DType s = ctx.input_dtype(1);
  if (!(s == DType::kF32 || s == DType::kF16 || s == DType::kBF16)) {
    return unsupported("scale has dtype ", dtype_name(s), " (expected float, float16 or bfloat16)");
  }
  if (ctx.has_input(2) && ctx.input_dtype(2) != x) {
    return invalid_argument("zero point has dtype ", dtype_name(ctx.input_dtype(2)), " but x has ", dtype_name(x));
  }
  QE_RETURN_IF_ERROR(check_qdq_shapes(ctx));
  set_like_input(ctx, s);
  return Status::ok();
}

}  // namespace

void register_quant_schemas(SchemaTable& t) {
  t.add({OpKind::kFakeQuant, 2, 3, 1, 1, infer_fake_quant});
  t.add({OpKind::kTrunc, 4, 6, 1, 1, infer_trunc});
  t.add({OpKind::kQuantizeLinear, 2, 3, 1, 1, infer_quantize_linear});
  t.add({OpKind::kDequantizeLinear, 2, 3, 1, 1, infer_dequantize_linear});
}

}  // namespace qe
