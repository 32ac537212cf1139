// qengine eval MODEL DIR: top-1/top-5 accuracy and throughput on an ImageNet-style folder.
#include <unistd.h>

#include <iostream>

#include <nlohmann/json.hpp>

#include "apps/cli/accuracy.h"
#include "apps/cli/commands.h"
#include "apps/cli/common.h"
#include "apps/cli/preprocessing_flags.h"
#include "engine/data/image_folder.h"

namespace qe::cli {

namespace {

struct EvalArgs {
  OpenModelOptions open;  // --simulate, --requant
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

int run_eval(const EvalArgs& a) {
  OpenModelOptions mo = a.open;
  mo.quiet = a.quiet;
  mo.input_shape_flags = a.input_shapes;
  mo.threads = a.threads;
  auto m = open_model(a.model, mo);
  if (!m.is_ok()) return report_error(m.status());
  auto pre = resolve_preprocessing(a.model, m->imported, a.pre, a.quiet);
  if (!pre.is_ok()) return report_error(pre.status());
  auto dataset = open_image_folder(a.folder);
  if (!dataset.is_ok()) return report_error(dataset.status());
  if (!a.quiet) {
    for (const auto& w : dataset->warnings) warn(w);
  }
  const Value& in = m->imported.value(m->imported.inputs()[0]);
  const int64_t fixed_batch = in.shape_known && in.shape.rank() == 4 && in.shape[0] > 0 ? in.shape[0] : 0;
  if (fixed_batch && fixed_batch != a.batch && !a.quiet) {
    warn("model input '" + in.name + "' has a fixed batch of " + std::to_string(fixed_batch) + "; using it");
  }
  AccuracyOptions ao;
  ao.batch = a.batch;
  ao.workers = a.workers;
  ao.progress = !a.json && !a.quiet;
  ao.progress_label = "eval";
  auto r = measure_accuracy(*m->session, m->imported, pick_samples(dataset->samples, a.limit), dataset->classes, *pre,
                            a.folder, ao);
  if (!r.is_ok()) return report_error(r.status());
  if (!a.quiet) {
    for (const auto& w : r->warnings) warn(w);
  }
  const double seen = static_cast<double>(r->images);
  nlohmann::json j = {{"model", a.model},
                      {"folder", a.folder},
                      {"images", r->images},
                      {"skipped", r->skipped},
                      {"top1", r->top1 / seen},
                      {"top5", r->top5 / seen},
                      {"images_per_s", seen / r->seconds},
                      {"inference_images_per_s", seen / r->infer_seconds},
                      {"batch", r->batch},
                      {"threads", m->session->num_threads()},
                      {"preprocessing", pre->to_string()}};
  if (a.json) {
    std::cout << j.dump() << "\n";
  } else {
    std::printf("%s on %s\n", a.model.c_str(), a.folder.c_str());
    std::printf("images: %lld (skipped %lld)\n", static_cast<long long>(r->images), static_cast<long long>(r->skipped));
    std::printf("top-1:  %.2f%%\ntop-5:  %.2f%%\n", 100.0 * r->top1 / seen, 100.0 * r->top5 / seen);
    std::printf("speed:  %.1f images/s end to end, %.1f images/s inference (batch %lld, %d threads)\n",
                seen / r->seconds, seen / r->infer_seconds, static_cast<long long>(r->batch), m->session->num_threads());
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
  add_integer_flags(*cmd, args->open);
  cmd->add_option("--decode-threads", args->workers, "Image decoding threads (default 2)")->check(CLI::Range(0, 64));
  cmd->add_flag("--json", args->json, "Print one JSON object (top1, top5, images, images_per_s, ...)");
  cmd->add_flag("--quiet", args->quiet, "No progress bar or warnings");
  cmd->add_option("--input-shape", args->input_shapes, "Override an input shape: NAME=d0,d1,...");
  args->pre.add_to(cmd);
  cmd->callback([args, &exit_code] { exit_code = run_eval(*args); });
}

}  // namespace qe::cli
