// Runs a kernel's work as phases of independent tasks inside ONE parallel region: a worker
// claims tasks of phase p in order and only starts phase p + 1 once every task of phase p has
// finished. A conv (pad copy -> packing -> GEMM tiles -> transpose) then wakes the pool's
// workers once instead of once per step. Tasks are claimed dynamically, but each task's
// arithmetic is fixed, so results do not depend on which thread runs what.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

struct TaskPhase {
  int64_t tasks = 0;
  // `scratch` is the running worker's slot (slot_stride floats, not shared while it runs).
  std::function<void(int64_t task, float* scratch)> run;
};

// At most `num_slots` workers take part; `scratch` holds num_slots slots of slot_stride floats.
void run_task_phases(ThreadPool& pool, std::span<const TaskPhase> phases, float* scratch, int64_t slot_stride,
                     int num_slots);

}  // namespace qe::kernels
