#include "quant/layer_problem.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Dense>

#include "engine/quant_rounding.h"
#include "kernels/quant/fake_quant.h"

namespace qe {

double grid_integer(const LayerProblem& p, int64_t i, double w) {
  // As FakeQuant: the quotient in float32, the zero point added in double.
  const float quotient = static_cast<float>(w) / p.scale[static_cast<size_t>(i)];
  const double v = kernels::round_with(static_cast<double>(quotient) + p.zero_point[static_cast<size_t>(i)],
                                       kernels::Rounding::kHalfEven);
  return std::clamp(v, static_cast<double>(p.min_int), static_cast<double>(p.max_int));
}

float grid_value(const LayerProblem& p, int64_t i, double q) {
  const double z = p.zero_point[static_cast<size_t>(i)];
  q = std::clamp(q, static_cast<double>(p.min_int), static_cast<double>(p.max_int));
  return static_cast<float>((q - z) * p.scale[static_cast<size_t>(i)]);
}

float round_to_grid(const LayerProblem& p, int64_t i, double w) {
  const float quotient = static_cast<float>(w) / p.scale[static_cast<size_t>(i)];
  const double v = kernels::round_with(static_cast<double>(quotient) + p.zero_point[static_cast<size_t>(i)],
                                       to_kernel_rounding(p.rounding));
  return grid_value(p, i, v);
}

std::vector<float> round_all_to_grid(const LayerProblem& p) {
  std::vector<float> out(p.w.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = round_to_grid(p, static_cast<int64_t>(i), p.w[i]);
  return out;
}

double excess_output_error(const LayerProblem& p, const std::vector<float>& w_tilde) {
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Map<const RowMajor> h(p.h.data(), p.k, p.k);
  RowMajor d(p.rows, p.k), w(p.rows, p.k);
  for (size_t i = 0; i < p.w.size(); ++i) {
    d.data()[i] = static_cast<double>(w_tilde[i]) - p.w[i];
    w.data()[i] = p.w[i];
  }
  double cross = 0;
  if (!p.g.empty()) {
    const Eigen::Map<const RowMajor> g(p.g.data(), p.k, p.k);
    const RowMajor c = w * (h - g.transpose());  // row r: (h − g) w_r, h symmetric
    cross = 2 * d.cwiseProduct(c).sum();
  }
  return (d * h).cwiseProduct(d).sum() + cross;
}

double layer_weight_error(const LayerProblem& p, const std::vector<float>& w_tilde) {
  double total = 0;
  std::vector<double> d(static_cast<size_t>(p.k));
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t c = 0; c < p.k; ++c) {
      const size_t i = static_cast<size_t>(r * p.k + c);
      d[static_cast<size_t>(c)] = static_cast<double>(w_tilde[i]) - p.w[i];
    }
    for (int64_t a = 0; a < p.k; ++a) {
      double row = 0;
      const double* h = p.h.data() + a * p.k;
      for (int64_t b = 0; b < p.k; ++b) row += h[b] * d[static_cast<size_t>(b)];
      total += d[static_cast<size_t>(a)] * row;
    }
  }
  return total;
}

double layer_output_error(const LayerProblem& p, const std::vector<float>& w_tilde) {
  double total = 0;
  for (int64_t r = 0; r < p.rows; ++r) {
    const float* wt = w_tilde.data() + r * p.k;
    const float* w = p.w.data() + r * p.k;
    for (int64_t a = 0; a < p.k; ++a) {
      const double* h = p.h.data() + a * p.k;
      const double* g = p.g.data() + a * p.k;
      double hw = 0, gw = 0;
      for (int64_t b = 0; b < p.k; ++b) {
        hw += h[b] * wt[b];
        gw += g[b] * w[b];
      }
      total += wt[a] * (hw - 2 * gw);
    }
  }
  return total;
}

}  // namespace qe
