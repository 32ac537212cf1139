// ThreadPool::parallel_for for kernels: the callback is passed by reference, so lambdas with
// any number of captures cost no std::function heap allocation, and small jobs run inline.
#pragma once

#include <cstdint>

#include "kernels/elementwise/fn_ref.h"

namespace qe {
class ThreadPool;
}

namespace qe::kernels {

// fn(begin, end) over [0, n) in ranges of at least `grain`; inline when pool is null, has one
// thread, or n <= grain. Ranges depend only on n, grain and the thread count.
void parallel_ranges(ThreadPool* pool, int64_t n, int64_t grain, FnRef<void(int64_t, int64_t)> fn);

}  // namespace qe::kernels
