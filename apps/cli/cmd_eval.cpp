// qengine eval MODEL DIR: top-1/top-5 accuracy and throughput on an ImageNet-style folder.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>

#include <nlohmann/json.hpp>

#include "apps/cli/commands.h"
#include "apps/cli/common.h"
#include "apps/cli/preprocessing_flags.h"
#include "engine/data/batch_loader.h"
#include "engine/data/image_folder.h"

namespace qe::cli {

namespace {

struct EvalArgs {
  std::string model;
  std::string folder;
  int64_t limit = -1;
  int batch = 8;
  int threads = 0;
  int workers = 2;
  bool json = false;
  bool quiet = false;
  std::vector<std::string> input_shapes;
  PreprocessingFlags pre;
};

// Evenly spaced samples so that a limited run still covers every class.
std::vector<Sample> pick_samples(const std::vector<Sample>& all, int64_t limit) {
  if (limit < 0 || limit >= static_cast<int64_t>(all.size())) return all;
  std::vector<Sample> out;
  for (int64_t i = 0; i < limit; ++i) out.push_back(all[static_cast<size_t>(i * static_cast<int64_t>(all.size()) / limit)]);
  return out;
}

void draw_progress(int64_t done, int64_t total, int64_t correct, double seconds) {
  const int width = 30;
  int filled = total ? static_cast<int>(width * done / total) : width;
  double rate = seconds > 0 ? done / seconds : 0;
  double eta = rate > 0 ? (total - done) / rate : 0;
  std::fprintf(stderr, "\r[%.*s%*s] %lld/%lld  top-1 %.2f%%  %.0f img/s  ETA %.0fs ", filled,
               "##############################", width - filled, "", static_cast<long long>(done),
               static_cast<long long>(total), done ? 100.0 * correct / done : 0.0, rate, eta);
  std::fflush(stderr);
}

int run_eval(const EvalArgs& a) {
  OpenModelOptions mo;
  mo.input_shape_flags = a.input_shapes;
  mo.threads = a.threads;
  auto m = open_model(a.model, mo);
  if (!m.is_ok()) return report_error(m.status());
  auto pre = resolve_preprocessing(a.model, m->imported, a.pre, a.json || a.quiet);
  if (!pre.is_ok()) return report_error(pre.status());
  auto dataset = scan_image_folder(a.folder);
  if (!dataset.is_ok()) return report_error(dataset.status());
  if (!a.quiet) {
    for (const auto& w : dataset->warnings) warn(w);
  }
  const Value& in = m->imported.value(m->imported.inputs()[0]);
  int64_t batch = a.batch;
  int64_t fixed_batch = in.shape_known && in.shape.rank() == 4 && in.shape[0] > 0 ? in.shape[0] : 0;
  if (fixed_batch && fixed_batch != batch) {
    if (!a.quiet) warn("model input '" + in.name + "' has a fixed batch of " + std::to_string(fixed_batch) + "; using it");
    batch = fixed_batch;
  }
  std::vector<Sample> samples = pick_samples(dataset->samples, a.limit);
  BatchLoaderOptions lo;
  lo.batch_size = static_cast<int>(batch);
  lo.num_workers = a.workers;
  if (in.shape_known && in.shape.rank() == 4 && in.shape[2] > 0 && in.shape[3] > 0) {
    lo.height = static_cast<int>(in.shape[2]);
    lo.width = static_cast<int>(in.shape[3]);
  }
  auto loader = BatchLoader::create(samples, *pre, lo);
  if (!loader.is_ok()) return report_error(loader.status().with_context(a.folder + ": "));

  const bool progress = !a.json && !a.quiet && isatty(STDERR_FILENO);
  int64_t seen = 0, top1 = 0, top5 = 0;
  double infer_seconds = 0;
  auto start = std::chrono::steady_clock::now();
  while (auto b = (*loader)->next()) {
    Tensor input = b->input;
    int64_t n = b->size();
    if (fixed_batch && n < fixed_batch) {  // pad the last batch up to the model's fixed size
      Shape s = input.shape();
      s[0] = fixed_batch;
      Tensor padded(DType::kF32, s);
      std::memcpy(padded.raw(), input.raw(), input.bytes());
      input = padded;
    }
    auto t0 = std::chrono::steady_clock::now();
    auto out = m->session->run({input});
    infer_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!out.is_ok()) {
      if (progress) std::fprintf(stderr, "\n");
      return report_error(out.status());
    }
    const Tensor& logits = (*out)[0];
    if (logits.dtype() != DType::kF32 || logits.shape().rank() != 2 || logits.shape()[0] != input.shape()[0]) {
      return report_error(invalid_argument("output '", m->session->output_names()[0], "' has shape ",
                                           logits.shape().to_string(), "; eval needs [batch, classes] logits"));
    }
    const int64_t classes = logits.shape()[1];
    for (int64_t i = 0; i < n; ++i) {
      int label = b->labels[static_cast<size_t>(i)];
      if (label >= classes) {
        return report_error(invalid_argument(a.folder, ": class '", dataset->classes[static_cast<size_t>(label)], "' has index ",
                                             label, " but the model has only ", classes, " outputs"));
      }
      const float* row = logits.data<float>() + i * classes;
      float target = row[label];
      int64_t rank = 0;  // classes scoring strictly higher; ties resolve toward the lower index
      for (int64_t c = 0; c < classes; ++c) {
        if (row[c] > target || (row[c] == target && c < label)) ++rank;
      }
      top1 += rank == 0;
      top5 += rank < 5;
    }
    seen += n;
    if (progress) {
      draw_progress(seen, static_cast<int64_t>(samples.size()) - (*loader)->num_skipped(), top1,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }
  if (progress) std::fprintf(stderr, "\n");
  double total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!a.quiet && !a.json) {
    for (const auto& w : (*loader)->warnings()) warn(w);
  }
  if (seen == 0) return report_error(invalid_argument(a.folder, ": no image could be read"));
  nlohmann::json j = {{"model", a.model},
                      {"folder", a.folder},
                      {"images", seen},
                      {"skipped", (*loader)->num_skipped()},
                      {"top1", static_cast<double>(top1) / seen},
                      {"top5", static_cast<double>(top5) / seen},
                      {"images_per_s", seen / total_seconds},
                      {"inference_images_per_s", seen / infer_seconds},
                      {"batch", batch},
                      {"threads", m->session->num_threads()},
                      {"preprocessing", pre->to_string()}};
  if (a.json) {
    std::cout << j.dump() << "\n";
  } else {
    std::printf("%s on %s\n", a.model.c_str(), a.folder.c_str());
    std::printf("images: %lld (skipped %lld)\n", static_cast<long long>(seen), static_cast<long long>((*loader)->num_skipped()));
    std::printf("top-1:  %.2f%%\ntop-5:  %.2f%%\n", 100.0 * top1 / seen, 100.0 * top5 / seen);
    std::printf("speed:  %.1f images/s end to end, %.1f images/s inference (batch %lld, %d threads)\n",
                seen / total_seconds, seen / infer_seconds, static_cast<long long>(batch), m->session->num_threads());
  }
  return kExitOk;
}

}  // namespace

void add_eval_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "Top-1/top-5 accuracy and speed on an ImageNet-style image folder");
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_option("folder", args->folder, "Folder of class folders: DIR/<class>/<image>")->required();
  cmd->add_option("--limit", args->limit, "Evaluate N images spread evenly over the folder")->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--batch", args->batch, "Batch size (default 8)")->check(CLI::Range(1, 4096));
  cmd->add_option("--threads", args->threads, "Inference threads (default: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("--decode-threads", args->workers, "Image decoding threads (default 2)")->check(CLI::Range(0, 64));
  cmd->add_flag("--json", args->json, "Print one JSON object (top1, top5, images, images_per_s, ...)");
  cmd->add_flag("--quiet", args->quiet, "No progress bar or warnings");
  cmd->add_option("--input-shape", args->input_shapes, "Override an input shape: NAME=d0,d1,...");
  args->pre.add_to(cmd);
  cmd->callback([args, &exit_code] { exit_code = run_eval(*args); });
}

}  // namespace qe::cli
