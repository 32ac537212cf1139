// Top-1 / top-5 of a session over an image folder: shared by `eval` and by `calibrate --val`
// (which compares the float and the quantized model image by image).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/data/image_folder.h"
#include "engine/data/preprocess.h"
#include "engine/session.h"

namespace qe::cli {

struct AccuracyOptions {
  int64_t batch = 8;         // a model with a fixed batch dimension overrides it
  int workers = 2;           // decoding threads
  bool progress = false;     // a progress bar is wanted (drawn only on a terminal: apps/cli/progress.h)
  std::string progress_label;
};

struct AccuracyResult {
  int64_t images = 0;
  int64_t skipped = 0;
  int64_t top1 = 0;
  int64_t top5 = 0;
  int64_t batch = 0;
  double seconds = 0;        // end to end
  double infer_seconds = 0;  // inside Session::run
  std::vector<int> predicted;  // top-1 class per evaluated sample, in sample order (skipped ones absent)
  std::vector<int64_t> sample_index;
  std::vector<std::string> warnings;  // skipped images
};

// Evenly spaced samples so that a limited run still covers every class.
std::vector<Sample> pick_samples(const std::vector<Sample>& all, int64_t limit);

// `model` is the graph the session was made from (for its input shape).
Result<AccuracyResult> measure_accuracy(Session& session, const Graph& model, const std::vector<Sample>& samples,
                                        const std::vector<std::string>& class_names, const Preprocessing& pre,
                                        const std::string& folder, const AccuracyOptions& options);

}  // namespace qe::cli
