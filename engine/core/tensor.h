// Tensor (owning, shared storage) and TensorView (non-owning pointer + dtype + shape).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "engine/core/dtype.h"
#include "engine/core/shape.h"
#include "engine/core/status.h"

namespace qe {

constexpr size_t kBufferAlignment = 64;

// 64-byte aligned heap memory; move-only.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes);
  ~AlignedBuffer();
  AlignedBuffer(AlignedBuffer&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr; o.size_ = 0; }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::kUndefined;
  Shape shape;

  int64_t numel() const { return shape.numel(); }
  size_t bytes() const { return dtype_storage_bytes(dtype, numel()); }
  template <typename T> T* as() const { return static_cast<T*>(data); }
};

// A tensor owning (shared) storage. Copies share the storage; clone() copies the data.
class Tensor {
 public:
  Tensor() = default;
  // Zero-initialised storage. Use create() for shapes that come from untrusted input.
  Tensor(DType dtype, Shape shape);
  static Result<Tensor> create(DType dtype, Shape shape);
  static Tensor from_data(DType dtype, Shape shape, const void* bytes);
  template <typename T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values) {
    return from_data(dtype_of<T>::value, std::move(shape), values.data());
  }
  template <typename T>
  static Tensor scalar(T v) { return from_data(dtype_of<T>::value, Shape{}, &v); }

  bool defined() const { return dtype_ != DType::kUndefined; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t numel() const { return shape_.numel(); }
  size_t bytes() const { return dtype_storage_bytes(dtype_, numel()); }
  void* raw() { return storage_ ? storage_->data() : nullptr; }
  const void* raw() const { return storage_ ? storage_->data() : nullptr; }
  template <typename T> T* data() { return static_cast<T*>(raw()); }
  template <typename T> const T* data() const { return static_cast<const T*>(raw()); }

  TensorView view() const { return TensorView{const_cast<void*>(raw()), dtype_, shape_}; }
  Tensor clone() const;
  // Same storage, new shape with the same element count.
  Tensor reshaped(Shape shape) const;

  // Reads any integer tensor as int64 values (for shape-like inputs).
  std::vector<int64_t> to_int64_vector() const;
  // Reads any numeric tensor as float values.
  std::vector<float> to_float_vector() const;

 private:
  DType dtype_ = DType::kUndefined;
  Shape shape_;
  std::shared_ptr<AlignedBuffer> storage_;
};

// Element i of a numeric tensor as double (int4 unpacked, f16 converted).
double read_element_as_double(const void* data, DType dtype, int64_t i);
void write_element_from_double(void* data, DType dtype, int64_t i, double v);

}  // namespace qe
