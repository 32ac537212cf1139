// Pieces shared by the data-movement bindings (data.cpp, data_index.cpp, cast.cpp, resize.cpp).
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "engine/core/cpu_features.h"
#include "engine/op_kernel.h"

namespace qe {

// Sub-family registration, called from register_data_kernels (data.cpp).
void register_data_index_kernels(KernelRegistry& r);  // Gather, Concat, Split, Slice, Pad, Expand, Transpose
void register_cast_kernels(KernelRegistry& r);
void register_resize_kernels(KernelRegistry& r);      // Resize, Upsample

// A decline unless the machine runs at `level` or above.
inline Status require_cpu_level(IsaLevel level) {
  if (cpu_features().level < level) {
    return decline("needs ", isa_level_name(level), ", this machine runs at ", isa_level_name(cpu_features().level));
  }
  return Status::ok();
}

// Bytes per element of a dtype the element-moving kernels handle; a decline for packed
// (int4) and non-numeric types.
inline Result<size_t> element_bytes(DType t) {
  if (t == DType::kUndefined || t == DType::kString) return decline("dtype ", dtype_name(t), " is not supported");
  if (dtype_is_packed(t)) return decline("packed dtype ", dtype_name(t), " cannot be moved element by element");
  return static_cast<size_t>(dtype_bits(t) / 8);
}

// Every output shape concrete. A shape that depends on the values of a non-constant input
// (Reshape / Expand / Slice fed by a graph input) cannot be planned ahead.
inline Status require_known_outputs(const BindContext& ctx) {
  for (int i = 0; i < ctx.num_outputs(); ++i) {
    if (ctx.node().outputs[static_cast<size_t>(i)] == kNoValue) continue;
    const Value& v = ctx.output(i);
    if (!v.shape_known || !v.shape.is_known()) {
      return unsupported("output '", v.name, "' has shape ", v.shape.to_string(),
                         ", which depends on the values of a non-constant input");
    }
  }
  return Status::ok();
}

// The elements of a constant integer input, or a decline naming it.
inline Result<std::vector<int64_t>> constant_ints(const BindContext& ctx, int i, const char* what) {
  const Tensor* t = ctx.constant_input(i);
  if (!t) return decline("input '", what, "' is not a constant");
  return t->to_int64_vector();
}

}  // namespace qe
