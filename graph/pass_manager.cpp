#include "graph/pass.h"
#include "graph/verifier.h"

namespace qe {

Status PassManager::run(Graph& g, PassContext& ctx, int max_rounds) {
  for (int round = 0; round < max_rounds; ++round) {
    bool any = false;
    for (auto& pass : passes_) {
      auto changed = pass->run(g, ctx);
      if (!changed.is_ok()) return changed.status().with_context("pass " + std::string(pass->name()) + ": ");
      if (!*changed) continue;
      any = true;
      if (ctx.dump) *ctx.dump << "--- after " << pass->name() << "\n" << g.to_text();
      if (ctx.verify_after_each) {
        Status st = verify_graph(g);
        if (!st.is_ok()) return st.with_context("verifier after pass " + std::string(pass->name()) + ": ");
      }
    }
    if (!any) break;
  }
  return Status::ok();
}

}  // namespace qe
