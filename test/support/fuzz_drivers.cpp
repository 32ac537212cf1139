#include "support/fuzz_drivers.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "engine/data/batch_loader.h"
#include "engine/data/image.h"
#include "engine/data/preprocess.h"
#include "engine/session.h"
#include "frontends/onnx/onnx_import.h"
#include "frontends/onnx/quant_export.h"
#include "graph/schema.h"
#include "graph/verifier.h"
#include "quant/lower_integer.h"
#include "quant/policy.h"
#include "quant/prepare.h"
#include "quant/rules.h"

namespace qe::fuzz {

namespace {

// Beyond these a model is still prepared but not run: one input must stay well under the
// fuzzer's time budget, and a single Conv's cost grows with input size times weight count.
constexpr size_t kMaxRunNodes = 256;
constexpr int64_t kMaxRunInitializerElements = int64_t{1} << 17;
constexpr int64_t kMaxRunInputElements = 4096;
// Plans that need more arena than this are refused by the session (an error, not a crash).
constexpr size_t kMaxArenaBytes = size_t{64} << 20;
// Larger images are only header-checked: decoding 16384x16384 pixels is legal and merely slow.
constexpr int64_t kMaxDecodedPixels = int64_t{1} << 20;

// A broken promise between two parts of the library (not an error a file can cause): abort, so
// that the fuzzer saves the input and the regression test fails loudly.
[[noreturn]] void invariant_failed(const std::string& what) {
  std::fprintf(stderr, "fuzz driver: invariant violated: %s\n", what.c_str());
  std::abort();
}

SessionOptions fuzz_session_options() {
  SessionOptions so;
  so.num_threads = 1;  // no worker threads: deterministic, and leaks are attributed simply
  so.max_arena_bytes = kMaxArenaBytes;
  return so;
}

bool small_enough_to_run(const Graph& g) {
  if (g.num_live_nodes() > kMaxRunNodes) return false;
  int64_t initializer_elements = 0;
  for (size_t i = 0; i < g.num_values(); ++i) {
    const Value& v = g.value(static_cast<ValueId>(i));
    if (v.is_constant()) initializer_elements += v.constant.numel();
    if (initializer_elements > kMaxRunInitializerElements) return false;
  }
  return true;
}

// Zero tensors for every input (unknown dims taken as 1); ok without running when an input has
// no declared rank or the inputs are too large.
Status run_once_on_zeros(Session& session) {
  const Graph& g = session.graph();
  std::vector<Tensor> inputs;
  int64_t total = 0;
  for (ValueId id : g.inputs()) {
    const Value& v = g.value(id);
    if (!v.shape_known) return Status::ok();
    Shape shape = v.shape;
    for (size_t d = 0; d < shape.rank(); ++d) {
      if (shape[d] < 0) shape[d] = 1;
    }
    QE_ASSIGN_OR_RETURN(int64_t n, shape.checked_numel());
    total += n;
    if (total > kMaxRunInputElements) return Status::ok();
    QE_ASSIGN_OR_RETURN(Tensor t, Tensor::create(v.dtype, shape));
    inputs.push_back(std::move(t));
  }
  return session.run(inputs).status();
}

// Session::create (verifier, shape inference, load-time passes), then one run when small.
Status prepare_and_run(Graph g, const std::string& what) {
  const bool run = small_enough_to_run(g);
  auto session = Session::create(std::move(g), fuzz_session_options());
  if (!session.is_ok()) return session.status().with_context(what + ": prepare: ");
  if (!run) return Status::ok();
  Status st = run_once_on_zeros(**session);
  return st.is_ok() ? st : st.with_context(what + ": run: ");
}

Result<Graph> import_bytes(const uint8_t* data, size_t size, const OnnxImportOptions& options,
                           OnnxModelInfo* info = nullptr) {
  // No base directory: external data is refused, so an input cannot make the importer read files.
  return import_onnx_bytes(data, size, "", "fuzz.onnx", options, info);
}

Status check_imported(Graph& g) {
  QE_RETURN_IF_ERROR(verify_graph(g));
  Graph inferred = g;
  return infer_shapes(inferred);
}

// --- rule files: a small canonical CNN the rules are resolved against, built once.

ValueId add_filled_constant(Graph& g, const std::string& name, Shape shape) {
  Tensor t(DType::kF32, std::move(shape));
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = 0.05f * static_cast<float>(i % 13 - 6);
  return g.add_constant(name, std::move(t));
}

ValueId add_conv(Graph& g, const std::string& name, ValueId x, int64_t cin, int64_t cout, int64_t k, int64_t group) {
  ValueId w = add_filled_constant(g, name + ".weight", Shape({cout, cin / group, k, k}));
  ValueId b = add_filled_constant(g, name + ".bias", Shape({cout}));
  Attributes a;
  a.set("kernel_shape", std::vector<int64_t>{k, k});
  a.set("pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
  if (group != 1) a.set("group", group);
  ValueId out = g.add_value(name + "_out");
  g.add_node(OpKind::kConv, name, {x, w, b}, {out}, std::move(a));
  return out;
}

ValueId add_unary(Graph& g, OpKind op, const std::string& name, ValueId x, Attributes a = {}) {
  ValueId out = g.add_value(name + "_out");
  g.add_node(op, name, {x}, {out}, std::move(a));
  return out;
}

// input [1,4,8,8] → conv (3x3, 8) → relu → depthwise 3x3 → relu → 1x1 conv (16) →
// GlobalAveragePool → Flatten → Gemm (10): a first and a last compute node, a depthwise one
// and each attribute the selectors look at.
Result<Graph> make_rule_target_graph() {
  Graph g;
  g.name = "fuzz_rules_cnn";
  ValueId x = g.add_value("input", DType::kF32, Shape({1, 4, 8, 8}), true);
  g.add_input(x);
  ValueId a = add_unary(g, OpKind::kRelu, "relu1", add_conv(g, "/features/0/conv", x, 4, 8, 3, 1));
  ValueId b = add_unary(g, OpKind::kRelu, "relu2", add_conv(g, "/features/1/dw", a, 8, 8, 3, 8));
  ValueId c = add_conv(g, "/features/1/pw", b, 8, 16, 1, 1);
  ValueId p = add_unary(g, OpKind::kGlobalAveragePool, "gap", c);
  Attributes fa;
  fa.set("axis", int64_t{1});
  ValueId f = add_unary(g, OpKind::kFlatten, "flatten", p, std::move(fa));
  ValueId w = add_filled_constant(g, "/classifier/fc.weight", Shape({10, 16}));
  ValueId bias = add_filled_constant(g, "/classifier/fc.bias", Shape({10}));
  Attributes ga;
  ga.set("transB", int64_t{1});
  ValueId y = g.add_value("logits");
  g.add_node(OpKind::kGemm, "/classifier/fc", {f, w, bias}, {y}, std::move(ga));
  g.add_output(y);
  QE_RETURN_IF_ERROR(infer_shapes(g));
  return prepare_float_graph(std::move(g));
}

const Result<Graph>& rule_target_graph() {
  static const Result<Graph> graph = make_rule_target_graph();
  return graph;
}

// --- images

Preprocessing imagenet_small() {
  Preprocessing p = Preprocessing::imagenet();
  p.resize_shorter_side = 24;
  p.crop_height = 20;
  p.crop_width = 20;
  return p;
}

Preprocessing gray_exact_float_resize() {
  Preprocessing p;
  p.channels = 1;
  p.rgb_to_gray = RgbToGray::kLuminance;
  p.resize_height = 16;
  p.resize_width = 12;
  p.resize_in_float = true;
  p.mean = {0.5f};
  p.std = {0.25f};
  return p;
}

Preprocessing crop_only() {
  Preprocessing p;
  p.channels = 3;
  p.crop_height = 9;
  p.crop_width = 7;
  return p;
}

Status preprocess_with(const Image& img, const Preprocessing& p, const std::string& what) {
  Status valid = p.validate();
  if (!valid.is_ok()) invariant_failed("preprocessing '" + what + "' is invalid: " + valid.message());
  auto dims = preprocessed_dims(p, img.height, img.width);
  if (!dims.is_ok()) return dims.status().with_context(what + ": ");
  std::vector<float> out(static_cast<size_t>(dims->numel()));
  Status st = preprocess(img, p, out.data());
  return st.is_ok() ? st : st.with_context(what + ": ");
}

const std::string& temp_image_path() {
  static const std::string path =
      (std::filesystem::temp_directory_path() / ("qengine-fuzz-image-" + std::to_string(getpid()) + ".png")).string();
  return path;
}

// The loader path: the bytes as a file, one sample, decoded on this thread, output size from
// the header (no crop, no exact resize). Skipped samples are the loader's normal error path.
Status load_through_batch_loader(const uint8_t* data, size_t size) {
  const std::string& path = temp_image_path();
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!f) return io_error("fuzz driver: cannot write '", path, "'");
  }
  Preprocessing p;
  p.channels = 3;
  p.resize_shorter_side = 10;
  p.round_long_side = false;
  BatchLoaderOptions options;
  options.batch_size = 1;
  options.num_workers = 0;
  options.prefetch_batches = 1;
  auto loader = BatchLoader::create({Sample{path, 0}}, p, options);
  if (!loader.is_ok()) return loader.status().with_context("batch loader: ");
  int64_t loaded = 0;
  while (auto batch = (*loader)->next()) loaded += batch->size();
  std::filesystem::remove(path);
  if (loaded + (*loader)->num_skipped() != 1) {
    invariant_failed(str_cat("batch loader: 1 sample gave ", loaded, " loaded and ", (*loader)->num_skipped(),
                             " skipped"));
  }
  if (loaded == 0) return invalid_argument("batch loader: ", (*loader)->warnings().at(0));
  return Status::ok();
}

}  // namespace

