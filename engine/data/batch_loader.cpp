#include "engine/data/batch_loader.h"

#include <algorithm>
#include <cstring>
#include <exception>

#include "engine/data/image.h"

namespace qe {

Result<std::unique_ptr<BatchLoader>> BatchLoader::create(std::vector<Sample> samples, Preprocessing preprocessing,
                                                         BatchLoaderOptions options) {
  if (options.batch_size < 1) return invalid_argument("batch loader: batch size must be >= 1, got ", options.batch_size);
  if (options.num_workers < 0 || options.num_workers > 256) {
    return invalid_argument("batch loader: worker count must be in [0, 256], got ", options.num_workers);
  }
  if (options.prefetch_batches < 1) {
    return invalid_argument("batch loader: prefetch must be >= 1 batch, got ", options.prefetch_batches);
  }
  if (options.height < 0 || options.width < 0 || (options.height == 0) != (options.width == 0)) {
    return invalid_argument("batch loader: output size must give both height and width, got ", options.height, "x",
                            options.width);
  }
  QE_RETURN_IF_ERROR(preprocessing.validate());
  if (options.limit >= 0 && static_cast<size_t>(options.limit) < samples.size()) samples.resize(options.limit);

  TensorDims dims{preprocessing.channels, options.height, options.width};
  if (options.height == 0) {
    if (auto fixed = fixed_output_dims(preprocessing)) {
      dims = *fixed;
    } else {
      // The size follows the images (no crop, no exact resize): take it from the first header
      // that reads, without decoding pixels.
      Status first_error;
      for (const Sample& s : samples) {
        Result<ImageInfo> info = read_image_info(s.path);
        if (!info.is_ok()) {
          if (first_error.is_ok()) first_error = info.status();
          continue;
        }
        QE_ASSIGN_OR_RETURN(dims, preprocessed_dims(preprocessing, info->height, info->width));
        break;
      }
      if (dims.height == 0 && !samples.empty()) {
        return invalid_argument("batch loader: none of the ", samples.size(),
                                " images has a readable header; first error: ", first_error.message());
      }
    }
  }
  std::unique_ptr<BatchLoader> loader(new BatchLoader(std::move(samples), std::move(preprocessing), options, dims));
  loader->start();
  return loader;
}

BatchLoader::BatchLoader(std::vector<Sample> samples, Preprocessing preprocessing, BatchLoaderOptions options,
                         TensorDims dims)
    : samples_(std::move(samples)), preprocessing_(std::move(preprocessing)), options_(options), dims_(dims) {
  const int64_t capacity = std::max<int64_t>(1, int64_t{options_.prefetch_batches} * options_.batch_size);
  slots_.resize(static_cast<size_t>(std::min<int64_t>(capacity, std::max<int64_t>(1, num_samples()))));
}

void BatchLoader::start() {
  const int workers = static_cast<int>(std::min<int64_t>(options_.num_workers, num_samples()));
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  slot_free_.notify_all();
  for (auto& t : workers_) t.join();
}

void BatchLoader::process(int64_t index, Slot* slot) const {
  const Sample& s = samples_[static_cast<size_t>(index)];
  slot->ok = false;
  slot->error.clear();
  try {
    Result<Image> img = decode_image_file(s.path);
    if (!img.is_ok()) {
      slot->error = "skipped: " + img.status().message();
      return;
    }
    Result<TensorDims> d = preprocessed_dims(preprocessing_, img->height, img->width);
    if (!d.is_ok()) {
      slot->error = "skipped '" + s.path + "': " + d.status().message();
      return;
    }
    if (!(*d == dims_)) {
      slot->error = str_cat("skipped '", s.path, "': it preprocesses to ", d->channels, "x", d->height, "x", d->width,
                            " but the batch holds ", dims_.channels, "x", dims_.height, "x", dims_.width);
      return;
    }
    slot->data.resize(static_cast<size_t>(dims_.numel()));
    Status st = preprocess(*img, preprocessing_, slot->data.data());
    if (!st.is_ok()) {
      slot->error = "skipped '" + s.path + "': " + st.message();
      return;
    }
    slot->ok = true;
  } catch (const std::exception& e) {
    slot->error = "skipped '" + s.path + "': " + e.what();
  }
}

void BatchLoader::worker_loop() {
  const int64_t n = num_samples();
  const int64_t capacity = static_cast<int64_t>(slots_.size());
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    slot_free_.wait(lock, [&] { return stop_ || next_to_claim_ >= n || next_to_claim_ < cursor_ + capacity; });
    if (stop_ || next_to_claim_ >= n) return;
    const int64_t i = next_to_claim_++;
    Slot* slot = &slots_[static_cast<size_t>(i % capacity)];
    // The slot is ours until the consumer releases sample i: it waits for `ready`, and no
    // other worker can claim i + capacity before the consumer has moved past i.
    lock.unlock();
    process(i, slot);
    lock.lock();
    slot->ready = true;
    slot_ready_.notify_all();
  }
}

std::optional<Batch> BatchLoader::next() {
  const int64_t n = num_samples();
  const int64_t capacity = static_cast<int64_t>(slots_.size());
  const int64_t sample_floats = dims_.numel();
  Batch batch;
  int64_t rows = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    rows = std::min<int64_t>(options_.batch_size, n - cursor_);
  }
  if (rows <= 0) return std::nullopt;
  batch.input = Tensor(DType::kF32, Shape{rows, dims_.channels, dims_.height, dims_.width});
  float* dst = batch.input.data<float>();

  int64_t count = 0;
  while (count < rows) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (cursor_ >= n) break;
    const int64_t i = cursor_;
    Slot* slot = &slots_[static_cast<size_t>(i % capacity)];
    if (workers_.empty()) {
      lock.unlock();
      process(i, slot);
      lock.lock();
    } else {
      slot_ready_.wait(lock, [&] { return slot->ready; });
    }
    lock.unlock();
    if (slot->ok) {
      std::memcpy(dst + count * sample_floats, slot->data.data(), sizeof(float) * static_cast<size_t>(sample_floats));
      const Sample& s = samples_[static_cast<size_t>(i)];
      batch.labels.push_back(s.label);
      batch.paths.push_back(s.path);
      batch.indices.push_back(i);
      ++count;
    }
    lock.lock();
    if (!slot->ok) {
      ++skipped_;
      warnings_.push_back(slot->error);
    }
    slot->ready = false;
    ++cursor_;
    lock.unlock();
    slot_free_.notify_all();
  }
  if (count == 0) return std::nullopt;
  if (count < rows) {
    // Skipped samples at the end of the list leave the last batch short.
    Tensor shrunk(DType::kF32, Shape{count, dims_.channels, dims_.height, dims_.width});
    std::memcpy(shrunk.data<float>(), dst, shrunk.bytes());
    batch.input = shrunk;
  }
  return batch;
}

int64_t BatchLoader::num_skipped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return skipped_;
}

std::vector<std::string> BatchLoader::warnings() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return warnings_;
}

}  // namespace qe
