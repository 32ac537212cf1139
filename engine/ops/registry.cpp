#include "engine/op_kernel.h"
#include "engine/ops/qlinear_common.h"

namespace qe {

const KernelRegistry& KernelRegistry::global() {
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    register_compute_kernels(r);
    register_pooling_kernels(r);
    register_elementwise_kernels(r);
    register_data_kernels(r);
    // The integer runtime's QuantizeLinear fast path goes ahead of the general reference.
    register_qlinear_elementwise_kernels(r);
    register_quant_kernels(r);
    register_qlinear_compute_kernels(r);
    return r;
  }();
  return registry;
}

Result<BoundKernel> bind_kernel(const Graph& g, NodeId id, int num_threads) {
  const Node& n = g.node(id);
  const auto& candidates = KernelRegistry::global().candidates(n.op);
  std::string where = "node '" + n.name + "' (" + std::string(op_name(n.op)) + "): ";
  if (candidates.empty()) return unsupported(where, "no kernel registered for this op");
  BindContext ctx(g, id, num_threads);
  BoundKernel bound;
  for (const auto& c : candidates) {
    auto k = c.create(ctx);
    if (k.is_ok()) {
      bound.kernel = std::move(k).value();
      bound.name = c.name;
      return bound;
    }
    if (k.status().code() != StatusCode::kUnsupported) return k.status().with_context(where);
    bound.declined.emplace_back(c.name, k.status().message());
  }
  std::string reasons;
  for (const auto& [name, why] : bound.declined) reasons += (reasons.empty() ? "" : "; ") + name + ": " + why;
  return unsupported(where, "no kernel accepts this node (", reasons, ")");
}

}  // namespace qe
