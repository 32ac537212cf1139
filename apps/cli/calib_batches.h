// Calibration images as batches for the quantization library: a decoding pass over a folder's
// samples per call (folder_passes), or the images decoded once and replayed (CachedBatches).
// Shared by `calibrate` and `mixed`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "apps/cli/progress.h"
#include "engine/data/batch_loader.h"
#include "engine/data/image_folder.h"
#include "engine/data/preprocess.h"
#include "graph/graph.h"
#include "quant/calibrator.h"
#include "quant/layer_sequential.h"
#include "quant/quantize_graph.h"

namespace qe::cli {

// Feeds batches from an image folder; a model with a fixed batch dimension gets its last batch
// padded with zeros (the calibrator takes any batch).
class FolderSource {
 public:
  static Result<FolderSource> create(const std::vector<Sample>& samples, const Preprocessing& pre, const Graph& g,
                                     int batch, int workers);
  BatchSource source();
  // Same, also handing out the batch's labels (dataset class indices; padding rows get none).
  Result<bool> next(std::vector<Tensor>& inputs, std::vector<int>* labels);
  int64_t seen() const { return seen_; }
  int64_t skipped() const;
  std::vector<std::string> warnings() const;

 private:
  FolderSource() = default;
  std::shared_ptr<BatchLoader> loader_;
  int64_t fixed_batch_ = 0;
  int64_t seen_ = 0;
};

// A fresh decoding pass over `samples` per call. `pre` and `g` must outlive the factory.
BatchSourceFactory folder_passes(std::vector<Sample> samples, const Preprocessing& pre, const Graph& g, int batch,
                                 int workers);

// Images decoded once and replayed: the layer-sequential algorithms stream the data once per
// layer, and decoding (JPEG, resize) would otherwise dominate their time.
class CachedBatches {
 public:
  CachedBatches(std::vector<std::vector<Tensor>> batches, std::vector<std::vector<int>> labels)
      : batches_(std::move(batches)), labels_(std::move(labels)) {}
  BatchSourceFactory passes() const { return batch_list_passes(batches_); }
  const std::vector<std::vector<Tensor>>& batches() const { return batches_; }
  const std::vector<std::vector<int>>& labels() const { return labels_; }  // per batch, real rows only
  int64_t bytes() const;

 private:
  std::vector<std::vector<Tensor>> batches_;
  std::vector<std::vector<int>> labels_;
};

// Decodes `samples` once into memory when they fit in `limit` bytes (else nullptr: callers
// decode on every pass).
Result<std::unique_ptr<CachedBatches>> decode_once(const std::vector<Sample>& samples, const Preprocessing& pre,
                                                   const Graph& g, int batch, int workers, int64_t limit);

// `passes` with every batch's rows (the first input's leading dimension) added to `bar`: the
// progress of library phases that take a data source but report no progress themselves.
// `bar` must outlive the factory and its sources.
BatchSourceFactory counted_passes(BatchSourceFactory passes, ProgressBar& bar);

}  // namespace qe::cli
