// The one progress bar of every long qengine job, on stderr:
//   calibrate  [#########...........] 120/300  40.1 img/s  elapsed 0:03  ETA 0:04
// Drawn only when the user can see it (stderr is a terminal) and asked for it (neither --quiet
// nor --json), so pipes, logs and machine-readable output never carry \r-redrawn lines.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace qe::cli {

// Whether the commands' progress bars can be seen: stderr is a terminal.
bool stderr_is_terminal();

class ProgressBar {
 public:
  // `wanted`: the command's flags allow a bar (not --quiet, not --json); it is drawn only if
  // stderr is also a terminal. `total` <= 0: unknown (count and rate only, no bar or ETA).
  // `unit` names what is counted in the rate ("img" → "img/s").
  ProgressBar(std::string label, int64_t total, bool wanted, std::string unit = "img");
  ~ProgressBar();  // finish()
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Progress is absolute; redraws at most ~10 times a second (always when done reaches total).
  // Safe to call from any thread.
  void update(int64_t done);
  void add(int64_t n);
  void set_total(int64_t total);
  // Extra text after the counters, e.g. "top-1 91.20%"; shown at the next redraw.
  void set_note(std::string note);
  // Restarts the clock unless progress was made: for a bar made before its phase begins.
  void start();
  // Draws the final state and ends the line (nothing if no progress was ever reported); later
  // updates are ignored. Idempotent.
  void finish();

  bool visible() const { return visible_; }

 private:
  void update_locked(int64_t done);
  void draw_locked();

  std::string label_;
  std::string unit_;
  std::string note_;
  int64_t total_ = 0;
  int64_t done_ = 0;
  bool visible_ = false;
  bool finished_ = false;
  bool drawn_ = false;
  size_t last_width_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::mutex mutex_;
};

// "0:07", "12:34", "1:02:03".
std::string format_duration(double seconds);

}  // namespace qe::cli
