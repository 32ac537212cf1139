#include "kernels/gemm/task_phases.h"

#include <algorithm>
#include <atomic>
#include <memory>

#include "engine/core/thread_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace qe::kernels {

namespace {
inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}
constexpr int kMaxPhases = 8;
}  // namespace

void run_task_phases(ThreadPool& pool, std::span<const TaskPhase> phases, float* scratch, int64_t slot_stride,
                     int num_slots) {
  const size_t np = std::min<size_t>(phases.size(), kMaxPhases);
  int64_t total = 0, widest = 0;
  for (size_t p = 0; p < np; ++p) {
    total += phases[p].tasks;
    widest = std::max(widest, phases[p].tasks);
  }
  if (total == 0) return;
  std::atomic<int64_t> next[kMaxPhases];
  std::atomic<int64_t> done[kMaxPhases];
  for (size_t p = 0; p < np; ++p) {
    next[p].store(0, std::memory_order_relaxed);
    done[p].store(0, std::memory_order_relaxed);
  }
  int64_t workers = std::min<int64_t>({pool.num_threads(), std::max(1, num_slots), widest});
  pool.parallel_for(workers, [&](int64_t begin, int64_t end) {
    for (int64_t slot = begin; slot < end; ++slot) {
      float* s = scratch ? scratch + slot * slot_stride : nullptr;
      for (size_t p = 0; p < np; ++p) {
        const TaskPhase& ph = phases[p];
        if (p > 0) {
          // Every task of the previous phase was claimed; wait for the ones still running.
          while (done[p - 1].load(std::memory_order_acquire) < phases[p - 1].tasks) cpu_relax();
        }
        int64_t finished = 0;
        for (;;) {
          int64_t t = next[p].fetch_add(1, std::memory_order_relaxed);
          if (t >= ph.tasks) break;
          ph.run(t, s);
          ++finished;
        }
        if (finished) done[p].fetch_add(finished, std::memory_order_acq_rel);
      }
    }
  });
}

}  // namespace qe::kernels