Status drive_onnx_import(const uint8_t* data, size_t size) {
  auto g = import_bytes(data, size, OnnxImportOptions{});
  if (!g.is_ok()) return g.status().with_context("import: ");
  Status checked = check_imported(*g);
  if (!checked.is_ok()) return checked.with_context("verify / infer: ");
  return prepare_and_run(std::move(g).value(), "float");
}

Status drive_qonnx_import(const uint8_t* data, size_t size) {
  OnnxModelInfo info;
  auto g = import_bytes(data, size, OnnxImportOptions{}, &info);
  if (!g.is_ok()) return g.status().with_context("import: ");
  Status checked = check_imported(*g);
  if (!checked.is_ok()) return checked.with_context("verify / infer: ");

  // Q/DQ nodes as written, run by their own kernels.
  if (info.op_counts.count("QuantizeLinear") || info.op_counts.count("DequantizeLinear")) {
    OnnxImportOptions unfused;
    unfused.fuse_qcdq = false;
    auto raw = import_bytes(data, size, unfused);
    if (!raw.is_ok()) return raw.status().with_context("import without QCDQ fusion: ");
    QE_RETURN_IF_ERROR(prepare_and_run(std::move(raw).value(), "unfused QCDQ"));
  }

  QE_RETURN_IF_ERROR(prepare_and_run(*g, "simulated"));
  if (has_quantizers(*g)) {
    Graph lowered = *g;
    auto report = lower_to_integer(lowered);
    if (!report.is_ok()) return report.status().with_context("integer lowering: ");
    format_lowering_report(*report);
    QE_RETURN_IF_ERROR(prepare_and_run(std::move(lowered), "integer"));
  }

  // What the exporter writes (from the shape-inferred graph, as calibrate exports) must import
  // again; an error here is reported, not hidden.
  Graph inferred = *g;
  QE_RETURN_IF_ERROR(infer_shapes(inferred));
  auto exported = export_qonnx_bytes(inferred);
  if (!exported.is_ok()) return exported.status().with_context("QONNX export: ");
  auto again = import_onnx_bytes(exported->data(), exported->size(), "", "fuzz re-export");
  if (!again.is_ok()) return again.status().with_context("re-import of the QONNX export: ");
  return Status::ok();
}

