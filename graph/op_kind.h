#pragma once

#include <optional>
#include <string_view>

namespace qe {

enum class OpKind : int {
#define QE_OP(name) k##name,
#include "graph/op_list.def"
#undef QE_OP
  kCount,
};

std::string_view op_name(OpKind op);
std::optional<OpKind> op_from_name(std::string_view name);
// Ops that exist only inside qengine: the quantizer nodes (FakeQuant, Trunc; in files they are
// QONNX ops) and the integer runtime's ops. Importers never accept them from the default domain.
bool op_is_internal(OpKind op);

}  // namespace qe
