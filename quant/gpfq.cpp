#include "quant/gpfq.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "quant/gptq.h"

namespace qe {

// The paper's recursion, per row (w, q ∈ R^k; X_t, X̃_t ∈ R^n the float / quantized graph's
// values of input t over all n calibration samples):
//   u_0 = 0,   q_t = Q(⟨X̃_t, u_{t−1} + w_t X_t⟩ / ‖X̃_t‖²),   u_t = u_{t−1} + w_t X_t − q_t X̃_t.
// The samples are not kept, but u_{t−1} = Σ_{s<t} (w_s X_s − q_s X̃_s) is only ever seen
// through its inner product with X̃_t, which the statistics give exactly:
//   ⟨X̃_t, u_{t−1} + w_t X_t⟩ = Σ_{s≤t} w_s ⟨X̃_t, X_s⟩ − Σ_{s<t} q_s ⟨X̃_t, X̃_s⟩
//                            = Σ_{s≤t} w_s g[t][s] − Σ_{s<t} q_s h[t][s],
// and ‖X̃_t‖² = h[t][t]. For all rows at once the numerator of column t is
//   W[:, :t+1] · g[t, :t+1]ᵀ − Q[:, :t] · h[t, :t]ᵀ.
// Evaluated column by column that is a matrix-vector product per column over all of W and Q
// (memory bound); instead, as GPTQ's lazy batches, the columns go in blocks [b0, b1): the part
// of every numerator that comes from the columns before the block is one matrix product
// W[:, :b0] · Gᵀ − Q[:, :b0] · Hᵀ, and the rest is accumulated column by column inside the block.
Result<std::vector<float>> gpfq_solve(const LayerProblem& p, const GpfqOptions& opts) {
  QE_RETURN_IF_ERROR(layer_solver_detail::check_layer_problem(p, true, "gpfq"));
  if (!(opts.damp >= 0) || !std::isfinite(opts.damp)) {
    return invalid_argument("gpfq: damp must be a finite non-negative number, got ", opts.damp);
  }
  const int64_t rows = p.rows, k = p.k;
  std::vector<float> out(static_cast<size_t>(rows * k));
  if (rows == 0 || k == 0) return out;

  std::vector<double> diag(static_cast<size_t>(k));
  double diag_sum = 0;
  for (int64_t i = 0; i < k; ++i) {
    diag[static_cast<size_t>(i)] = p.h[static_cast<size_t>(i * k + i)];
    diag_sum += diag[static_cast<size_t>(i)];
  }
  const double lambda = diag_sum > 0 ? opts.damp * diag_sum / static_cast<double>(k) : 0.0;
  std::vector<int64_t> order(static_cast<size_t>(k));
  if (opts.descending_norm_order) {
    order = layer_solver_detail::decreasing_order(diag);
  } else {
    std::iota(order.begin(), order.end(), int64_t{0});
  }

  // Weights and chosen grid values in processing order.
  std::vector<double> w(static_cast<size_t>(rows * k)), q(static_cast<size_t>(rows * k));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < k; ++c)
      w[static_cast<size_t>(r * k + c)] = p.w[static_cast<size_t>(r * k + order[static_cast<size_t>(c)])];

  constexpr int64_t kBlock = 128;
  const int64_t block = std::min(kBlock, k);
  // g_cols[s][t − b0] = g[t][s] and h_cols likewise, for s < b1: the block's columns of Gᵀ, Hᵀ.
  std::vector<double> g_cols, h_cols, numer(static_cast<size_t>(rows * block));
  for (int64_t b0 = 0; b0 < k; b0 += block) {
    const int64_t b1 = std::min(b0 + block, k), width = b1 - b0;
    g_cols.resize(static_cast<size_t>(b1 * width));
    h_cols.resize(static_cast<size_t>(b1 * width));
    for (int64_t t = b0; t < b1; ++t) {
      const int64_t src = order[static_cast<size_t>(t)];
      const double* g_row = p.g.data() + src * k;
      const double* h_row = p.h.data() + src * k;
      for (int64_t s = 0; s < b1; ++s) {
        const int64_t col = order[static_cast<size_t>(s)];
        g_cols[static_cast<size_t>(s * width + (t - b0))] = g_row[col];
        h_cols[static_cast<size_t>(s * width + (t - b0))] = h_row[col];
      }
    }
    std::fill(numer.begin(), numer.begin() + rows * width, 0.0);
    if (b0 > 0) {
      layer_solver_detail::gemm_accumulate(rows, width, b0, 1.0, w.data(), k, g_cols.data(), width, numer.data(),
                                           width);
      layer_solver_detail::gemm_accumulate(rows, width, b0, -1.0, q.data(), k, h_cols.data(), width, numer.data(),
                                           width);
    }
    for (int64_t r = 0; r < rows; ++r) {
      const double* wr = w.data() + r * k;
      double* qr = q.data() + r * k;
      double* nr = numer.data() + r * width;
      for (int64_t t = b0; t < b1; ++t) {
        const int64_t j = t - b0;
        const double* g_s = g_cols.data() + t * width;  // g[t'][t] for the block's columns t'
        const double* h_s = h_cols.data() + t * width;
        const double denom = h_s[j] + lambda;
        const double numerator = nr[j] + wr[t] * g_s[j];
        const int64_t element = r * k + order[static_cast<size_t>(t)];
        // A dead input (‖X̃_t‖ = 0 and no damping) leaves the output unchanged whatever q_t
        // is: take the grid point nearest zero.
        const float chosen = round_to_grid(p, element, denom > 0 ? numerator / denom : 0.0);
        out[static_cast<size_t>(element)] = chosen;
        qr[t] = chosen;
        // Column t's share of the later columns' numerators in this block.
        for (int64_t t2 = j + 1; t2 < width; ++t2) nr[t2] += wr[t] * g_s[t2] - qr[t] * h_s[t2];
      }
    }
  }
  return out;
}

}  // namespace qe
