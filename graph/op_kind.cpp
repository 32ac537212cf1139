#include "graph/op_kind.h"

#include <array>

namespace qe {

namespace {
constexpr std::array<std::string_view, static_cast<size_t>(OpKind::kCount)> kNames = {
#define QE_OP(name) #name,
#include "graph/op_list.def"
#undef QE_OP
};
}  // namespace

std::string_view op_name(OpKind op) {
  auto i = static_cast<size_t>(op);
  return i < kNames.size() ? kNames[i] : std::string_view("?");
}

std::optional<OpKind> op_from_name(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<OpKind>(i);
  }
  return std::nullopt;
}

bool op_is_internal(OpKind op) {
  switch (op) {
    case OpKind::kFakeQuant:
    case OpKind::kTrunc:
    case OpKind::kQAdd:
    case OpKind::kQAvgPool:
    case OpKind::kQConv:
    case OpKind::kQGemm:
    case OpKind::kQLut:
    case OpKind::kQMul: return true;
    default: return false;
  }
}

}  // namespace qe
