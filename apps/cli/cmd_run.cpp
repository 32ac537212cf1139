// qengine run MODEL IMAGE...            top-k classes per image
// qengine run MODEL --input NAME=x.npy  any model: named tensors in, .npy tensors out
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <numeric>

#include <nlohmann/json.hpp>

#include "apps/cli/commands.h"
#include "apps/cli/common.h"
#include "apps/cli/preprocessing_flags.h"
#include "engine/data/image.h"
#include "engine/data/npy.h"

namespace qe::cli {

namespace {

struct RunArgs {
  OpenModelOptions open;  // --simulate, --requant
  std::string model;
  std::vector<std::string> images;
  std::vector<std::string> npy_inputs;
  std::string save_outputs;
  std::string labels;
  int top = 5;
  int threads = 0;
  bool json = false;
  bool quiet = false;
  std::vector<std::string> input_shapes;
  PreprocessingFlags pre;
};

std::string safe_file_name(const std::string& name) {
  std::string s = name;
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  }
  return s.empty() || s[0] == '.' ? "_" + s : s;
}

int run_tensors(const RunArgs& a, OpenedModel& m) {
  std::vector<std::pair<std::string, Tensor>> named;
  for (const std::string& spec : a.npy_inputs) {
    auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) {
      return report_error(invalid_argument("--input '", spec, "' should look like NAME=file.npy"));
    }
    auto t = read_npy(spec.substr(eq + 1));
    if (!t.is_ok()) return report_error(t.status());
    named.emplace_back(spec.substr(0, eq), std::move(t).value());
  }
  auto out = m.session->run_named(named);
  if (!out.is_ok()) return report_error(out.status());
  auto names = m.session->output_names();
  if (!a.save_outputs.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(a.save_outputs, ec);
    if (ec) return report_error(io_error("cannot create '", a.save_outputs, "': ", ec.message()));
  }
  nlohmann::json j;
  for (size_t i = 0; i < out->size(); ++i) {
    const Tensor& t = (*out)[i];
    std::string file;
    if (!a.save_outputs.empty()) {
      file = a.save_outputs + "/" + safe_file_name(names[i]) + ".npy";
      Status st = write_npy(file, t);
      if (!st.is_ok()) return report_error(st);
    }
    j["outputs"].push_back({{"name", names[i]}, {"dtype", std::string(dtype_name(t.dtype()))},
                            {"shape", t.shape().dims()}, {"file", file}});
    if (!a.json) {
      std::cout << names[i] << ": " << dtype_name(t.dtype()) << " " << t.shape().to_string();
      if (!file.empty()) std::cout << " -> " << file;
      std::cout << "\n";
    }
  }
  if (a.json) std::cout << j.dump() << "\n";
  return kExitOk;
}

