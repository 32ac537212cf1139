#include "frontends/onnx/onnx_test_data.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "frontends/onnx/onnx_proto_util.h"

namespace qe {

namespace {
Result<std::string> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return io_error("cannot open '", path, "'");
  std::stringstream buf;
  buf << f.rdbuf();
  return buf.str();
}
}  // namespace

Result<Tensor> read_onnx_tensor_file(const std::string& path, std::string* name) {
  QE_ASSIGN_OR_RETURN(std::string bytes, read_bytes(path));
  onnx::TensorProto tp;
  if (!tp.ParseFromString(bytes)) return parse_error("'", path, "' is not a serialized ONNX TensorProto");
  if (name) *name = tp.name();
  onnx_util::TensorSource src;
  src.base_dir = std::filesystem::path(path).parent_path().string();
  return onnx_util::tensor_from_proto(tp, src, "tensor file '" + path + "'");
}

Result<std::vector<std::string>> list_onnx_op_types(const std::string& model_path) {
  QE_ASSIGN_OR_RETURN(std::string bytes, read_bytes(model_path));
  onnx::ModelProto m;
  if (!m.ParseFromString(bytes)) return parse_error("'", model_path, "' is not a valid ONNX model");
  std::vector<std::string> ops;
  for (const auto& n : m.graph().node()) {
    std::string domain = n.domain() == "ai.onnx" ? "" : n.domain();
    ops.push_back(domain + ":" + n.op_type());
  }
  return ops;
}

}  // namespace qe
