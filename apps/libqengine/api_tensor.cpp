// Public value types (Error, DType, Tensor) and their conversions to the engine's.
#include <cstring>
#include <new>

#include "apps/libqengine/api_internal.h"

namespace qengine {

const char* version() { return QENGINE_VERSION; }

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::unsupported: return "unsupported";
    case ErrorCode::runtime: return "runtime";
    case ErrorCode::out_of_memory: return "out_of_memory";
  }
  return "unknown";
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::float32: return "float32";
    case DType::int8: return "int8";
    case DType::uint8: return "uint8";
    case DType::int32: return "int32";
    case DType::int64: return "int64";
  }
  return "unknown";
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::float32: return 4;
    case DType::int8: return 1;
    case DType::uint8: return 1;
    case DType::int32: return 4;
    case DType::int64: return 8;
  }
  return 0;
}

namespace {

int64_t checked_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw Error(ErrorCode::invalid_argument, "tensor dimension " + std::to_string(d) + " is negative");
    if (d != 0 && n > (int64_t{1} << 40) / d) throw Error(ErrorCode::invalid_argument, "tensor shape is too large");
    n *= d;
  }
  return n;
}

}  // namespace

Tensor::Tensor(DType dtype, std::vector<int64_t> shape) : dtype_(dtype), shape_(std::move(shape)) {
  bytes_.assign(static_cast<size_t>(checked_numel(shape_)) * dtype_size(dtype_), 0);
}

Tensor Tensor::from_data(DType dtype, std::vector<int64_t> shape, const void* data) {
  Tensor t(dtype, std::move(shape));
  if (t.byte_size() > 0) {
    if (!data) throw Error(ErrorCode::invalid_argument, "tensor data is null");
    std::memcpy(t.data(), data, t.byte_size());
  }
  return t;
}

Tensor Tensor::from_floats(std::vector<int64_t> shape, std::vector<float> values) {
  const int64_t n = checked_numel(shape);
  if (static_cast<int64_t>(values.size()) != n) {
    throw Error(ErrorCode::invalid_argument, "tensor has " + std::to_string(values.size()) +
                                                 " values but its shape holds " + std::to_string(n));
  }
  return from_data(DType::float32, std::move(shape), values.data());
}

int64_t Tensor::numel() const { return static_cast<int64_t>(bytes_.size() / dtype_size(dtype_)); }

void Tensor::check_type(size_t element_size, bool floating) const {
  if (element_size != dtype_size(dtype_) || floating != (dtype_ == DType::float32)) {
    throw Error(ErrorCode::invalid_argument, std::string("tensor holds ") + dtype_name(dtype_) +
                                                 ", read as another element type");
  }
}

std::vector<float> Tensor::to_floats() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<float>(qe::read_element_as_double(data(), qe::api::to_engine_dtype(dtype_), static_cast<int64_t>(i)));
  }
  return out;
}

}  // namespace qengine

namespace qe::api {

ErrorCode error_code_for(qe::StatusCode code) {
  switch (code) {
    case qe::StatusCode::kInvalidArgument:
    case qe::StatusCode::kParseError: return ErrorCode::invalid_argument;
    case qe::StatusCode::kNotFound: return ErrorCode::not_found;
    case qe::StatusCode::kUnsupported: return ErrorCode::unsupported;
    case qe::StatusCode::kOk:  // not an error; callers never pass it
    case qe::StatusCode::kIoError:
    case qe::StatusCode::kOutOfRange:
    case qe::StatusCode::kInternal: return ErrorCode::runtime;
  }
  return ErrorCode::runtime;
}

void throw_status(const qe::Status& status) { throw qengine::Error(error_code_for(status.code()), status.message()); }

qe::DType to_engine_dtype(DType dtype) {
  switch (dtype) {
    case DType::float32: return qe::DType::kF32;
    case DType::int8: return qe::DType::kI8;
    case DType::uint8: return qe::DType::kU8;
    case DType::int32: return qe::DType::kI32;
    case DType::int64: return qe::DType::kI64;
  }
  return qe::DType::kUndefined;
}

bool public_dtype_of(qe::DType dtype, DType* out) {
  switch (dtype) {
    case qe::DType::kF32: *out = DType::float32; return true;
    case qe::DType::kI8: *out = DType::int8; return true;
    case qe::DType::kU8: *out = DType::uint8; return true;
    case qe::DType::kI32: *out = DType::int32; return true;
    case qe::DType::kI64: *out = DType::int64; return true;
    default: return false;
  }
}

DType to_public_dtype(qe::DType dtype) {
  DType out = DType::float32;
  if (public_dtype_of(dtype, &out)) return out;
  return dtype == qe::DType::kBool ? DType::uint8 : DType::float32;
}

qe::Tensor to_engine_tensor(const Tensor& t) {
  return qe::Tensor::from_data(to_engine_dtype(t.dtype()), qe::Shape(t.shape()), t.data());
}

Tensor to_public_tensor(const qe::Tensor& t) {
  DType dtype = DType::float32;
  if (public_dtype_of(t.dtype(), &dtype)) return Tensor::from_data(dtype, t.shape().dims(), t.raw());
  if (t.dtype() == qe::DType::kBool) {
    Tensor out(DType::uint8, t.shape().dims());
    for (int64_t i = 0; i < t.numel(); ++i) {
      out.data_as<uint8_t>()[i] = qe::read_element_as_double(t.raw(), t.dtype(), i) != 0;
    }
    return out;
  }
  return Tensor::from_floats(t.shape().dims(), t.to_float_vector());
}

}  // namespace qe::api
