// Conversions between ONNX protobuf messages and qe types, shared by the importer and the
// exporter. Internal to frontends/onnx (the only place protobuf types may appear).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <onnx/onnx_pb.h>

#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "graph/attributes.h"

namespace qe::onnx_util {

// TensorProto.DataType numbers; INT4/UINT4 (ONNX 1.16) are newer than the installed headers.
constexpr int32_t kOnnxUint4 = 21;
constexpr int32_t kOnnxInt4 = 22;

std::optional<DType> dtype_from_onnx(int32_t onnx_type);
int32_t dtype_to_onnx(DType t);  // 0 (UNDEFINED) for kUndefined
std::string onnx_type_name(int32_t onnx_type);  // "FLOAT", "COMPLEX64", "type 99"
int32_t onnx_type_from_name(const std::string& name);  // "FLOAT" → 1; 0 when unknown

// Where a tensor's external data may be read from. An empty base_dir refuses external data.
struct TensorSource {
  std::string base_dir;
  bool allow_external = true;
};

// Decodes raw_data, the typed fields or external data into a tensor, checking every byte
// count against the declared dims. `what` names the tensor in errors ("initializer 'w'").
Result<Tensor> tensor_from_proto(const onnx::TensorProto& tp, const TensorSource& src, const std::string& what);

// Writes `t` as raw_data (little-endian, int4 packed as ONNX does).
void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* tp);

// ONNX attribute → qe attribute. Graph/sparse/type attributes are refused with `what` as context.
Result<AttrValue> attr_from_proto(const onnx::AttributeProto& ap, const TensorSource& src, const std::string& what);
void attr_to_proto(const std::string& name, const AttrValue& v, onnx::AttributeProto* ap);

// Resolves `location` (relative, no "..", not escaping `base_dir` through symlinks) to a
// regular file inside base_dir.
Result<std::string> confined_path(const std::string& base_dir, const std::string& location, const std::string& what);

}  // namespace qe::onnx_util
