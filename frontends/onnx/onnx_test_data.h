// Reading the ONNX conformance suite's files (model.onnx + test_data_set_N/*.pb) without
// exposing protobuf: serialized TensorProtos, and the op types a model uses.
#pragma once

#include <string>
#include <vector>

#include "engine/core/tensor.h"

namespace qe {

// Reads one serialized TensorProto; `name` receives its name when not null. Errors name the file.
Result<Tensor> read_onnx_tensor_file(const std::string& path, std::string* name = nullptr);

// "domain:op_type" ("" domain for the default one) of every node in the main graph.
Result<std::vector<std::string>> list_onnx_op_types(const std::string& model_path);

}  // namespace qe
