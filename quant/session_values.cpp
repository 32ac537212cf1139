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

SessionOptions observing_session_options(int num_threads) {
  SessionOptions so;
  so.num_threads = num_threads;
  so.fold_batch_norm = false;
  so.fuse_activations = false;
  return so;
}

Status stream_watched_values(Session& session, const std::unordered_map<std::string, int>& watched,
                             const BatchSource& source, int max_batches,
                             const std::function<Status(int, const TensorView&)>& fn, int64_t* samples) {
  SessionValues values(session, watched);
  std::vector<Tensor> batch;
  for (int batches = 0; max_batches <= 0 || batches < max_batches; ++batches) {
    batch.clear();
    QE_ASSIGN_OR_RETURN(bool more, source(batch));
    if (!more) break;
    if (samples && !batch.empty()) *samples += batch[0].shape().rank() > 0 ? batch[0].shape()[0] : 1;
    QE_RETURN_IF_ERROR(values.prepare(batch));
    Status first = Status::ok();
    for (const auto& [i, t] : values.direct()) {
      if (first.is_ok()) first = fn(i, t.view());
    }
    auto ran = session.run_observed(batch, [&](const Graph&, ValueId v, const TensorView& data) {
      const int i = values.index(v);
      if (i >= 0 && first.is_ok()) first = fn(i, data);
    });
    QE_RETURN_IF_ERROR(ran.status());
    QE_RETURN_IF_ERROR(first);
  }
  return Status::ok();
}

}  // namespace qe
