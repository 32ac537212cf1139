// Decodes and preprocesses images on background threads while the caller runs inference,
// handing out batches in sample order. Images that cannot be decoded or preprocessed are skipped
// with a warning naming the file; the run goes on.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/data/image_folder.h"
#include "engine/data/preprocess.h"

namespace qe {

struct BatchLoaderOptions {
  int batch_size = 32;
  // Decoding threads. 0 decodes on the caller's thread inside next() (no overlap, for debugging).
  int num_workers = 2;
  // Decoded samples held ahead of the consumer, in batches: bounds memory at about
  // (prefetch_batches + 1) * batch_size * C*H*W floats.
  int prefetch_batches = 2;
  // Output size per sample. Zero: the preprocessing's fixed size (crop or exact resize), or
  // else the size the first sample's header implies. Samples of another size are skipped.
  int height = 0;
  int width = 0;
  // Stop after this many samples (-1 = all), e.g. a calibration subset.
  int64_t limit = -1;
};

struct Batch {
  Tensor input;  // float32 [B, C, H, W]
  std::vector<int> labels;
  std::vector<std::string> paths;
  std::vector<int64_t> indices;  // positions in the sample list
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

class BatchLoader {
 public:
  static Result<std::unique_ptr<BatchLoader>> create(std::vector<Sample> samples, Preprocessing preprocessing,
                                                     BatchLoaderOptions options = {});
  ~BatchLoader();  // stops and joins the workers, also mid-run
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch in sample order, full except possibly the last; nullopt when done. Skipped
  // samples do not leave holes: the batch is filled from the following ones.
  std::optional<Batch> next();

  const TensorDims& sample_dims() const { return dims_; }
  int64_t num_samples() const { return static_cast<int64_t>(samples_.size()); }
  int64_t num_skipped() const;
  std::vector<std::string> warnings() const;  // one line per skipped sample, naming the file

 private:
  struct Slot {
    bool ready = false;
    bool ok = false;
    std::vector<float> data;
    std::string error;
  };

  BatchLoader(std::vector<Sample> samples, Preprocessing preprocessing, BatchLoaderOptions options, TensorDims dims);
  void start();
  void worker_loop();
  void process(int64_t index, Slot* slot) const;

  std::vector<Sample> samples_;
  Preprocessing preprocessing_;
  BatchLoaderOptions options_;
  TensorDims dims_;

  mutable std::mutex mutex_;
  std::condition_variable slot_ready_;  // a worker finished a sample
  std::condition_variable slot_free_;   // the consumer released a slot, or stop
  std::vector<Slot> slots_;             // ring: sample i lives in slots_[i % size]
  int64_t next_to_claim_ = 0;           // next sample a worker will take
  int64_t cursor_ = 0;                  // next sample the consumer will take
  bool stop_ = false;
  int64_t skipped_ = 0;
  std::vector<std::string> warnings_;
  std::vector<std::thread> workers_;
};

}  // namespace qe
