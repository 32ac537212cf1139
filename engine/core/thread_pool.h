// A fixed-size pool whose workers sleep on a condition variable when idle. The machines this
// runs on are small and shared, and a pool that spins collapses under contention, so a
// worker polls only briefly after finishing a job before it blocks: 150 us while the process
// is rarely preempted (waking a blocked worker costs tens of microseconds), 20 us otherwise.
// The calling thread waits for the workers' last chunks the same way.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace qe {

class ThreadPool {
 public:
  // `num_threads` counts the calling thread: 1 means no workers, everything runs inline.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(begin, end) over disjoint ranges covering [0, n), each at least `grain` long
  // (except the last). Ranges depend only on n, grain and the thread count, never on timing,
  // so kernels that write disjoint outputs per range are deterministic. Calls made from
  // inside a running job, or while another thread owns the pool, run inline.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain = 1);

  // Number of ranges parallel_for would use for n items (for sizing per-range scratch).
  int64_t num_chunks(int64_t n, int64_t grain = 1) const;

 private:
  void worker_loop();
  void run_chunks();

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::mutex submit_mutex_;
  uint64_t generation_ = 0;
  bool stop_ = false;
  bool job_open_ = false;    // the current job still accepts workers
  std::atomic<int> running_workers_{0};  // workers inside run_chunks() of the current job (changed under mutex_)
  std::atomic<int64_t> poll_ns_{20'000};   // the workers' current poll window, for the caller's wait

  // Current job.
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t job_chunk_ = 1;
  int64_t job_chunks_ = 0;
  std::atomic<int64_t> next_chunk_{0};
  std::atomic<uint64_t> published_generation_{0};
};

// Threads to use by default: hardware concurrency, at least 1.
int default_thread_count();

}  // namespace qe
