// Shared helpers for tests: where the shared data lives, reading raw tensors, comparisons.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/tensor.h"

namespace qe::test {

// $QENGINE_SHARED (default ../shared relative to the source tree). Missing data fails loudly:
// require_file() throws with the path, so a test never silently passes without its data.
std::string shared_dir();
std::string shared_path(const std::string& rel);
std::string source_dir();
std::string binary_dir();
std::string require_file(const std::string& path);

std::vector<float> read_f32_file(const std::string& path);

struct DiffStats {
  double max_abs = 0;
  double max_rel = 0;
  int64_t worst_index = -1;
};
DiffStats compare(const float* a, const float* b, int64_t n);

// Deterministic pseudo-random tensors for sweeps.
Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.f, float hi = 1.f);

}  // namespace qe::test
