// Typed node attributes. Read them when a kernel is bound, never while it runs.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "engine/core/status.h"
#include "engine/core/tensor.h"

namespace qe {

using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>,
                               std::vector<std::string>, Tensor>;

class Attributes {
 public:
  bool has(const std::string& name) const { return find(name) != nullptr; }
  const AttrValue* find(const std::string& name) const;
  void set(const std::string& name, AttrValue value);
  bool erase(const std::string& name);
  const std::vector<std::pair<std::string, AttrValue>>& items() const { return items_; }
  bool empty() const { return items_.empty(); }

  // Typed getters: the default when absent, an error naming the attribute on a type mismatch.
  Result<int64_t> get_int(const std::string& name, int64_t def) const;
  Result<float> get_float(const std::string& name, float def) const;
  Result<std::string> get_string(const std::string& name, const std::string& def) const;
  Result<std::vector<int64_t>> get_ints(const std::string& name, std::vector<int64_t> def = {}) const;
  Result<std::vector<float>> get_floats(const std::string& name, std::vector<float> def = {}) const;
  Result<Tensor> get_tensor(const std::string& name) const;

 private:
  std::vector<std::pair<std::string, AttrValue>> items_;
};

const char* attr_type_name(const AttrValue& v);

}  // namespace qe
