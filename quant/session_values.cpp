#include "quant/session_values.h"

namespace qe {

Status SessionValues::prepare(const std::vector<Tensor>& inputs) {
  std::vector<std::vector<int64_t>> shapes;
  for (const Tensor& t : inputs) shapes.push_back(t.shape().dims());
  if (!built_ || shapes != shapes_) {
    std::vector<Shape> s;
    for (const Tensor& t : inputs) s.push_back(t.shape());
    QE_ASSIGN_OR_RETURN(Graph g, session_.specialized_graph(s));
    index_.assign(g.num_values(), -1);
    constants_.clear();
    inputs_.clear();
    for (size_t v = 0; v < g.num_values(); ++v) {
      auto it = watched_.find(g.value(static_cast<ValueId>(v)).name);
      if (it == watched_.end()) continue;
      index_[v] = it->second;
      if (g.value(static_cast<ValueId>(v)).is_constant()) constants_.emplace_back(it->second, g.value(static_cast<ValueId>(v)).constant);
    }
    for (size_t i = 0; i < g.inputs().size(); ++i) {
      const int idx = index_[static_cast<size_t>(g.inputs()[i])];
      if (idx >= 0) inputs_.emplace_back(idx, i);
    }
    shapes_ = std::move(shapes);
    built_ = true;
  }
  direct_ = constants_;
  for (const auto& [idx, pos] : inputs_) {
    if (pos < inputs.size()) direct_.emplace_back(idx, inputs[pos]);
  }
  return Status::ok();
}

}  // namespace qe
