#include "apps/cli/accuracy.h"

#include <chrono>
#include <cstdio>
#include <cstring>

#include "engine/data/batch_loader.h"

namespace qe::cli {

std::vector<Sample> pick_samples(const std::vector<Sample>& all, int64_t limit) {
  if (limit < 0 || limit >= static_cast<int64_t>(all.size())) return all;
  std::vector<Sample> out;
  for (int64_t i = 0; i < limit; ++i) out.push_back(all[static_cast<size_t>(i * static_cast<int64_t>(all.size()) / limit)]);
  return out;
}

namespace {

void draw_progress(const std::string& label, int64_t done, int64_t total, int64_t correct, double seconds) {
  const int width = 30;
  int filled = total ? static_cast<int>(width * done / total) : width;
  double rate = seconds > 0 ? done / seconds : 0;
  double eta = rate > 0 ? (total - done) / rate : 0;
  std::fprintf(stderr, "\r%s[%.*s%*s] %lld/%lld  top-1 %.2f%%  %.0f img/s  ETA %.0fs ", label.c_str(), filled,
               "##############################", width - filled, "", static_cast<long long>(done),
               static_cast<long long>(total), done ? 100.0 * correct / done : 0.0, rate, eta);
  std::fflush(stderr);
}

}  // namespace

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
    if (!out.is_ok()) {
      if (options.progress) std::fprintf(stderr, "\n");
      return out.status();
    }
    const Tensor& logits = (*out)[0];
    if (logits.dtype() != DType::kF32 || logits.shape().rank() != 2 || logits.shape()[0] != input.shape()[0]) {
      return invalid_argument("output '", session.output_names()[0], "' has shape ", logits.shape().to_string(),
                              "; accuracy needs [batch, classes] logits");
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
    if (options.progress) {
      draw_progress(options.progress_label, r.images, static_cast<int64_t>(samples.size()) - (*loader)->num_skipped(),
                    r.top1, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }
  if (options.progress) std::fprintf(stderr, "\n");
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.skipped = (*loader)->num_skipped();
  r.warnings = (*loader)->warnings();
  if (r.images == 0) return invalid_argument(folder, ": no image could be read");
  return r;
}

}  // namespace qe::cli
