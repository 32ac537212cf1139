// Model: import (file or memory) and declared inputs/outputs. Export lives in api_export.cpp so
// that a program which only loads and runs models never links the ONNX checker (apps/classify
// links statically, and Debian ships libonnx only as a shared library).
#include "apps/libqengine/api_internal.h"
#include "engine/core/text_file.h"
#include "frontends/onnx/onnx_import.h"
#include "graph/schema.h"
#include "quant/lower_integer.h"

namespace qengine {

namespace {

TensorInfo info_for(const qe::Value& v) {
  TensorInfo info;
  info.name = v.name;
  info.dtype = qe::api::to_public_dtype(v.dtype);
  info.shape_known = v.shape_known;
  if (v.shape_known) info.shape = v.shape.dims();
  return info;
}

std::shared_ptr<Model::Impl> finish_import(qe::Graph graph, std::string name, std::string sidecar_json,
                                          qe::Preprocessing preprocessing) {
  auto impl = std::make_shared<Model::Impl>();
  impl->graph = std::move(graph);
  impl->name = std::move(name);
  impl->sidecar_json = std::move(sidecar_json);
  impl->preprocessing = std::move(preprocessing);
  qe::api::describe_model(*impl);
  return impl;
}

}  // namespace

Model Model::load(const std::string& path) {
  qe::Graph graph = qe::api::value_or_throw(qe::import_onnx_file(path));
  qe::Preprocessing pre = qe::api::value_or_throw(qe::load_sidecar_preprocessing(path));
  std::string sidecar;
  if (!pre.source.empty()) sidecar = qe::api::value_or_throw(qe::read_text_file(qe::sidecar_path_for(path)));
  return detail::Access::make(finish_import(std::move(graph), path, std::move(sidecar), std::move(pre)));
}

Model Model::from_bytes(const void* data, size_t size, const std::string& sidecar_json) {
  if (!data || size == 0) throw Error(ErrorCode::invalid_argument, "model bytes are empty");
  const std::string name = "<memory>";
  qe::Graph graph = qe::api::value_or_throw(qe::import_onnx_bytes(data, size, "", name));
  qe::Preprocessing pre = qe::Preprocessing::imagenet();
  if (!sidecar_json.empty()) {
    pre = qe::api::value_or_throw(qe::parse_sidecar_preprocessing(sidecar_json, name + " sidecar"));
    pre.source = name + " sidecar";
  }
  return detail::Access::make(finish_import(std::move(graph), name, sidecar_json, std::move(pre)));
}

const std::vector<TensorInfo>& Model::inputs() const { return impl_->inputs; }
const std::vector<TensorInfo>& Model::outputs() const { return impl_->outputs; }
bool Model::is_quantized() const { return impl_->quantized; }
const std::vector<std::string>& Model::labels() const { return impl_->preprocessing.labels; }

}  // namespace qengine

namespace qe::api {

void describe_model(Model::Impl& impl) {
  // Outputs often carry no declared shape; inference on a copy fills them in where it can.
  qe::Graph inferred = impl.graph;
  const bool shapes_ok = qe::infer_shapes(inferred).is_ok();
  const qe::Graph& g = shapes_ok ? inferred : impl.graph;
  impl.inputs.clear();
  impl.outputs.clear();
  for (qe::ValueId id : impl.graph.inputs()) impl.inputs.push_back(qengine::info_for(impl.graph.value(id)));
  for (qe::ValueId id : g.outputs()) impl.outputs.push_back(qengine::info_for(g.value(id)));
  impl.quantized = qe::has_quantizers(impl.graph);
}

}  // namespace qe::api
