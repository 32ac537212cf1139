#include "kernels/elementwise/broadcast.h"

#include <algorithm>

#include "engine/core/thread_pool.h"
#include "kernels/elementwise/parallel.h"

namespace qe::kernels {

Result<BroadcastPlan> plan_broadcast(const std::vector<Shape>& inputs, const Shape& out) {
  BroadcastPlan p;
  p.num_inputs = static_cast<int>(inputs.size());
  if (p.num_inputs < 1 || p.num_inputs > kMaxBroadcastInputs) {
    return invalid_argument("broadcast of ", inputs.size(), " inputs (1..", kMaxBroadcastInputs, " supported)");
  }
  const size_t rank = out.rank();
  for (const Shape& s : inputs) {
    bool ok = s.rank() <= rank;
    for (size_t i = 0; ok && i < s.rank(); ++i) {
      int64_t d = s[i], o = out[rank - s.rank() + i];
      ok = d == o || d == 1;
    }
    if (!ok) {
      std::string all;
      for (const Shape& t : inputs) all += (all.empty() ? "" : " and ") + t.to_string();
      return invalid_argument("shapes ", all, " do not broadcast to ", out.to_string());
    }
  }
  // Merge dims into groups of equal repeat pattern, skipping output dims of 1.
  struct Group {
    int64_t size;
    bool repeat[kMaxBroadcastInputs];
  };
  std::vector<Group> groups;
  for (size_t i = 0; i < rank; ++i) {
    if (out[i] == 1) continue;
    Group g{out[i], {}};
    for (int k = 0; k < p.num_inputs; ++k) {
      const Shape& s = inputs[static_cast<size_t>(k)];
      size_t lead = rank - s.rank();
      g.repeat[k] = i < lead || s[i - lead] == 1;
    }
    if (!groups.empty() && std::equal(g.repeat, g.repeat + p.num_inputs, groups.back().repeat)) {
      groups.back().size *= g.size;
    } else {
      groups.push_back(g);
    }
  }
  if (groups.size() > static_cast<size_t>(kMaxBroadcastRank)) {
    return unsupported("broadcast pattern of ", out.to_string(), " needs ", groups.size(), " dims (at most ",
                       kMaxBroadcastRank, ")");
  }
  if (groups.empty()) {
    for (int k = 0; k < p.num_inputs; ++k) p.inner_repeat[k] = false;
    return p;  // a single element
  }
  const Group& last = groups.back();
  p.inner = last.size;
  for (int k = 0; k < p.num_inputs; ++k) p.inner_repeat[k] = last.repeat[k];
  size_t nouter = groups.size() - 1;
  p.outer_dims.resize(nouter);
  for (int k = 0; k < p.num_inputs; ++k) p.outer_strides[k].assign(nouter, 0);
  int64_t stride[kMaxBroadcastInputs];
  for (int k = 0; k < p.num_inputs; ++k) stride[k] = last.repeat[k] ? 1 : last.size;
  for (size_t gi = nouter; gi-- > 0;) {
    const Group& g = groups[gi];
    p.outer_dims[gi] = g.size;
    for (int k = 0; k < p.num_inputs; ++k) {
      if (!g.repeat[k]) {
        p.outer_strides[k][gi] = stride[k];
        stride[k] *= g.size;
      }
    }
  }
  for (int64_t d : p.outer_dims) p.rows *= d;
  return p;
}

namespace {

// Input offsets of consecutive rows, from a starting row on.
class RowCursor {
 public:
  RowCursor(const BroadcastPlan& p, int64_t row) : p_(p) {
    int64_t r = row;
    for (size_t i = p.outer_dims.size(); i-- > 0;) {
      idx_[i] = r % p.outer_dims[i];
      r /= p.outer_dims[i];
    }
    for (int k = 0; k < p.num_inputs; ++k) {
      off_[k] = 0;
      for (size_t i = 0; i < p.outer_dims.size(); ++i) off_[k] += idx_[i] * p.outer_strides[k][i];
    }
  }
  const int64_t* offsets() const { return off_; }
  void next() {
    for (size_t i = p_.outer_dims.size(); i-- > 0;) {
      for (int k = 0; k < p_.num_inputs; ++k) off_[k] += p_.outer_strides[k][i];
      if (++idx_[i] < p_.outer_dims[i]) return;
      for (int k = 0; k < p_.num_inputs; ++k) off_[k] -= p_.outer_strides[k][i] * p_.outer_dims[i];
      idx_[i] = 0;
    }
  }

 private:
  const BroadcastPlan& p_;
  int64_t idx_[kMaxBroadcastRank] = {};
  int64_t off_[kMaxBroadcastInputs] = {};
};

void run_rows(const BroadcastPlan& p, int64_t r0, int64_t r1, BroadcastPieceFn fn) {
  RowCursor c(p, r0);
  for (int64_t r = r0; r < r1; ++r, c.next()) fn(c.offsets(), r * p.inner, p.inner);
}

// Row pieces [c0, c1) of rows split into `per_row` pieces of `len` elements.
void run_pieces(const BroadcastPlan& p, int64_t u0, int64_t u1, int64_t per_row, int64_t len, BroadcastPieceFn fn) {
  for (int64_t u = u0; u < u1; ++u) {
    int64_t row = u / per_row;
    int64_t c0 = (u % per_row) * len;
    int64_t n = std::min(len, p.inner - c0);
    RowCursor c(p, row);
    int64_t off[kMaxBroadcastInputs];
    for (int k = 0; k < p.num_inputs; ++k) off[k] = c.offsets()[k] + (p.inner_repeat[k] ? 0 : c0);
    fn(off, row * p.inner + c0, n);
  }
}

}  // namespace

void broadcast_for_each(const BroadcastPlan& p, ThreadPool* pool, int64_t grain, BroadcastPieceFn fn) {
  grain = std::max<int64_t>(grain, 1);
  int64_t total = p.numel();
  if (total == 0) return;
  bool parallel = pool && pool->num_threads() > 1 && total > grain;
  if (p.inner >= grain && parallel) {
    // Long rows: cut each row into pieces so a single row (same-shape ops) still spreads.
    int64_t per_row = (p.inner + grain - 1) / grain;
    int64_t len = (p.inner + per_row - 1) / per_row;
    parallel_ranges(pool, p.rows * per_row, 1, [&](int64_t b, int64_t e) { run_pieces(p, b, e, per_row, len, fn); });
    return;
  }
  if (!parallel) {
    run_rows(p, 0, p.rows, fn);
    return;
  }
  int64_t rows_per_chunk = (grain + p.inner - 1) / p.inner;
  parallel_ranges(pool, p.rows, rows_per_chunk, [&](int64_t b, int64_t e) { run_rows(p, b, e, fn); });
}

}  // namespace qe::kernels
