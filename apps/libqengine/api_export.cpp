// Model::export_qonnx / export_qcdq. Its own translation unit: only programs that export link the
// ONNX checker (frontends/onnx/onnx_export.cpp → libonnx); see api_model.cpp.
#include "apps/libqengine/api_internal.h"
#include "engine/core/text_file.h"
#include "engine/data/preprocess.h"
#include "frontends/onnx/quant_export.h"
#include "quant/lower_trunc.h"

namespace qengine {

namespace {

qe::Status write_sidecar_next_to(const Model::Impl& m, const std::string& model_path) {
  if (m.sidecar_json.empty()) return qe::Status::ok();
  return qe::write_text_file_atomically(qe::sidecar_path_for(model_path), m.sidecar_json);
}

}  // namespace

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
