// Model: import (file or memory), declared inputs/outputs, export as QONNX / QCDQ.
#include <filesystem>

#include "apps/libqengine/api_internal.h"
#include "engine/core/text_file.h"
#include "frontends/onnx/onnx_import.h"
#include "frontends/onnx/quant_export.h"
#include "graph/schema.h"
#include "quant/lower_integer.h"
#include "quant/lower_trunc.h"

namespace qengine {

namespace {

namespace fs = std::filesystem;

TensorInfo info_for(const qe::Value& v) {
  TensorInfo info;
  info.name = v.name;
  info.dtype = qe::api::to_public_dtype(v.dtype);
  info.shape_known = v.shape_known;
  if (v.shape_known) info.shape = v.shape.dims();
  return info;
}

qe::Status write_sidecar_next_to(const Model::Impl& m, const std::string& model_path) {
  if (m.sidecar_json.empty()) return qe::Status::ok();
  return qe::write_text_file_atomically(qe::sidecar_path_for(model_path), m.sidecar_json);
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

void Model::export_qonnx(const std::string& path) const {
  if (path.empty()) throw Error(ErrorCode::invalid_argument, "export path is empty");
  qe::Status st = qe::export_qonnx(impl_->graph, path);
  if (!st.is_ok()) qe::api::throw_status(st.with_context("exporting " + impl_->name + " to '" + path + "': "));
  qe::api::throw_if_error(write_sidecar_next_to(*impl_, path));
}

void Model::export_qcdq(const std::string& path) const {
  if (path.empty()) throw Error(ErrorCode::invalid_argument, "export path is empty");
  // QCDQ has no Trunc: rewrite them to standard ops first, as `qengine calibrate` does.
  auto lowered = qe::lower_trunc_to_standard_ops(impl_->graph);
  if (!lowered.is_ok()) qe::api::throw_status(lowered.status().with_context("exporting " + impl_->name + " as QCDQ: "));
  qe::Status st = qe::export_qcdq(*lowered, path);
  if (!st.is_ok()) qe::api::throw_status(st.with_context("exporting " + impl_->name + " to '" + path + "': "));
  qe::api::throw_if_error(write_sidecar_next_to(*impl_, path));
}

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
