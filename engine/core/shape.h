// Tensor shapes. A dimension of -1 is unknown (a symbolic dim such as "batch" before the
// engine is told the real input shape); everything that allocates works on known shapes.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "engine/core/status.h"

namespace qe {

constexpr int64_t kUnknownDim = -1;
// Upper bound on the element count of one tensor: keeps byte sizes far from overflow.
constexpr int64_t kMaxTensorElements = int64_t{1} << 40;

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}

  size_t rank() const { return dims_.size(); }
  int64_t operator[](size_t i) const { return dims_[i]; }
  int64_t& operator[](size_t i) { return dims_[i]; }
  const std::vector<int64_t>& dims() const { return dims_; }
  std::vector<int64_t>& dims() { return dims_; }
  auto begin() const { return dims_.begin(); }
  auto end() const { return dims_.end(); }

  bool is_known() const;  // every dim >= 0
  // Product of dims; only meaningful for known shapes. Asserts on overflow:
  // use checked_numel() for shapes that come from a user or a model.
  int64_t numel() const;
  Result<int64_t> checked_numel() const;

  bool operator==(const Shape& o) const { return dims_ == o.dims_; }
  bool operator!=(const Shape& o) const { return dims_ != o.dims_; }
  std::string to_string() const;  // "[1,3,224,224]", unknown dims as "?"

 private:
  std::vector<int64_t> dims_;
};

// Row-major strides in elements.
std::vector<int64_t> contiguous_strides(const Shape& s);

// numpy broadcasting of two shapes; error names both shapes.
Result<Shape> broadcast_shapes(const Shape& a, const Shape& b);

// Normalises a possibly negative axis against `rank`; error when out of range.
Result<int64_t> normalize_axis(int64_t axis, int64_t rank);

}  // namespace qe
