#include "quant/quantize_graph.h"

#include <algorithm>
#include <memory>

#include "quant/materialize.h"
#include "quant/policy.h"
#include "quant/prepare.h"
#include "quant/ptq_pipeline.h"

namespace qe {

Result<Graph> quantize_graph(const Graph& model, const RuleSet& rules, std::string_view policy,
                             const BatchSourceFactory& batches, int num_threads) {
  return quantize_graph(model, rules, policy, batches, batches, num_threads);
}

Result<Graph> quantize_graph(const Graph& model, const RuleSet& rules, std::string_view policy,
                             const BatchSourceFactory& batches, const BatchSourceFactory& bias_correction_batches,
                             int num_threads) {
  PrepareOptions po;
  po.keep_batch_norm = policy == "finn";
  QE_ASSIGN_OR_RETURN(Graph prepared, prepare_float_graph(model, po));
  QE_RETURN_IF_ERROR(apply_float_transforms(prepared, rules.algorithms, batches, num_threads).status());
  QE_ASSIGN_OR_RETURN(ResolvedConfig config, resolve_rules(prepared, rules));
  QE_ASSIGN_OR_RETURN(QuantPlan plan, make_quant_plan(prepared, config, policy));
  QE_ASSIGN_OR_RETURN(BatchSource source, batches());
  CalibrationOptions co;
  co.num_threads = num_threads;
  QE_ASSIGN_OR_RETURN(CalibrationResult cal, calibrate(prepared, plan, source, co));
  QE_ASSIGN_OR_RETURN(Graph quantized, materialize_plan(prepared, plan, cal));
  RefineOptions ro;
  ro.num_threads = num_threads;
  QE_RETURN_IF_ERROR(
      refine_quantized_graph(prepared, quantized, plan, rules.algorithms, batches, bias_correction_batches, ro).status());
  return quantized;
}

BatchSource tensor_batches(const Tensor& images, int64_t batch) {
  auto next = std::make_shared<int64_t>(0);
  return [&images, batch, next](std::vector<Tensor>& inputs) -> Result<bool> {
    const int64_t n = images.shape()[0];
    if (*next >= n) return false;
    const int64_t b = std::min<int64_t>(batch, n - *next);
    Shape shape = images.shape();
    shape[0] = b;
    const int64_t per_image = images.numel() / n;
    inputs = {Tensor::from_data(DType::kF32, shape, images.data<float>() + *next * per_image)};
    *next += b;
    return true;
  };
}

BatchSourceFactory tensor_batch_passes(const Tensor& images, int64_t batch) {
  return [&images, batch]() -> Result<BatchSource> { return tensor_batches(images, batch); };
}

BatchSourceFactory batch_list_passes(const std::vector<std::vector<Tensor>>& batches) {
  return [&batches]() -> Result<BatchSource> {
    auto next = std::make_shared<size_t>(0);
    return BatchSource([&batches, next](std::vector<Tensor>& inputs) -> Result<bool> {
      if (*next >= batches.size()) return false;
      inputs = batches[(*next)++];
      return true;
    });
  };
}

}  // namespace qe
