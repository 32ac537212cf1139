#include "engine/core/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__linux__)
#include <sys/resource.h>
#endif

namespace qe {

namespace {
thread_local bool t_inside_pool_job = false;

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

// How long an idle worker polls before it blocks. Waking a blocked worker costs tens of
// microseconds here (a sleeping vCPU: +50-75 us per int8 conv after a 300 us gap; MobileNet v2
// W8A8 ran 17% faster with a 150 us window than with 20 us). But when other processes want the
// cores, polling takes CPU from the threads that have the work: the same model next to two busy
// loops ran 33% slower with the long window. The process's involuntary context switches tell the
// two apart (about 17 per second on the quiet machine, about 2,900 next to the busy loops), so
// the long window is used only while they stay rare.
constexpr int64_t kShortSpinNs = 20'000, kLongSpinNs = 150'000;
constexpr int64_t kProbeIntervalNs = 2'000'000;
constexpr int64_t kCalmSwitchesPerSecond = 200;

inline int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Polls while `busy()` holds, for at most `window_ns`.
template <typename Busy>
void poll_while(Busy busy, int64_t window_ns) {
  const int64_t until = wall_ns() + window_ns;
  while (busy() && wall_ns() < until) cpu_relax();
}

// -1 where the count is not available (then the window stays short).
inline int64_t involuntary_switches() {
#if defined(__linux__)
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) return ru.ru_nivcsw;
#endif
  return -1;
}

// One worker's poll window, re-decided at most every kProbeIntervalNs and published to `shared`
// (the caller's wait for the workers uses it too).
class SpinWindow {
 public:
  explicit SpinWindow(std::atomic<int64_t>& shared) : shared_(shared) {}
  int64_t ns() const { return window_ns_; }
  void after_job() {
    const int64_t now = wall_ns();
    if (now - probe_ns_ < kProbeIntervalNs) return;
    const int64_t switches = involuntary_switches();
    const bool calm = switches >= 0 && switches_ >= 0 &&
                      (switches - switches_) * 1'000'000'000 <= kCalmSwitchesPerSecond * (now - probe_ns_);
    window_ns_ = calm ? kLongSpinNs : kShortSpinNs;
    shared_.store(window_ns_, std::memory_order_relaxed);
    probe_ns_ = now;
    switches_ = switches;
  }

 private:
  std::atomic<int64_t>& shared_;
  int64_t window_ns_ = kShortSpinNs;
  int64_t probe_ns_ = wall_ns();
  int64_t switches_ = involuntary_switches();
};
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
  if (running_workers_.load(std::memory_order_acquire) != 0) {
    // A worker that joined is finishing its last chunk. Poll for it before blocking: a blocked
    // caller is as slow to wake as a blocked worker.
    lock.unlock();
    poll_while([this] { return running_workers_.load(std::memory_order_acquire) != 0; },
               poll_ns_.load(std::memory_order_relaxed));
    lock.lock();
  }
  done_.wait(lock, [this] { return running_workers_.load(std::memory_order_acquire) == 0; });
  job_ = nullptr;
}

void ThreadPool::worker_loop() {
  t_inside_pool_job = true;  // nested parallel_for calls from a job run inline
  uint64_t seen = 0;
  SpinWindow spin(poll_ns_);
  for (;;) {
    // Poll: back-to-back jobs (one per layer) then skip the sleep/wake round trip.
    poll_while([&] { return published_generation_.load(std::memory_order_acquire) == seen; }, spin.ns());
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
    spin.after_job();
  }
}

}  // namespace qe