Status drive_rule_file(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto rules = parse_rules(text, "fuzz.json");
  if (!rules.is_ok()) return rules.status().with_context("parse: ");
  QE_RETURN_IF_ERROR(apply_flags(*rules, QuantFlags{}));
  const Result<Graph>& g = rule_target_graph();
  if (!g.is_ok()) invariant_failed("the rule target graph does not build: " + g.status().message());
  auto config = resolve_rules(*g, *rules);
  if (!config.is_ok()) return config.status().with_context("resolve: ");
  auto plan = make_quant_plan(*g, *config);
  explain_config(*g, *config, plan.is_ok() ? &plan.value() : nullptr);
  return plan.is_ok() ? Status::ok() : plan.status().with_context("plan: ");
}

Status drive_image_decode(const uint8_t* data, size_t size) {
  auto info = read_image_info_memory(data, size, "fuzz image");
  if (!info.is_ok()) return info.status().with_context("header: ");
  if (int64_t{info->height} * info->width > kMaxDecodedPixels) return Status::ok();
  auto img = decode_image_memory(data, size, "fuzz image");
  if (!img.is_ok()) return img.status().with_context("decode: ");
  if (img->height != info->height || img->width != info->width || img->channels != info->channels) {
    invariant_failed(str_cat("header says ", info->height, "x", info->width, "x", info->channels, ", decode gave ",
                             img->height, "x", img->width, "x", img->channels));
  }
  QE_RETURN_IF_ERROR(preprocess_with(*img, imagenet_small(), "imagenet"));
  QE_RETURN_IF_ERROR(preprocess_with(*img, gray_exact_float_resize(), "gray"));
  QE_RETURN_IF_ERROR(preprocess_with(*img, crop_only(), "crop"));
  return load_through_batch_loader(data, size);
}

const std::vector<FuzzTarget>& fuzz_targets() {
  static const std::vector<FuzzTarget> targets = {
      {"onnx_import", drive_onnx_import},
      {"qonnx_import", drive_qonnx_import},
      {"rule_file", drive_rule_file},
      {"image_decode", drive_image_decode},
  };
  return targets;
}

}  // namespace qe::fuzz
