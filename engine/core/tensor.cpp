#include "engine/core/tensor.h"

#include <cassert>
#include <cstdlib>
#include <new>

namespace qe {

AlignedBuffer::AlignedBuffer(size_t bytes) : size_(bytes) {
  size_t rounded = (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
  if (rounded == 0) rounded = kBufferAlignment;
  data_ = std::aligned_alloc(kBufferAlignment, rounded);
  if (!data_) throw std::bad_alloc();
  std::memset(data_, 0, rounded);
}

AlignedBuffer::~AlignedBuffer() { std::free(data_); }

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  if (this != &o) {
    std::free(data_);
    data_ = o.data_;
    size_ = o.size_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  storage_ = std::make_shared<AlignedBuffer>(dtype_storage_bytes(dtype_, shape_.numel()));
}

Result<Tensor> Tensor::create(DType dtype, Shape shape) {
  QE_ASSIGN_OR_RETURN(int64_t n, shape.checked_numel());
  (void)n;
  return Tensor(dtype, std::move(shape));
}

Tensor Tensor::from_data(DType dtype, Shape shape, const void* bytes) {
  Tensor t(dtype, std::move(shape));
  if (t.bytes()) std::memcpy(t.raw(), bytes, t.bytes());
  return t;
}

Tensor Tensor::clone() const {
  if (!defined()) return Tensor();
  return from_data(dtype_, shape_, raw());
}

Tensor Tensor::reshaped(Shape shape) const {
  assert(shape.numel() == numel());
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

double read_element_as_double(const void* data, DType dtype, int64_t i) {
  switch (dtype) {
    case DType::kF32: return static_cast<const float*>(data)[i];
    case DType::kF64: return static_cast<const double*>(data)[i];
    case DType::kF16: return half_to_float(static_cast<const uint16_t*>(data)[i]);
    case DType::kBF16: return bf16_to_float(static_cast<const uint16_t*>(data)[i]);
    case DType::kI64: return static_cast<double>(static_cast<const int64_t*>(data)[i]);
    case DType::kI32: return static_cast<const int32_t*>(data)[i];
    case DType::kI16: return static_cast<const int16_t*>(data)[i];
    case DType::kI8: return static_cast<const int8_t*>(data)[i];
    case DType::kU64: return static_cast<double>(static_cast<const uint64_t*>(data)[i]);
    case DType::kU32: return static_cast<const uint32_t*>(data)[i];
    case DType::kU16: return static_cast<const uint16_t*>(data)[i];
    case DType::kU8: return static_cast<const uint8_t*>(data)[i];
    case DType::kBool: return static_cast<const uint8_t*>(data)[i] ? 1.0 : 0.0;
    case DType::kI4: return int4_get(static_cast<const uint8_t*>(data), i, true);
    case DType::kU4: return int4_get(static_cast<const uint8_t*>(data), i, false);
    default: return 0.0;
  }
}

void write_element_from_double(void* data, DType dtype, int64_t i, double v) {
  switch (dtype) {
    case DType::kF32: static_cast<float*>(data)[i] = static_cast<float>(v); break;
    case DType::kF64: static_cast<double*>(data)[i] = v; break;
    case DType::kF16: static_cast<uint16_t*>(data)[i] = float_to_half(static_cast<float>(v)); break;
    case DType::kBF16: static_cast<uint16_t*>(data)[i] = float_to_bf16(static_cast<float>(v)); break;
    case DType::kI64: static_cast<int64_t*>(data)[i] = static_cast<int64_t>(v); break;
    case DType::kI32: static_cast<int32_t*>(data)[i] = static_cast<int32_t>(v); break;
    case DType::kI16: static_cast<int16_t*>(data)[i] = static_cast<int16_t>(v); break;
    case DType::kI8: static_cast<int8_t*>(data)[i] = static_cast<int8_t>(v); break;
    case DType::kU64: static_cast<uint64_t*>(data)[i] = static_cast<uint64_t>(v); break;
    case DType::kU32: static_cast<uint32_t*>(data)[i] = static_cast<uint32_t>(v); break;
    case DType::kU16: static_cast<uint16_t*>(data)[i] = static_cast<uint16_t>(v); break;
    case DType::kU8: static_cast<uint8_t*>(data)[i] = static_cast<uint8_t>(v); break;
    case DType::kBool: static_cast<uint8_t*>(data)[i] = v != 0.0; break;
    case DType::kI4: int4_set(static_cast<uint8_t*>(data), i, static_cast<int>(v)); break;
    case DType::kU4: int4_set(static_cast<uint8_t*>(data), i, static_cast<int>(v)); break;
    default: break;
  }
}

std::vector<int64_t> Tensor::to_int64_vector() const {
  std::vector<int64_t> out(static_cast<size_t>(numel()));
  if (dtype_ == DType::kI64) {
    if (!out.empty()) std::memcpy(out.data(), raw(), out.size() * 8);  // an empty tensor has no data pointer
  } else {
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int64_t>(read_element_as_double(raw(), dtype_, i));
  }
  return out;
}

std::vector<float> Tensor::to_float_vector() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(read_element_as_double(raw(), dtype_, i));
  return out;
}

}  // namespace qe
