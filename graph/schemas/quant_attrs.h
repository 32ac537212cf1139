// Attribute and parameter-shape resolution of the quantization ops, shared by shape inference
// (graph/schemas/quant.cpp) and the kernel bindings (engine/ops/quant.cpp) so both accept the
// same nodes.
#pragma once

#include <cstdint>
#include <optional>

#include "engine/core/dtype.h"
#include "engine/core/shape.h"
#include "engine/core/status.h"
#include "graph/attributes.h"

namespace qe {

// Parameters (scale, zero point) of shape `param` against a tensor of shape `x`: right-aligned,
// every dim 1 or equal to x's (the parameters may not grow the output); extra leading dims must
// be 1. Unknown dims (-1) of x are not checked. `what` names the parameter in the error.
Status check_param_broadcast(const Shape& x, const Shape& param, const char* what);

// QuantizeLinear / DequantizeLinear: how the scale maps onto x.
struct QdqGeometry {
  enum class Mode { kPerTensor, kPerAxis, kBlocked };
  Mode mode = Mode::kPerTensor;
  int64_t axis = -1;       // normalised; -1 per tensor
  int64_t block_size = 0;  // kBlocked only
};
// Reads `axis` (default 1) and `block_size` (default 0, opset 21) and checks the scale (and zero
// point, when given) shapes: a scalar or [1] is per tensor, a 1-D scale of x[axis] values per
// axis, and with block_size the scale has x's rank with ceil(x[axis] / block_size) at the axis.
Result<QdqGeometry> resolve_qdq_geometry(const Attributes& attrs, const Shape& x, const Shape& scale,
                                         const Shape* zero_point);

// Integer containers of the quantized side: uint8, int8, uint16, int16, uint4, int4 (and int32
// as DequantizeLinear input when `allow_int32`).
bool qdq_integer_dtype(DType t, bool allow_int32);

// QuantizeLinear's output type: the zero point's type, else attribute output_dtype (opset 21,
// an ONNX TensorProto type code), else uint8. float8 types are declined (kUnsupported).
Result<DType> quantize_linear_output_dtype(const Attributes& attrs, std::optional<DType> zero_point);

// Trunc: which inputs hold what. v2 (default): X, scale, zero_point, in_bitwidth, out_scale,
// out_bitwidth. v1 (attribute version = 1) has no out_scale: its out_bitwidth is input 4 when
// the node has 5 inputs, input 5 when the importer left input 4 empty.
struct TruncInputs {
  int version = 2;
  int out_scale = 4;  // -1 for v1
  int out_bits = 5;
};
Result<TruncInputs> resolve_trunc_inputs(const Attributes& attrs, int num_inputs);

}  // namespace qe
