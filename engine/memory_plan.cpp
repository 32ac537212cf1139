#include "engine/memory_plan.h"

#include <algorithm>
#include <numeric>

namespace qe {

MemoryPlan plan_memory(const std::vector<BufferRequest>& requests, size_t alignment) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  auto align = [&](size_t x) { return (x + alignment - 1) / alignment * alignment; };
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });

  struct Placed {
    size_t offset, end;
    int first, last;
  };
  std::vector<Placed> placed;
  for (size_t idx : order) {
    const BufferRequest& r = requests[idx];
    size_t size = align(std::max<size_t>(r.bytes, 1));
    // Buffers alive at the same time as this one, by offset.
    std::vector<const Placed*> overlapping;
    for (const Placed& p : placed) {
      if (p.first <= r.last_step && r.first_step <= p.last) overlapping.push_back(&p);
    }
    std::sort(overlapping.begin(), overlapping.end(), [](const Placed* a, const Placed* b) { return a->offset < b->offset; });
    size_t candidate = 0;
    for (const Placed* p : overlapping) {
      if (candidate + size <= p->offset) break;
      candidate = std::max(candidate, p->end);
    }
    plan.offsets[idx] = candidate;
    placed.push_back({candidate, candidate + size, r.first_step, r.last_step});
    plan.arena_bytes = std::max(plan.arena_bytes, candidate + size);
  }
  return plan;
}

}  // namespace qe
