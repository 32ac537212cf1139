// Pieces shared by the elementwise and pooling family bindings (engine/ops/unary.cpp,
// binary.cpp, reduce.cpp, softmax.cpp, pooling.cpp, normalization.cpp).
#pragma once

#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "engine/core/cpu_features.h"
#include "engine/op_kernel.h"

namespace qe {

// Sub-family registration, called from register_elementwise_kernels / register_pooling_kernels.
void register_unary_kernels(KernelRegistry& r);
void register_binary_kernels(KernelRegistry& r);
void register_reduce_kernels(KernelRegistry& r);
void register_softmax_kernels(KernelRegistry& r);
void register_normalization_kernels(KernelRegistry& r);

// "Relu" -> "relu", "GlobalAveragePool" -> "globalaveragepool": candidate names start with it.
inline std::string lower_op_name(OpKind op) {
  std::string s(op_name(op));
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A decline unless the machine runs at `level` or above.
inline Status require_isa(IsaLevel level) {
  if (cpu_features().level < level) {
    return decline("needs ", isa_level_name(level), ", this machine runs at ", isa_level_name(cpu_features().level));
  }
  return Status::ok();
}

inline Status require_f32(const BindContext& ctx, int input) {
  DType t = ctx.input(input).dtype;
  if (t != DType::kF32) return decline("dtype ", dtype_name(t), " (this kernel is float only)");
  return Status::ok();
}

// Calls f(T{}) with T the C++ type of `t` for the numeric dtypes the generic kernels are
// instantiated for; a decline naming the dtype otherwise.
template <typename F>
Status visit_numeric(DType t, std::string_view what, F&& f) {
  switch (t) {
    case DType::kF32: return f(float{});
    case DType::kF64: return f(double{});
    case DType::kI8: return f(int8_t{});
    case DType::kU8: return f(uint8_t{});
    case DType::kI16: return f(int16_t{});
    case DType::kU16: return f(uint16_t{});
    case DType::kI32: return f(int32_t{});
    case DType::kU32: return f(uint32_t{});
    case DType::kI64: return f(int64_t{});
    case DType::kU64: return f(uint64_t{});
    default: return decline(what, ": dtype ", dtype_name(t), " is not supported");
  }
}

}  // namespace qe