int run_images(const RunArgs& a, OpenedModel& m) {
  auto pre = resolve_preprocessing(a.model, m.imported, a.pre, a.quiet);
  if (!pre.is_ok()) return report_error(pre.status());
  auto labels = resolve_label_names(a.labels, *pre);
  if (!labels.is_ok()) return report_error(labels.status());
  std::vector<float> data;
  std::optional<TensorDims> dims;
  for (const std::string& path : a.images) {
    auto img = decode_image_file(path);
    if (!img.is_ok()) return report_error(img.status());
    auto d = preprocessed_dims(*pre, img->height, img->width);
    if (!d.is_ok()) return report_error(d.status().with_context(path + ": "));
    if (dims && !(*dims == *d)) {
      return report_error(invalid_argument(path, ": preprocesses to ", d->height, "x", d->width, ", the first image to ",
                                           dims->height, "x", dims->width, " (use --crop)"));
    }
    dims = *d;
    size_t offset = data.size();
    data.resize(offset + static_cast<size_t>(d->numel()));
    Status st = preprocess(*img, *pre, data.data() + offset);
    if (!st.is_ok()) return report_error(st.with_context(path + ": "));
  }
  Shape shape({static_cast<int64_t>(a.images.size()), dims->channels, dims->height, dims->width});
  Tensor input = Tensor::from_data(DType::kF32, shape, data.data());
  auto out = m.session->run({input});
  if (!out.is_ok()) return report_error(out.status());
  const Tensor& logits = (*out)[0];
  if (logits.dtype() != DType::kF32 || logits.shape().rank() != 2 || logits.shape()[0] != shape[0]) {
    return report_error(invalid_argument("output '", m.session->output_names()[0], "' has shape ",
                                         logits.shape().to_string(), "; top-k needs [batch, classes] (use --input/--save-outputs)"));
  }
  const int64_t classes = logits.shape()[1];
  nlohmann::json j;
  for (size_t i = 0; i < a.images.size(); ++i) {
    const float* row = logits.data<float>() + i * classes;
    float mx = *std::max_element(row, row + classes);
    double sum = 0;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(row[c] - mx));
    std::vector<int64_t> idx(static_cast<size_t>(classes));
    std::iota(idx.begin(), idx.end(), 0);
    int k = static_cast<int>(std::min<int64_t>(a.top, classes));
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int64_t x, int64_t y) { return row[x] > row[y]; });
    nlohmann::json ji = {{"image", a.images[i]}};
    if (!a.json) std::cout << a.images[i] << "\n";
    for (int r = 0; r < k; ++r) {
      int64_t c = idx[static_cast<size_t>(r)];
      double prob = std::exp(static_cast<double>(row[c] - mx)) / sum;
      std::string name = static_cast<size_t>(c) < labels->size() ? (*labels)[static_cast<size_t>(c)] : std::to_string(c);
      ji["top"].push_back({{"class", c}, {"label", name}, {"probability", prob}, {"logit", row[c]}});
      if (!a.json) std::printf("  %d. %-24s %6.2f%%  (class %lld, logit %.3f)\n", r + 1, name.c_str(), 100 * prob,
                               static_cast<long long>(c), row[c]);
    }
    j["images"].push_back(ji);
  }
  if (a.json) std::cout << j.dump() << "\n";
  return kExitOk;
}

int run_run(const RunArgs& a) {
  if (a.images.empty() == a.npy_inputs.empty()) {
    return report_error(invalid_argument("give either image files or --input NAME=file.npy, not both or neither"));
  }
  if (!a.save_outputs.empty() && a.npy_inputs.empty()) {
    return report_error(invalid_argument("--save-outputs goes with --input NAME=file.npy"));
  }
  OpenModelOptions mo = a.open;
  mo.input_shape_flags = a.input_shapes;
  mo.threads = a.threads;
  mo.quiet = a.quiet;
  auto m = open_model(a.model, mo);
  if (!m.is_ok()) return report_error(m.status());
  return a.npy_inputs.empty() ? run_images(a, *m) : run_tensors(a, *m);
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Classify images (top-k), or run any model on .npy tensors");
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_option("images", args->images, "Image files (JPEG, PNG, BMP)");
  cmd->add_option("--input", args->npy_inputs, "Feed an input from a NumPy file: NAME=file.npy (repeatable)");
  cmd->add_option("--save-outputs", args->save_outputs, "Write every output to DIR/<name>.npy");
  cmd->add_option("--top", args->top, "How many classes to show per image (default 5)")->check(CLI::Range(1, 1000));
  cmd->add_option("--labels", args->labels, "Class names, one per line (default: the sidecar's)");
  cmd->add_option("--threads", args->threads, "Threads (default: all cores)")->check(CLI::Range(0, 1024));
  add_integer_flags(*cmd, args->open);
  cmd->add_option("--input-shape", args->input_shapes, "Override an input shape: NAME=d0,d1,...");
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->add_flag("--quiet", args->quiet, "No warnings");
  args->pre.add_to(cmd);
  cmd->callback([args, &exit_code] { exit_code = run_run(*args); });
}

}  // namespace qe::cli
