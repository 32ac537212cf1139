// Helpers shared by the integer kernel sweeps (test_q*_kernels.cpp): the ISA levels to compare,
// the 1- and 2-thread pools, and uniform random integers.
#pragma once

#include <random>
#include <vector>

#include "engine/core/cpu_features.h"
#include "engine/core/thread_pool.h"

namespace qe::test {

// The scalar level plus every vector level this machine (and QENGINE_ISA) allows.
inline std::vector<IsaLevel> all_levels() {
  std::vector<IsaLevel> v{IsaLevel::kScalar};
  if (cpu_features().avx2) v.push_back(IsaLevel::kAvx2);
  if (cpu_features().avx512) v.push_back(IsaLevel::kAvx512);
  return v;
}

// One pool per thread count for the whole executable: creating pools per case would dominate.
inline ThreadPool& pool_of(int threads) {
  static ThreadPool p1(1), p2(2);
  return threads == 1 ? p1 : p2;
}

// Uniform in [lo, hi], both ends included.
inline int rnd(std::mt19937_64& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

}  // namespace qe::test
