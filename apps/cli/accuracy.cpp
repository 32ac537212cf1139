#include "apps/cli/accuracy.h"

#include <chrono>
#include <cstdio>
#include <cstring>

#include "apps/cli/progress.h"
#include "engine/data/batch_loader.h"

namespace qe::cli {

std::vector<Sample> pick_samples(const std::vector<Sample>& all, int64_t limit) {
  if (limit < 0 || limit >= static_cast<int64_t>(all.size())) return all;
  std::vector<Sample> out;
  for (int64_t i = 0; i < limit; ++i) out.push_back(all[static_cast<size_t>(i * static_cast<int64_t>(all.size()) / limit)]);
  return out;
}

Result<AccuracyResult> measure_accuracy(Session& session, const Graph& model, const std::vector<Sample>& samples,
                                        const std::vector<std::string>& class_names, const Preprocessing& pre,
                                        const std::string& folder, const AccuracyOptions& options) {
  AccuracyResult r;
  const Value& in = model.value(model.inputs()[0]);
  int64_t batch = options.batch;
  const int64_t fixed_batch = in.shape_known && in.shape.rank() == 4 && in.shape[0] > 0 ? in.shape[0] : 0;
  if (fixed_batch) batch = fixed_batch;
  r.batch = batch;
  BatchLoaderOptions lo;
  lo.batch_size = static_cast<int>(batch);
  lo.num_workers = options.workers;
  if (in.shape_known && in.shape.rank() == 4 && in.shape[2] > 0 && in.shape[3] > 0) {
    lo.height = static_cast<int>(in.shape[2]);
    lo.width = static_cast<int>(in.shape[3]);
  }
  auto loader = BatchLoader::create(samples, pre, lo);
  if (!loader.is_ok()) return loader.status().with_context(folder + ": ");

  ProgressBar bar(options.progress_label.empty() ? "eval" : options.progress_label,
                  static_cast<int64_t>(samples.size()), options.progress);
  auto start = std::chrono::steady_clock::now();
  while (auto b = (*loader)->next()) {
    Tensor input = b->input;
    const int64_t n = b->size();
    if (fixed_batch && n < fixed_batch) {  // pad the last batch up to the model's fixed size
      Shape s = input.shape();
      s[0] = fixed_batch;
      Tensor padded(DType::kF32, s);
      std::memcpy(padded.raw(), input.raw(), input.bytes());
      input = padded;
    }
    auto t0 = std::chrono::steady_clock::now();
    auto out = session.run({input});
    r.infer_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!out.is_ok()) return out.status();
    const Tensor& logits = (*out)[0];
    if (logits.dtype() != DType::kF32 || logits.shape().rank() != 2 || logits.shape()[0] != input.shape()[0]) {
      return invalid_argument("output '", session.output_names()[0], "' has shape ", logits.shape().to_string(),
                              "; accuracy needs [batch, classes] logits (for other models: qengine run --input)");
    }
    const int64_t classes = logits.shape()[1];
    for (int64_t i = 0; i < n; ++i) {
      const int label = b->labels[static_cast<size_t>(i)];
      if (label >= classes) {
        return invalid_argument(folder, ": class '", class_names[static_cast<size_t>(label)], "' has index ", label,
                                " but the model has only ", classes, " outputs");
      }
      const float* row = logits.data<float>() + i * classes;
      const float target = row[label];
      int64_t rank = 0;  // classes scoring strictly higher; ties resolve toward the lower index
      int best = 0;
      for (int64_t c = 0; c < classes; ++c) {
        if (row[c] > target || (row[c] == target && c < label)) ++rank;
        if (row[c] > row[best]) best = static_cast<int>(c);
      }
      r.top1 += rank == 0;
      r.top5 += rank < 5;
      r.predicted.push_back(best);
      r.sample_index.push_back(b->indices[static_cast<size_t>(i)]);
    }
    r.images += n;
    if (bar.visible()) {
      char note[48];
      std::snprintf(note, sizeof note, "top-1 %.2f%%", 100.0 * static_cast<double>(r.top1) / static_cast<double>(r.images));
      bar.set_note(note);
      bar.set_total(static_cast<int64_t>(samples.size()) - (*loader)->num_skipped());
      bar.update(r.images);
    }
  }
  bar.finish();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.skipped = (*loader)->num_skipped();
  r.warnings = (*loader)->warnings();
  if (r.images == 0) return invalid_argument(folder, ": no image could be read (JPEG, PNG or BMP files expected)");
  return r;
}

}  // namespace qe::cli
