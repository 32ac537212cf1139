#include "engine/core/shape.h"

#include <cassert>

namespace qe {

bool Shape::is_known() const {
  for (int64_t d : dims_) {
    if (d < 0) return false;
  }
  return true;
}

int64_t Shape::numel() const {
  auto r = checked_numel();
  assert(r.is_ok());
  return r.is_ok() ? *r : 0;
}

Result<int64_t> Shape::checked_numel() const {
  int64_t n = 1;
  for (int64_t d : dims_) {
    if (d < 0) return invalid_argument("shape ", to_string(), " has an unknown or negative dimension");
    if (d != 0 && n > kMaxTensorElements / d) {
      return out_of_range("shape ", to_string(), " has more than 2^40 elements");
    }
    n *= d;
  }
  return n;
}

std::string Shape::to_string() const {
  std::string s = "[";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i) s += ",";
    s += dims_[i] < 0 ? std::string("?") : std::to_string(dims_[i]);
  }
  return s + "]";
}

std::vector<int64_t> contiguous_strides(const Shape& s) {
  std::vector<int64_t> strides(s.rank(), 1);
  for (int64_t i = static_cast<int64_t>(s.rank()) - 2; i >= 0; --i) {
    strides[i] = strides[i + 1] * s[i + 1];
  }
  return strides;
}

Result<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  size_t rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.rank() ? 1 : a[i - (rank - a.rank())];
    int64_t db = i < rank - b.rank() ? 1 : b[i - (rank - b.rank())];
    if (da == db) {
      out[i] = da;
    } else if (da == 1) {
      out[i] = db;
    } else if (db == 1) {
      out[i] = da;
    } else if (da < 0 || db < 0) {
      out[i] = da < 0 ? db : da;  // unknown against known: assume it broadcasts to the known one
    } else {
      return invalid_argument("shapes ", a.to_string(), " and ", b.to_string(), " cannot be broadcast");
    }
  }
  return Shape(std::move(out));
}

Result<int64_t> normalize_axis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank || (rank == 0 && axis != 0 && axis != -1)) {
    return invalid_argument("axis ", axis, " is out of range for rank ", rank);
  }
  return axis < 0 ? axis + rank : axis;
}

}  // namespace qe
