// What the public API types hold, and the conversions between public and engine types. Private
// to libqengine: nothing here may leak into include/qengine.
#pragma once

#include <string>
#include <vector>

#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "engine/data/preprocess.h"
#include "graph/graph.h"
#include "qengine/qengine.hpp"

namespace qengine {

struct Model::Impl {
  qe::Graph graph;                 // as imported (quantizers as FakeQuant / Trunc)
  std::string name;                // file path or "<memory>", for messages
  std::string sidecar_json;        // the sidecar's text; empty when there is none
  qe::Preprocessing preprocessing; // from the sidecar, else ImageNet's
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;
  bool quantized = false;
};

namespace detail {

// Reaches Model's private constructor and impl for the implementation files.
struct Access {
  static Model make(std::shared_ptr<const Model::Impl> impl) { return Model(std::move(impl)); }
  static const std::shared_ptr<const Model::Impl>& impl(const Model& m) { return m.impl_; }
};

}  // namespace detail
}  // namespace qengine

// Helpers outside namespace qengine so that the shared library does not export them.
namespace qe::api {

using qengine::DType;
using qengine::ErrorCode;
using qengine::Model;
using qengine::Tensor;
using qengine::TensorInfo;

// Throws the status as a qengine::Error (the status must not be OK).
[[noreturn]] void throw_status(const qe::Status& status);
inline void throw_if_error(const qe::Status& status) {
  if (!status.is_ok()) throw_status(status);
}
template <typename T>
T value_or_throw(qe::Result<T> result) {
  if (!result.is_ok()) throw_status(result.status());
  return std::move(result).value();
}

ErrorCode error_code_for(qe::StatusCode code);

qe::DType to_engine_dtype(DType dtype);
// Engine dtypes outside the public set: bool → uint8, the rest (f16, f64, ...) → float32.
DType to_public_dtype(qe::DType dtype);
// The declared dtype as the public one (`ok` false when the public set lacks it).
bool public_dtype_of(qe::DType dtype, DType* out);

qe::Tensor to_engine_tensor(const Tensor& t);
Tensor to_public_tensor(const qe::Tensor& t);

// Builds the Impl's metadata (inputs/outputs, quantized) from its graph.
void describe_model(Model::Impl& impl);

}  // namespace qe::api
