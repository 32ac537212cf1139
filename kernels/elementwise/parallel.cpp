#include "kernels/elementwise/parallel.h"

#include <algorithm>

#include "engine/core/thread_pool.h"

namespace qe::kernels {

void parallel_ranges(ThreadPool* pool, int64_t n, int64_t grain, FnRef<void(int64_t, int64_t)> fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (!pool || pool->num_threads() == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  pool->parallel_for(n, [&fn](int64_t b, int64_t e) { fn(b, e); }, grain);
}

}  // namespace qe::kernels
