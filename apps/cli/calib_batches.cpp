#include "apps/cli/calib_batches.h"

#include <algorithm>
#include <cstdio>
#include <cstring>


namespace qe::cli {

Result<FolderSource> FolderSource::create(const std::vector<Sample>& samples, const Preprocessing& pre, const Graph& g,
                                          int batch, int workers) {
  const Value& in = g.value(g.inputs()[0]);
  BatchLoaderOptions lo;
  lo.batch_size = batch;
  lo.num_workers = workers;
  if (in.shape_known && in.shape.rank() == 4) {
    if (in.shape[0] > 0) lo.batch_size = static_cast<int>(in.shape[0]);
    if (in.shape[2] > 0 && in.shape[3] > 0) {
      lo.height = static_cast<int>(in.shape[2]);
      lo.width = static_cast<int>(in.shape[3]);
    }
  }
  FolderSource s;
  s.fixed_batch_ = in.shape_known && in.shape.rank() == 4 && in.shape[0] > 0 ? in.shape[0] : 0;
  QE_ASSIGN_OR_RETURN(s.loader_, BatchLoader::create(samples, pre, lo));
  return s;
}

Result<bool> FolderSource::next(std::vector<Tensor>& inputs, std::vector<int>* labels) {
  auto b = loader_->next();
  if (!b) return false;
  Tensor t = b->input;
  if (fixed_batch_ && b->size() < fixed_batch_) {
    Shape s = t.shape();
    s[0] = fixed_batch_;
    Tensor padded(DType::kF32, s);
    std::memcpy(padded.raw(), t.raw(), t.bytes());
    t = padded;
  }
  inputs = {t};
  if (labels) *labels = b->labels;
  seen_ += b->size();
  return true;
}

BatchSource FolderSource::source() {
  return [this](std::vector<Tensor>& inputs) -> Result<bool> { return next(inputs, nullptr); };
}

int64_t FolderSource::skipped() const { return loader_->num_skipped(); }
std::vector<std::string> FolderSource::warnings() const { return loader_->warnings(); }

BatchSourceFactory folder_passes(std::vector<Sample> samples, const Preprocessing& pre, const Graph& g, int batch,
                                 int workers) {
  return [samples = std::move(samples), &pre, &g, batch, workers]() -> Result<BatchSource> {
    QE_ASSIGN_OR_RETURN(FolderSource folder, FolderSource::create(samples, pre, g, batch, workers));
    auto keep = std::make_shared<FolderSource>(std::move(folder));
    return BatchSource([keep](std::vector<Tensor>& inputs) { return keep->next(inputs, nullptr); });
  };
}

int64_t CachedBatches::bytes() const {
  int64_t total = 0;
  for (const auto& b : batches_) {
    for (const auto& t : b) total += static_cast<int64_t>(t.bytes());
  }
  return total;
}

Result<std::unique_ptr<CachedBatches>> decode_once(const std::vector<Sample>& samples, const Preprocessing& pre,
                                                   const Graph& g, int batch, int workers, int64_t limit) {
  QE_ASSIGN_OR_RETURN(FolderSource folder, FolderSource::create(samples, pre, g, batch, workers));
  std::vector<std::vector<Tensor>> batches;
  std::vector<std::vector<int>> labels;
  int64_t bytes = 0;
  std::vector<Tensor> inputs;
  std::vector<int> batch_labels;
  for (;;) {
    QE_ASSIGN_OR_RETURN(bool more, folder.next(inputs, &batch_labels));
    if (!more) break;
    for (const auto& t : inputs) bytes += static_cast<int64_t>(t.bytes());
    if (bytes > limit) return std::unique_ptr<CachedBatches>();
    batches.push_back(inputs);
    labels.push_back(batch_labels);
  }
  return std::make_unique<CachedBatches>(std::move(batches), std::move(labels));
}

BatchSourceFactory counted_passes(BatchSourceFactory passes, ProgressBar& bar) {
  return [passes = std::move(passes), &bar]() -> Result<BatchSource> {
    QE_ASSIGN_OR_RETURN(BatchSource source, passes());
    bar.start();
    return BatchSource([source = std::move(source), &bar](std::vector<Tensor>& inputs) -> Result<bool> {
      QE_ASSIGN_OR_RETURN(bool more, source(inputs));
      if (more && !inputs.empty() && inputs[0].shape().rank() > 0) bar.add(inputs[0].shape()[0]);
      return more;
    });
  };
}

}  // namespace qe::cli
