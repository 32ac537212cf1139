// quantize(): a rule file plus a folder of calibration images → a fake-quant model, through the
// quantization library's one-call pipeline (quant/quantize_graph.h), fed the way `qengine
// calibrate` feeds it (samples spread evenly over the folder, bias correction on a subset).
#include <cstring>
#include <memory>

#include "apps/libqengine/api_internal.h"
#include "engine/data/batch_loader.h"
#include "engine/data/image_folder.h"
#include "quant/quantize_graph.h"
#include "quant/rules.h"

namespace qengine {

namespace {

// Evenly spaced samples so that a subset still covers every class (as `qengine calibrate`).
std::vector<qe::Sample> spread_samples(const std::vector<qe::Sample>& all, int64_t limit) {
  if (limit < 0 || limit >= static_cast<int64_t>(all.size())) return all;
  std::vector<qe::Sample> out;
  for (int64_t i = 0; i < limit; ++i) out.push_back(all[static_cast<size_t>(i * static_cast<int64_t>(all.size()) / limit)]);
  return out;
}

struct FolderFeed {
  std::vector<qe::Sample> samples;
  qe::Preprocessing preprocessing;
  qe::BatchLoaderOptions loader;
  int64_t fixed_batch = 0;  // a model with a fixed batch gets its last batch zero-padded
};

// A fresh decoding pass over the feed's samples per call.
qe::BatchSourceFactory folder_passes(std::shared_ptr<const FolderFeed> feed) {
  return [feed]() -> qe::Result<qe::BatchSource> {
    QE_ASSIGN_OR_RETURN(std::unique_ptr<qe::BatchLoader> made,
                        qe::BatchLoader::create(feed->samples, feed->preprocessing, feed->loader));
    std::shared_ptr<qe::BatchLoader> loader = std::move(made);
    return qe::BatchSource([feed, loader](std::vector<qe::Tensor>& inputs) -> qe::Result<bool> {
      auto batch = loader->next();
      if (!batch) return false;
      qe::Tensor t = batch->input;
      if (feed->fixed_batch && batch->size() < feed->fixed_batch) {
        qe::Shape s = t.shape();
        s[0] = feed->fixed_batch;
        qe::Tensor padded(qe::DType::kF32, s);
        std::memcpy(padded.raw(), t.raw(), t.bytes());
        t = padded;
      }
      inputs = {t};
      return true;
    });
  };
}

qe::RuleSet load_rules(const QuantizeOptions& o) {
  if (!o.rules_file.empty() && !o.rules_json.empty()) {
    throw Error(ErrorCode::invalid_argument, "QuantizeOptions: give rules_file or rules_json, not both");
  }
  if (!o.rules_file.empty()) return qe::api::value_or_throw(qe::load_rule_file(o.rules_file));
  if (!o.rules_json.empty()) return qe::api::value_or_throw(qe::parse_rules(o.rules_json, "QuantizeOptions::rules_json"));
  return qe::default_rule_set();
}

}  // namespace

Model quantize(const Model& float_model, const QuantizeOptions& options) {
  const Model::Impl& m = *detail::Access::impl(float_model);
  if (options.calibration_dir.empty()) throw Error(ErrorCode::invalid_argument, "QuantizeOptions::calibration_dir is empty");
  if (options.samples < 1 || options.bias_correction_samples < 0 || options.batch < 1 || options.threads < 0) {
    throw Error(ErrorCode::invalid_argument,
                "QuantizeOptions: samples and batch must be positive, bias_correction_samples and threads not negative");
  }
  if (m.quantized) throw Error(ErrorCode::invalid_argument, m.name + " is already quantized");
  if (m.inputs.size() != 1) {
    throw Error(ErrorCode::invalid_argument, m.name + ": calibration images need a model with one input; this one has " +
                                                 std::to_string(m.inputs.size()));
  }
  qe::RuleSet rules = load_rules(options);
  const std::string policy = !options.policy.empty() ? options.policy : !rules.policy.empty() ? rules.policy : "full";

  qe::Dataset dataset = qe::api::value_or_throw(qe::scan_image_folder(options.calibration_dir));
  auto feed = std::make_shared<FolderFeed>();
  feed->samples = spread_samples(dataset.samples, options.samples);
  feed->preprocessing = m.preprocessing;
  feed->loader.batch_size = options.batch;
  const qe::Value& in = m.graph.value(m.graph.inputs()[0]);
  if (in.shape_known && in.shape.rank() == 4) {
    if (in.shape[0] > 0) feed->loader.batch_size = static_cast<int>(in.shape[0]);
    if (in.shape[2] > 0 && in.shape[3] > 0) {
      feed->loader.height = static_cast<int>(in.shape[2]);
      feed->loader.width = static_cast<int>(in.shape[3]);
    }
    feed->fixed_batch = in.shape[0] > 0 ? in.shape[0] : 0;
  }
  auto bias_feed = std::make_shared<FolderFeed>(*feed);
  bias_feed->samples = spread_samples(feed->samples, options.bias_correction_samples);

  auto quantized = qe::quantize_graph(m.graph, rules, policy, folder_passes(feed), folder_passes(bias_feed),
                                      options.threads);
  if (!quantized.is_ok()) {
    qe::api::throw_status(quantized.status().with_context(m.name + " with " + options.calibration_dir + ": "));
  }
  auto impl = std::make_shared<Model::Impl>();
  impl->graph = std::move(quantized).value();
  impl->name = m.name + " (quantized)";
  impl->sidecar_json = m.sidecar_json;
  impl->preprocessing = m.preprocessing;
  qe::api::describe_model(*impl);
  return detail::Access::make(std::move(impl));
}

}  // namespace qengine
