#include "engine/core/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace qe {

namespace {
thread_local bool t_inside_pool_job = false;

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}
}  // namespace

int default_thread_count() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    ++generation_;
    published_generation_.store(generation_, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

int64_t ThreadPool::num_chunks(int64_t n, int64_t grain) const {
  if (n <= 0) return 0;
  grain = std::max<int64_t>(1, grain);
  // A few chunks per thread balance uneven work without making chunks tiny.
  int64_t target = static_cast<int64_t>(num_threads_) * 4;
  int64_t chunk = std::max(grain, (n + target - 1) / target);
  return (n + chunk - 1) / chunk;
}

void ThreadPool::run_chunks() {
  for (;;) {
    int64_t c = next_chunk_.fetch_add(1, std::memory_order_relaxed);
    if (c >= job_chunks_) break;
    int64_t begin = c * job_chunk_;
    int64_t end = std::min(job_n_, begin + job_chunk_);
    (*job_)(begin, end);
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (num_threads_ == 1 || n <= grain || t_inside_pool_job) {
    fn(0, n);
    return;
  }
  std::unique_lock<std::mutex> submit(submit_mutex_, std::try_to_lock);
  if (!submit.owns_lock()) {  // another thread is using the pool: do the work here
    fn(0, n);
    return;
  }
  int64_t chunks = num_chunks(n, grain);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    job_n_ = n;
    job_chunks_ = chunks;
    job_chunk_ = (n + chunks - 1) / chunks;
    job_chunks_ = (n + job_chunk_ - 1) / job_chunk_;
    next_chunk_.store(0, std::memory_order_relaxed);
    job_open_ = true;
    ++generation_;
    published_generation_.store(generation_, std::memory_order_release);
  }
  wake_.notify_all();
  t_inside_pool_job = true;
  run_chunks();
  t_inside_pool_job = false;
  // Every chunk is claimed. Wait only for the workers that joined: one still asleep (its wake-up
  // can take tens of microseconds on a busy machine) finds the job closed and goes back to sleep.
  std::unique_lock<std::mutex> lock(mutex_);
  job_open_ = false;
  done_.wait(lock, [this] { return running_workers_ == 0; });
  job_ = nullptr;
}

void ThreadPool::worker_loop() {
  t_inside_pool_job = true;  // nested parallel_for calls from a job run inline
  uint64_t seen = 0;
  for (;;) {
    // Poll briefly: back-to-back jobs (one per layer) then skip the sleep/wake round trip.
    auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
    while (published_generation_.load(std::memory_order_acquire) == seen &&
           std::chrono::steady_clock::now() < spin_until) {
      cpu_relax();
    }
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (stop_) return;
      if (!job_open_) continue;  // the caller finished the job alone
      ++running_workers_;
    }
    run_chunks();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--running_workers_ == 0 && !job_open_) done_.notify_one();
    }
  }
}

}  // namespace qe
