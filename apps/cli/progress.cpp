#include "apps/cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace qe::cli {

namespace {

constexpr int kBarWidth = 20;
constexpr size_t kLabelWidth = 10;
// ~10 redraws a second: smooth enough to read, cheap enough for per-batch callbacks.
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
constexpr double kMinRateSeconds = 0.1;

}  // namespace

bool stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

std::string format_duration(double seconds) {
  const long long s = seconds > 0 ? static_cast<long long>(seconds + 0.5) : 0;
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  }
  return buf;
}

ProgressBar::ProgressBar(std::string label, int64_t total, bool wanted, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      visible_(wanted && stderr_is_terminal()),
      start_(std::chrono::steady_clock::now()) {
  if (label_.size() < kLabelWidth) label_.resize(kLabelWidth, ' ');
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(int64_t done) {
  if (!visible_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  update_locked(done);
}

void ProgressBar::add(int64_t n) {
  if (!visible_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  update_locked(done_ + n);
}

void ProgressBar::update_locked(int64_t done) {
  if (finished_) return;
  done_ = total_ > 0 ? std::min(done, total_) : done;  // padded batches count their padding rows
  const auto now = std::chrono::steady_clock::now();
  const bool complete = total_ > 0 && done_ >= total_;
  if (!drawn_ || complete || now - last_draw_ >= kRedrawInterval) draw_locked();
}

void ProgressBar::set_total(int64_t total) {
  std::lock_guard<std::mutex> lock(mutex_);
  total_ = total;
}

void ProgressBar::set_note(std::string note) {
  std::lock_guard<std::mutex> lock(mutex_);
  note_ = std::move(note);
}

void ProgressBar::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (done_ == 0) start_ = std::chrono::steady_clock::now();
}

void ProgressBar::finish() {
  if (!visible_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  finished_ = true;
  if (!drawn_) return;  // a phase that never reported progress (skipped, or failed at once) leaves no line
  draw_locked();
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

void ProgressBar::draw_locked() {
  const auto now = std::chrono::steady_clock::now();
  last_draw_ = now;
  drawn_ = true;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  // The first batches of a phase often arrive at once (replayed from memory): no rate until
  // there is time enough to measure one.
  const bool complete = total_ > 0 && done_ >= total_;
  const double rate = elapsed >= kMinRateSeconds || complete ? static_cast<double>(done_) / elapsed : 0.0;
  std::string line = label_ + " ";
  char buf[160];
  if (total_ > 0) {
    const int64_t shown = std::min(done_, total_);
    const int filled = static_cast<int>(kBarWidth * shown / total_);
    line += "[" + std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(kBarWidth - filled), '.') +
            "] ";
    std::snprintf(buf, sizeof buf, "%lld/%lld", static_cast<long long>(done_), static_cast<long long>(total_));
  } else {
    std::snprintf(buf, sizeof buf, "%lld %s", static_cast<long long>(done_), unit_.c_str());
  }
  line += buf;
  if (rate > 0) {
    std::snprintf(buf, sizeof buf, "  %.1f %s/s", rate, unit_.c_str());
  } else {
    std::snprintf(buf, sizeof buf, "  ? %s/s", unit_.c_str());
  }
  line += buf;
  line += "  elapsed " + format_duration(elapsed);
  if (total_ > 0) {
    // Before the first item there is no rate to extrapolate from.
    const bool known = rate > 0 || complete;
    const double eta = complete ? 0.0 : rate > 0 ? static_cast<double>(total_ - done_) / rate : 0.0;
    line += "  ETA " + (known ? format_duration(eta) : std::string("?"));
  }
  if (!note_.empty()) line += "  " + note_;
  // Pad over the remains of a longer previous line.
  const size_t width = line.size();
  if (width < last_width_) line += std::string(last_width_ - width, ' ');
  last_width_ = width;
  std::fprintf(stderr, "\r%s", line.c_str());
  std::fflush(stderr);
}

}  // namespace qe::cli
