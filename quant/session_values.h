// Finds values by name in the graph a Session actually runs. The session specialises its graph
// per input shape and may fold values it was given as computed (an Expand of a constant class
// token becomes a constant once the batch size is known): such values never reach a
// ValueObserver, so callers read them from here instead.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/session.h"
#include "quant/calibrator.h"

namespace qe {

class SessionValues {
 public:
  // `watched`: value name → caller's index.
  SessionValues(Session& session, const std::unordered_map<std::string, int>& watched)
      : session_(session), watched_(watched) {}

  // Before each run: (re)builds the index when the input shapes change and collects the
  // watched values that no step produces (graph inputs, constants) with their data.
  Status prepare(const std::vector<Tensor>& inputs);

  // The caller's index of a value of the running plan graph, -1 when not watched.
  int index(ValueId v) const {
    return v >= 0 && static_cast<size_t>(v) < index_.size() ? index_[static_cast<size_t>(v)] : -1;
  }
  // (caller's index, data) of the watched values that this batch gives without running a step.
  const std::vector<std::pair<int, Tensor>>& direct() const { return direct_; }

 private:
  Session& session_;
  const std::unordered_map<std::string, int>& watched_;
  std::vector<std::vector<int64_t>> shapes_;
  bool built_ = false;
  std::vector<int> index_;
  std::vector<std::pair<int, Tensor>> constants_;
  std::vector<std::pair<int, size_t>> inputs_;  // (caller's index, graph-input position)
  std::vector<std::pair<int, Tensor>> direct_;
};

// A session on a canonical graph that keeps every value observable: BatchNormalization is
// not folded (the graph is canonical already) and activations are not fused into their
// producers.
SessionOptions observing_session_options(int num_threads);

// Runs the batches of `source` (at most `max_batches`; <= 0: all) through `session` and calls
// `fn(index, data)` for every watched value (name → index) of every batch: graph inputs and
// constants directly, computed values as the session produces them. The first error `fn`
// returns ends the stream after that batch's run. `samples`, when given, adds each batch's
// size (dim 0 of its first input; 1 for a scalar input).
Status stream_watched_values(Session& session, const std::unordered_map<std::string, int>& watched,
                             const BatchSource& source, int max_batches,
                             const std::function<Status(int, const TensorView&)>& fn, int64_t* samples = nullptr);

}  // namespace qe
