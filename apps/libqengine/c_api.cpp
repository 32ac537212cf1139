// The C API (include/qengine/qengine.h) over the C++ one: every entry point catches everything,
// so no exception crosses the C boundary; failures become a status and a thread-local message.
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "qengine/qengine.h"
#include "qengine/qengine.hpp"

struct qe_model {
  qengine::Model model;
};
struct qe_session {
  qengine::Session session;
};
struct qe_tensor {
  qengine::Tensor tensor;
};

namespace {

thread_local std::string t_last_error;

void set_last_error(const char* message) noexcept {
  try {
    t_last_error = message;
  } catch (...) {
    t_last_error.clear();  // no memory for the message; the status still says what happened
  }
}

qe_status status_for(qengine::ErrorCode code) {
  switch (code) {
    case qengine::ErrorCode::invalid_argument: return QE_INVALID_ARGUMENT;
    case qengine::ErrorCode::not_found: return QE_NOT_FOUND;
    case qengine::ErrorCode::unsupported: return QE_UNSUPPORTED;
    case qengine::ErrorCode::runtime: return QE_RUNTIME_ERROR;
    case qengine::ErrorCode::out_of_memory: return QE_OUT_OF_MEMORY;
  }
  return QE_RUNTIME_ERROR;
}

template <typename F>
qe_status guarded(F&& body) noexcept {
  try {
    body();
    return QE_OK;
  } catch (const qengine::Error& e) {
    set_last_error(e.what());
    return status_for(e.code());
  } catch (const std::bad_alloc&) {
    set_last_error("out of memory");
    return QE_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    set_last_error(e.what());
    return QE_RUNTIME_ERROR;
  } catch (...) {
    set_last_error("unknown error");
    return QE_RUNTIME_ERROR;
  }
}

void require(const void* p, const char* function, const char* argument) {
  if (!p) {
    throw qengine::Error(qengine::ErrorCode::invalid_argument,
                         std::string(function) + ": " + argument + " is NULL");
  }
}

const qengine::TensorInfo& info_at(const std::vector<qengine::TensorInfo>& list, size_t index, const char* function) {
  if (index >= list.size()) {
    throw qengine::Error(qengine::ErrorCode::invalid_argument, std::string(function) + ": index " +
                                                                   std::to_string(index) + " is out of range (count " +
                                                                   std::to_string(list.size()) + ")");
  }
  return list[index];
}

// A C caller may pass any int as a qe_dtype; reading such a value through the enum type is
// undefined in C++, so the value is taken as the int it is.
qengine::DType public_dtype(const qe_dtype& dtype_argument, const char* function) {
  static_assert(sizeof(qe_dtype) == sizeof(int));
  int dtype = 0;
  std::memcpy(&dtype, &dtype_argument, sizeof dtype);
  switch (dtype) {
    case QE_FLOAT32: return qengine::DType::float32;
    case QE_INT8: return qengine::DType::int8;
    case QE_UINT8: return qengine::DType::uint8;
    case QE_INT32: return qengine::DType::int32;
    case QE_INT64: return qengine::DType::int64;
  }
  throw qengine::Error(qengine::ErrorCode::invalid_argument,
                       std::string(function) + ": unknown dtype " + std::to_string(dtype));
}

qe_dtype c_dtype(qengine::DType dtype) {
  switch (dtype) {
    case qengine::DType::float32: return QE_FLOAT32;
    case qengine::DType::int8: return QE_INT8;
    case qengine::DType::uint8: return QE_UINT8;
    case qengine::DType::int32: return QE_INT32;
    case qengine::DType::int64: return QE_INT64;
  }
  return QE_FLOAT32;
}

void shape_of(const qengine::TensorInfo& info, const int64_t** dims, size_t* rank) {
  *dims = info.shape.empty() ? nullptr : info.shape.data();
  *rank = info.shape.size();
}

}  // namespace

