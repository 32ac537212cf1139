// Offsets of intermediate values in one arena, from their lifetimes (the step that produces
// a value to the last step that reads it). Greedy by size, largest first, as in TFLite Micro's
// planner: each buffer takes the lowest offset that does not overlap a live-overlapping one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qe {

struct BufferRequest {
  size_t bytes = 0;
  int first_step = 0;  // producing step
  int last_step = 0;   // last reading step (inclusive)
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // per request, 64-byte aligned
  size_t arena_bytes = 0;
};

MemoryPlan plan_memory(const std::vector<BufferRequest>& requests, size_t alignment = 64);

}  // namespace qe
