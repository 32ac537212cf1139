// Activations that can be fused into the epilogue of Conv/Gemm kernels, and the scalar form
// that defines their numerics. Vectorised epilogues must match apply_activation().
#pragma once

#include <algorithm>
#include <cstdint>

namespace qe::kernels {

enum class ActKind : uint8_t { kNone, kRelu, kClip, kLeakyRelu, kHardSigmoid, kHardSwish, kSigmoid };

struct Activation {
  ActKind kind = ActKind::kNone;
  float alpha = 0.f;  // Clip: min; LeakyRelu: slope; HardSigmoid: alpha
  float beta = 0.f;   // Clip: max; HardSigmoid: beta
};

float apply_activation_slow(float x, const Activation& act);  // Sigmoid etc.

inline float apply_activation(float x, const Activation& act) {
  switch (act.kind) {
    case ActKind::kNone: return x;
    case ActKind::kRelu: return std::max(x, 0.f);
    case ActKind::kClip: return std::min(std::max(x, act.alpha), act.beta);
    case ActKind::kLeakyRelu: return x >= 0.f ? x : x * act.alpha;
    default: return apply_activation_slow(x, act);
  }
}

// Applies `act` to n contiguous floats in place (vectorised where the ISA allows).
void apply_activation_inplace(float* data, int64_t n, const Activation& act);

}  // namespace qe::kernels