extern "C" {

const char* qe_version(void) { return qengine::version(); }
const char* qe_last_error(void) { return t_last_error.c_str(); }

const char* qe_status_name(qe_status status) {
  switch (status) {
    case QE_OK: return "QE_OK";
    case QE_INVALID_ARGUMENT: return "QE_INVALID_ARGUMENT";
    case QE_NOT_FOUND: return "QE_NOT_FOUND";
    case QE_UNSUPPORTED: return "QE_UNSUPPORTED";
    case QE_RUNTIME_ERROR: return "QE_RUNTIME_ERROR";
    case QE_OUT_OF_MEMORY: return "QE_OUT_OF_MEMORY";
  }
  return "QE_UNKNOWN_STATUS";
}

qe_status qe_model_load(const char* path, qe_model** out_model) {
  return guarded([&] {
    require(out_model, "qe_model_load", "out_model");
    *out_model = nullptr;
    require(path, "qe_model_load", "path");
    *out_model = new qe_model{qengine::Model::load(path)};
  });
}

void qe_model_destroy(qe_model* model) { delete model; }

qe_status qe_model_input_count(const qe_model* model, size_t* out_count) {
  return guarded([&] {
    require(model, "qe_model_input_count", "model");
    require(out_count, "qe_model_input_count", "out_count");
    *out_count = model->model.inputs().size();
  });
}

qe_status qe_model_output_count(const qe_model* model, size_t* out_count) {
  return guarded([&] {
    require(model, "qe_model_output_count", "model");
    require(out_count, "qe_model_output_count", "out_count");
    *out_count = model->model.outputs().size();
  });
}

qe_status qe_model_input_name(const qe_model* model, size_t index, const char** out_name) {
  return guarded([&] {
    require(model, "qe_model_input_name", "model");
    require(out_name, "qe_model_input_name", "out_name");
    *out_name = info_at(model->model.inputs(), index, "qe_model_input_name").name.c_str();
  });
}

qe_status qe_model_output_name(const qe_model* model, size_t index, const char** out_name) {
  return guarded([&] {
    require(model, "qe_model_output_name", "model");
    require(out_name, "qe_model_output_name", "out_name");
    *out_name = info_at(model->model.outputs(), index, "qe_model_output_name").name.c_str();
  });
}

qe_status qe_model_input_shape(const qe_model* model, size_t index, const int64_t** out_dims, size_t* out_rank) {
  return guarded([&] {
    require(model, "qe_model_input_shape", "model");
    require(out_dims, "qe_model_input_shape", "out_dims");
    require(out_rank, "qe_model_input_shape", "out_rank");
    shape_of(info_at(model->model.inputs(), index, "qe_model_input_shape"), out_dims, out_rank);
  });
}

qe_status qe_model_output_shape(const qe_model* model, size_t index, const int64_t** out_dims, size_t* out_rank) {
  return guarded([&] {
    require(model, "qe_model_output_shape", "model");
    require(out_dims, "qe_model_output_shape", "out_dims");
    require(out_rank, "qe_model_output_shape", "out_rank");
    shape_of(info_at(model->model.outputs(), index, "qe_model_output_shape"), out_dims, out_rank);
  });
}

qe_status qe_model_is_quantized(const qe_model* model, int* out_quantized) {
  return guarded([&] {
    require(model, "qe_model_is_quantized", "model");
    require(out_quantized, "qe_model_is_quantized", "out_quantized");
    *out_quantized = model->model.is_quantized() ? 1 : 0;
  });
}

qe_status qe_model_export_qonnx(const qe_model* model, const char* path) {
  return guarded([&] {
    require(model, "qe_model_export_qonnx", "model");
    require(path, "qe_model_export_qonnx", "path");
    model->model.export_qonnx(path);
  });
}

qe_status qe_model_export_qcdq(const qe_model* model, const char* path) {
  return guarded([&] {
    require(model, "qe_model_export_qcdq", "model");
    require(path, "qe_model_export_qcdq", "path");
    model->model.export_qcdq(path);
  });
}

qe_status qe_quantize(const qe_model* float_model, const char* rules_path, const char* calib_dir, int64_t samples,
                      int threads, qe_model** out_model) {
  return guarded([&] {
    require(out_model, "qe_quantize", "out_model");
    *out_model = nullptr;
    require(float_model, "qe_quantize", "float_model");
    require(calib_dir, "qe_quantize", "calib_dir");
    qengine::QuantizeOptions o;
    if (rules_path) o.rules_file = rules_path;
    o.calibration_dir = calib_dir;
    if (samples > 0) o.samples = samples;
    o.threads = threads;
    *out_model = new qe_model{qengine::quantize(float_model->model, o)};
  });
}

qe_status qe_session_create_with_memory_limit(const qe_model* model, int threads, size_t max_memory_bytes,
                                              qe_session** out_session) {
  return guarded([&] {
    require(out_session, "qe_session_create", "out_session");
    *out_session = nullptr;
    require(model, "qe_session_create", "model");
    qengine::SessionOptions o;
    o.threads = threads;
    o.max_memory_bytes = max_memory_bytes;
    *out_session = new qe_session{qengine::Session(model->model, o)};
  });
}

qe_status qe_session_create(const qe_model* model, int threads, qe_session** out_session) {
  return qe_session_create_with_memory_limit(model, threads, 0, out_session);
}

void qe_session_destroy(qe_session* session) { delete session; }

qe_status qe_session_run(const qe_session* session, size_t n_inputs, const char* const* input_names,
                         const qe_tensor* const* inputs, size_t* out_n_outputs, qe_tensor*** out_outputs) {
  return guarded([&] {
    require(out_n_outputs, "qe_session_run", "out_n_outputs");
    require(out_outputs, "qe_session_run", "out_outputs");
    *out_n_outputs = 0;
    *out_outputs = nullptr;
    require(session, "qe_session_run", "session");
    if (n_inputs > 0) {
      require(input_names, "qe_session_run", "input_names");
      require(inputs, "qe_session_run", "inputs");
    }
    std::map<std::string, qengine::Tensor> named;
    for (size_t i = 0; i < n_inputs; ++i) {
      const std::string which = "input " + std::to_string(i);
      require(input_names[i], "qe_session_run", (which + " name").c_str());
      require(inputs[i], "qe_session_run", (which + " tensor").c_str());
      if (!named.emplace(input_names[i], inputs[i]->tensor).second) {
        throw qengine::Error(qengine::ErrorCode::invalid_argument,
                             std::string("qe_session_run: input '") + input_names[i] + "' is given twice");
      }
    }
    std::map<std::string, qengine::Tensor> out = session->session.run(named);
    const auto& infos = session->session.model().outputs();
    std::vector<qe_tensor*> made;
    try {
      for (const qengine::TensorInfo& info : infos) made.push_back(new qe_tensor{std::move(out.at(info.name))});
      auto** array = new qe_tensor*[made.size() ? made.size() : 1];
      for (size_t i = 0; i < made.size(); ++i) array[i] = made[i];
      *out_outputs = array;
      *out_n_outputs = made.size();
    } catch (...) {
      for (qe_tensor* t : made) delete t;
      throw;
    }
  });
}

qe_status qe_session_classify(const qe_session* session, const char* image_path, int top_k, int* classes,
                              float* scores) {
  return guarded([&] {
    require(session, "qe_session_classify", "session");
    require(image_path, "qe_session_classify", "image_path");
    require(classes, "qe_session_classify", "classes");
    require(scores, "qe_session_classify", "scores");
    std::vector<qengine::Prediction> top = session->session.classify(image_path, top_k);
    for (int i = 0; i < top_k; ++i) {
      const bool have = static_cast<size_t>(i) < top.size();
      classes[i] = have ? top[static_cast<size_t>(i)].class_index : -1;
      scores[i] = have ? top[static_cast<size_t>(i)].probability : 0.f;
    }
  });
}

qe_status qe_tensor_create(qe_dtype dtype, const int64_t* shape, size_t rank, const void* data, qe_tensor** out_tensor) {
  return guarded([&] {
    require(out_tensor, "qe_tensor_create", "out_tensor");
    *out_tensor = nullptr;
    if (rank > 0) require(shape, "qe_tensor_create", "shape");
    std::vector<int64_t> dims(shape, shape + rank);
    qengine::DType t = public_dtype(dtype, "qe_tensor_create");
    *out_tensor = new qe_tensor{data ? qengine::Tensor::from_data(t, dims, data) : qengine::Tensor(t, dims)};
  });
}

qe_status qe_tensor_create_f32(const int64_t* shape, size_t rank, const float* data, qe_tensor** out_tensor) {
  return qe_tensor_create(QE_FLOAT32, shape, rank, data, out_tensor);
}

void qe_tensor_destroy(qe_tensor* tensor) { delete tensor; }

void qe_tensor_array_destroy(qe_tensor** tensors, size_t count) {
  if (!tensors) return;
  for (size_t i = 0; i < count; ++i) delete tensors[i];
  delete[] tensors;
}

qe_status qe_tensor_dtype(const qe_tensor* tensor, qe_dtype* out_dtype) {
  return guarded([&] {
    require(tensor, "qe_tensor_dtype", "tensor");
    require(out_dtype, "qe_tensor_dtype", "out_dtype");
    *out_dtype = c_dtype(tensor->tensor.dtype());
  });
}

qe_status qe_tensor_shape(const qe_tensor* tensor, const int64_t** out_dims, size_t* out_rank) {
  return guarded([&] {
    require(tensor, "qe_tensor_shape", "tensor");
    require(out_dims, "qe_tensor_shape", "out_dims");
    require(out_rank, "qe_tensor_shape", "out_rank");
    const auto& s = tensor->tensor.shape();
    *out_dims = s.empty() ? nullptr : s.data();
    *out_rank = s.size();
  });
}

qe_status qe_tensor_data(const qe_tensor* tensor, const void** out_data, size_t* out_bytes) {
  return guarded([&] {
    require(tensor, "qe_tensor_data", "tensor");
    require(out_data, "qe_tensor_data", "out_data");
    require(out_bytes, "qe_tensor_data", "out_bytes");
    *out_data = tensor->tensor.data();
    *out_bytes = tensor->tensor.byte_size();
  });
}

qe_status qe_tensor_data_mut(qe_tensor* tensor, void** out_data, size_t* out_bytes) {
  return guarded([&] {
    require(tensor, "qe_tensor_data_mut", "tensor");
    require(out_data, "qe_tensor_data_mut", "out_data");
    require(out_bytes, "qe_tensor_data_mut", "out_bytes");
    *out_data = tensor->tensor.data();
    *out_bytes = tensor->tensor.byte_size();
  });
}

}  // extern "C"
