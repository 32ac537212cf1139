// Conv(x, W, b) → BatchNormalization(γ, β, μ, σ²)  ⇒  Conv(x, W·s, (b − μ)·s + β), s = γ/√(σ²+ε)
// Gemm(x, W, c) → BatchNormalization                ⇒  Gemm with W and c scaled per output column.
// Optional: the FINN flow keeps BatchNormalization, so the caller decides whether to run it.
#include <cmath>

#include "graph/passes/passes.h"

namespace qe {

namespace {

bool all_constant_f32(const Graph& g, const Node& n, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i) {
    if (i >= n.inputs.size() || n.inputs[i] == kNoValue) return false;
    const Value& v = g.value(n.inputs[i]);
    if (!v.is_constant() || v.dtype != DType::kF32) return false;
  }
  return true;
}

class FoldBatchNormPass : public Pass {
 public:
  std::string_view name() const override { return "fold-batch-norm"; }
  Result<bool> run(Graph& g, PassContext&) override {
    bool changed = false;
    for (size_t i = 0; i < g.num_nodes(); ++i) {
      Node& bn = g.node(static_cast<NodeId>(i));
      if (!bn.alive || bn.op != OpKind::kBatchNormalization || bn.outputs.size() != 1) continue;
      if (!all_constant_f32(g, bn, 1, 5)) continue;
      const Value& x = g.value(bn.inputs[0]);
      if (x.producer == kNoNode || x.uses.size() != 1 || g.is_graph_output(x.id)) continue;
      Node& p = g.node(x.producer);
      bool is_conv = p.op == OpKind::kConv;
      bool is_gemm = p.op == OpKind::kGemm;
      if ((!is_conv && !is_gemm) || p.attrs.has("_act")) continue;
      if (p.inputs.size() < 2 || !all_constant_f32(g, p, 1, 2)) continue;
      if (p.inputs.size() > 2 && p.inputs[2] != kNoValue && !all_constant_f32(g, p, 2, 3)) continue;
      const Tensor& w = g.value(p.inputs[1]).constant;
      int64_t trans_b = 0;
      if (is_gemm) {
        auto alpha = p.attrs.get_float("alpha", 1.f), beta = p.attrs.get_float("beta", 1.f);
        auto ta = p.attrs.get_int("transA", 0), tb = p.attrs.get_int("transB", 0);
        if (!alpha.is_ok() || !beta.is_ok() || !ta.is_ok() || !tb.is_ok()) continue;
        if (*alpha != 1.f || *beta != 1.f || *ta != 0 || w.shape().rank() != 2) continue;
        trans_b = *tb;
      }
      int64_t channels = is_conv ? w.shape()[0] : (trans_b ? w.shape()[0] : w.shape()[1]);
      auto eps_r = bn.attrs.get_float("epsilon", 1e-5f);
      if (!eps_r.is_ok()) continue;
      float eps = *eps_r;
      auto gamma = g.value(bn.inputs[1]).constant.to_float_vector();
      auto beta = g.value(bn.inputs[2]).constant.to_float_vector();
      auto mean = g.value(bn.inputs[3]).constant.to_float_vector();
      auto var = g.value(bn.inputs[4]).constant.to_float_vector();
      if (static_cast<int64_t>(gamma.size()) != channels || beta.size() != gamma.size() || mean.size() != gamma.size() ||
          var.size() != gamma.size()) {
        continue;
      }
      std::vector<float> bias(static_cast<size_t>(channels), 0.f);
      if (p.inputs.size() > 2 && p.inputs[2] != kNoValue) {
        auto b = g.value(p.inputs[2]).constant.to_float_vector();
        if (static_cast<int64_t>(b.size()) != channels) continue;
        bias = b;
      }
      Tensor new_w = w.clone();
      float* wd = new_w.data<float>();
      int64_t total = new_w.numel();
      std::vector<float> scale(static_cast<size_t>(channels));
      for (int64_t c = 0; c < channels; ++c) {
        scale[c] = gamma[c] / std::sqrt(var[c] + eps);
        bias[c] = (bias[c] - mean[c]) * scale[c] + beta[c];
      }
      if (is_conv || trans_b) {
        int64_t per = total / channels;
        for (int64_t c = 0; c < channels; ++c)
          for (int64_t k = 0; k < per; ++k) wd[c * per + k] *= scale[c];
      } else {
        for (int64_t k = 0; k < total / channels; ++k)
          for (int64_t c = 0; c < channels; ++c) wd[k * channels + c] *= scale[c];
      }
      ValueId w_id = g.add_constant(g.unique_value_name(g.value(p.inputs[1]).name + "_bnfold"), std::move(new_w));
      ValueId b_id = g.add_constant(g.unique_value_name(bn.name + "_bias"),
                                    Tensor::from_vector(Shape({channels}), bias));
      ValueId bn_out = bn.outputs[0];
      NodeId pid = p.id;
      g.remove_node(bn.id);
      g.set_node_input(pid, 1, w_id);
      g.set_node_input(pid, 2, b_id);
      g.set_node_output(pid, 0, bn_out);
      changed = true;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fold_batch_norm_pass() { return std::make_unique<FoldBatchNormPass>(); }

}  // namespace qe
