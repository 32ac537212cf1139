// Helpers shared by the op-level tests (run_single_op) and the kernel sweeps.
#pragma once

#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/core/cpu_features.h"
#include "engine/evaluate.h"
#include "kernels/gemm/gemm_f32.h"

namespace qe::test {

// The vector ISA levels this machine has (the scalar reference is compared against each).
inline std::vector<IsaLevel> simd_levels() {
  std::vector<IsaLevel> v;
  if (cpu_features().avx2) v.push_back(IsaLevel::kAvx2);
  if (cpu_features().avx512) v.push_back(IsaLevel::kAvx512);
  return v;
}

inline SingleOpResult run_ok(OpKind op, const std::vector<Tensor>& in, const Attributes& attrs = {}, int threads = 1,
                             int outputs = 1) {
  auto r = run_single_op(op, in, attrs, outputs, threads);
  INFO(op_name(op) << ": " << r.status().to_string());
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

template <typename T>
std::vector<T> values(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

// Uniform in [lo, hi); integer types take the floor.
template <typename T>
Tensor random_of(const Shape& s, uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::vector<T> v(static_cast<size_t>(s.numel()));
  for (auto& x : v) {
    double u = std::uniform_real_distribution<double>(lo, hi)(rng);
    x = std::is_integral_v<T> ? static_cast<T>(std::floor(u)) : static_cast<T>(u);
  }
  return Tensor::from_vector<T>(s, v);
}

// The fp32 GEMM microkernel configurations this machine can run.
inline std::vector<const kernels::GemmF32Config*> available_gemm_configs() {
  std::vector<const kernels::GemmF32Config*> out;
  for (IsaLevel l : {IsaLevel::kAvx2, IsaLevel::kAvx512}) {
    if (cpu_features().level >= l && kernels::gemm_f32_config(l)) out.push_back(kernels::gemm_f32_config(l));
  }
  return out;
}

// Float reassociation in a K-long dot product: error grows like sqrt(K) times the magnitude.
inline void check_close_k(const float* got, const float* want, int64_t n, int64_t K, const std::string& what) {
  double tol_scale = 1e-5 * std::sqrt(static_cast<double>(std::max<int64_t>(K, 1)));
  int bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    double tol = tol_scale * (1.0 + std::fabs(want[i]));
    if (!(std::fabs(got[i] - want[i]) <= tol)) {
      if (bad++ < 3) UNSCOPED_INFO(what << ": element " << i << " got " << got[i] << " want " << want[i]);
    }
  }
  CHECK(bad == 0);
}

}  // namespace qe::test
