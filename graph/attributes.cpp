#include "graph/attributes.h"

namespace qe {

const AttrValue* Attributes::find(const std::string& name) const {
  for (const auto& [k, v] : items_) {
    if (k == name) return &v;
  }
  return nullptr;
}

void Attributes::set(const std::string& name, AttrValue value) {
  for (auto& [k, v] : items_) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  items_.emplace_back(name, std::move(value));
}

bool Attributes::erase(const std::string& name) {
  for (auto it = items_.begin(); it != items_.end(); ++it) {
    if (it->first == name) {
      items_.erase(it);
      return true;
    }
  }
  return false;
}

const char* attr_type_name(const AttrValue& v) {
  switch (v.index()) {
    case 0: return "int";
    case 1: return "float";
    case 2: return "string";
    case 3: return "ints";
    case 4: return "floats";
    case 5: return "strings";
    case 6: return "tensor";
  }
  return "?";
}

namespace {
template <typename T>
Result<T> get_typed(const Attributes& a, const std::string& name, T def, const char* want) {
  const AttrValue* v = a.find(name);
  if (!v) return def;
  if (const T* t = std::get_if<T>(v)) return *t;
  return invalid_argument("attribute '", name, "' should be ", want, " but is ", attr_type_name(*v));
}
}  // namespace

Result<int64_t> Attributes::get_int(const std::string& name, int64_t def) const {
  return get_typed<int64_t>(*this, name, def, "an int");
}
Result<float> Attributes::get_float(const std::string& name, float def) const {
  const AttrValue* v = find(name);
  if (v && std::holds_alternative<int64_t>(*v)) return static_cast<float>(std::get<int64_t>(*v));
  return get_typed<float>(*this, name, def, "a float");
}
Result<std::string> Attributes::get_string(const std::string& name, const std::string& def) const {
  return get_typed<std::string>(*this, name, def, "a string");
}
Result<std::vector<int64_t>> Attributes::get_ints(const std::string& name, std::vector<int64_t> def) const {
  return get_typed<std::vector<int64_t>>(*this, name, std::move(def), "a list of ints");
}
Result<std::vector<float>> Attributes::get_floats(const std::string& name, std::vector<float> def) const {
  return get_typed<std::vector<float>>(*this, name, std::move(def), "a list of floats");
}
Result<Tensor> Attributes::get_tensor(const std::string& name) const {
  const AttrValue* v = find(name);
  if (!v) return not_found("attribute '", name, "' is missing");
  if (const Tensor* t = std::get_if<Tensor>(v)) return *t;
  return invalid_argument("attribute '", name, "' should be a tensor but is ", attr_type_name(*v));
}

}  // namespace qe
