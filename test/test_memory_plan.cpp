#include <catch2/catch.hpp>

#include <random>

#include "engine/memory_plan.h"

using namespace qe;

namespace {
// Any two buffers alive at the same step must not overlap in the arena.
void check_no_conflicts(const std::vector<BufferRequest>& req, const MemoryPlan& plan) {
  for (size_t a = 0; a < req.size(); ++a) {
    CHECK(plan.offsets[a] % 64 == 0);
    CHECK(plan.offsets[a] + req[a].bytes <= plan.arena_bytes);
    for (size_t b = a + 1; b < req.size(); ++b) {
      bool live_together = req[a].first_step <= req[b].last_step && req[b].first_step <= req[a].last_step;
      bool overlap = plan.offsets[a] < plan.offsets[b] + req[b].bytes && plan.offsets[b] < plan.offsets[a] + req[a].bytes;
      if (live_together && req[a].bytes && req[b].bytes) CHECK_FALSE(overlap);
    }
  }
}
}  // namespace

TEST_CASE("memory plan reuses memory of dead values") {
  // A chain: each value lives from its step to the next one.
  std::vector<BufferRequest> req;
  for (int i = 0; i < 10; ++i) req.push_back({1000, i, i + 1});
  MemoryPlan plan = plan_memory(req);
  check_no_conflicts(req, plan);
  CHECK(plan.arena_bytes == 2 * 1024);  // two buffers alive at a time, each rounded to 1024
}

TEST_CASE("memory plan has no conflicts on random lifetimes") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<BufferRequest> req;
    size_t sum = 0;
    for (int i = 0; i < 40; ++i) {
      int first = static_cast<int>(rng() % 30);
      int last = first + static_cast<int>(rng() % 8);
      size_t bytes = 1 + rng() % 5000;
      sum += (bytes + 63) / 64 * 64;
      req.push_back({bytes, first, last});
    }
    MemoryPlan plan = plan_memory(req);
    check_no_conflicts(req, plan);
    CHECK(plan.arena_bytes <= sum);
  }
}
