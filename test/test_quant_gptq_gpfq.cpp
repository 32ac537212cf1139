// GPTQ and GPFQ on synthetic but realistic layers: correlated, non-negative (post-ReLU) inputs
// whose quantized copy feeds the layer, weights with outlier rows, per-channel, per-tensor,
// per-group and asymmetric grids at 3 and 4 bits. Both solvers must land on the grid, beat
// round-to-nearest on their own objective, and agree with references written straight from
// the papers (GPTQ: unblocked, explicit inverse; GPFQ: the recursion over explicit samples).
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>

#include "quant/gpfq.h"
#include "quant/gptq.h"
#include "quant/layer_problem.h"

using namespace qe;

namespace {

// k features × n samples, row-major: x as the float graph computes it, xq as the quantized
// graph feeds it (x on an unsigned per-tensor grid of `input_bits`).
struct Inputs {
  int64_t k = 0, n = 0;
  std::vector<double> x, xq;
};

// ReLU of a random mix of k/4 latent factors plus independent noise: strongly correlated
// features with a positive mean. Features listed in `dead` are always 0.
Inputs make_inputs(int64_t k, int64_t n, int input_bits, uint64_t seed, const std::vector<int64_t>& dead = {}) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  const int64_t latent = std::max<int64_t>(2, k / 4);
  std::vector<double> mix(static_cast<size_t>(k * latent)), z(static_cast<size_t>(latent * n));
  for (double& v : mix) v = normal(rng);
  for (double& v : z) v = normal(rng);
  Inputs in;
  in.k = k;
  in.n = n;
  in.x.assign(static_cast<size_t>(k * n), 0.0);
  double top = 0;
  for (int64_t a = 0; a < k; ++a) {
    const double bias = 0.3 * normal(rng);
    for (int64_t s = 0; s < n; ++s) {
      double v = 0;
      for (int64_t l = 0; l < latent; ++l)
        v += mix[static_cast<size_t>(a * latent + l)] * z[static_cast<size_t>(l * n + s)];
      v = v / std::sqrt(static_cast<double>(latent)) + 0.4 * normal(rng) + bias;
      in.x[static_cast<size_t>(a * n + s)] = std::max(0.0, v);
      top = std::max(top, v);
    }
  }
  for (int64_t a : dead) std::fill(in.x.begin() + a * n, in.x.begin() + (a + 1) * n, 0.0);
  const double step = top / ((1 << input_bits) - 1);
  in.xq.resize(in.x.size());
  for (size_t i = 0; i < in.x.size(); ++i) in.xq[i] = std::nearbyint(in.x[i] / step) * step;
  return in;
}

// Σ a bᵀ over samples: (k × k) row-major.
std::vector<double> second_moment(const std::vector<double>& a, const std::vector<double>& b, int64_t k, int64_t n) {
  std::vector<double> m(static_cast<size_t>(k * k));
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) {
      double total = 0;
      for (int64_t s = 0; s < n; ++s) total += a[static_cast<size_t>(i * n + s)] * b[static_cast<size_t>(j * n + s)];
      m[static_cast<size_t>(i * k + j)] = total;
    }
  return m;
}

std::vector<float> random_weights(int64_t rows, int64_t k, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> w(static_cast<size_t>(rows * k));
  for (int64_t r = 0; r < rows; ++r) {
    const float gain = r % 7 == 3 ? 5.0f : 1.0f;  // outlier rows stretch a per-tensor grid
    for (int64_t c = 0; c < k; ++c) w[static_cast<size_t>(r * k + c)] = gain * normal(rng) / std::sqrt(float(k));
  }
  return w;
}

enum class Grid { kPerChannel, kPerTensor, kPerGroupOf8, kAsymmetric };

const char* grid_name(Grid g) {
  switch (g) {
    case Grid::kPerChannel:
      return "per-channel";
    case Grid::kPerTensor:
      return "per-tensor";
    case Grid::kPerGroupOf8:
      return "per-group-8";
    case Grid::kAsymmetric:
      return "asymmetric";
  }
  return "?";
}

// Scales (and zero points) from the weights' range, as a min-max weight observer would set them.
void set_grid(LayerProblem& p, int bits, Grid kind) {
  const int64_t rows = p.rows, k = p.k;
  p.scale.assign(static_cast<size_t>(rows * k), 1.0f);
  p.zero_point.assign(static_cast<size_t>(rows * k), 0.0f);
  auto absmax = [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    float m = 0;
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = c0; c < c1; ++c) m = std::max(m, std::fabs(p.w[static_cast<size_t>(r * k + c)]));
    return m > 0 ? m : 1.0f;
  };
  if (kind == Grid::kAsymmetric) {
    p.min_int = 0;
    p.max_int = (int64_t{1} << bits) - 1;
    for (int64_t r = 0; r < rows; ++r) {
      float lo = 0, hi = 0;
      for (int64_t c = 0; c < k; ++c) {
        lo = std::min(lo, p.w[static_cast<size_t>(r * k + c)]);
        hi = std::max(hi, p.w[static_cast<size_t>(r * k + c)]);
      }
      const float s = hi > lo ? (hi - lo) / static_cast<float>(p.max_int) : 1.0f;
      const float z = std::clamp(std::nearbyint(-lo / s), 0.0f, static_cast<float>(p.max_int));
      for (int64_t c = 0; c < k; ++c) {
        p.scale[static_cast<size_t>(r * k + c)] = s;
        p.zero_point[static_cast<size_t>(r * k + c)] = z;
      }
    }
    return;
  }
  p.max_int = (int64_t{1} << (bits - 1)) - 1;
  p.min_int = -(int64_t{1} << (bits - 1));
  const float qmax = static_cast<float>(p.max_int);
  const float tensor_scale = absmax(0, rows, 0, k) / qmax;
  for (int64_t r = 0; r < rows; ++r) {
    const float row_scale = absmax(r, r + 1, 0, k) / qmax;
    for (int64_t c = 0; c < k; ++c) {
      float s = row_scale;
      if (kind == Grid::kPerTensor) s = tensor_scale;
      if (kind == Grid::kPerGroupOf8) s = absmax(r, r + 1, c / 8 * 8, std::min(k, c / 8 * 8 + 8)) / qmax;
      p.scale[static_cast<size_t>(r * k + c)] = s;
    }
  }
}

LayerProblem make_problem(const Inputs& in, int64_t rows, int bits, Grid grid, uint64_t seed) {
  LayerProblem p;
  p.rows = rows;
  p.k = in.k;
  p.w = random_weights(rows, in.k, seed);
  set_grid(p, bits, grid);
  p.h = second_moment(in.xq, in.xq, in.k, in.n);
  p.g = second_moment(in.xq, in.x, in.k, in.n);
  p.samples = in.n;
  return p;
}

// Elements that are not exactly a grid point (q − z) · s with q in [min_int, max_int].
int64_t off_grid_count(const LayerProblem& p, const std::vector<float>& v) {
  if (v.size() != p.w.size()) return static_cast<int64_t>(p.w.size()) + 1;
  int64_t off = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const auto e = static_cast<int64_t>(i);
    const double raw = static_cast<double>(v[i]) / p.scale[i] + p.zero_point[i];
    const double q = std::nearbyint(raw);
    const bool ok = std::fabs(raw - q) < 1e-3 && q >= static_cast<double>(p.min_int) &&
                    q <= static_cast<double>(p.max_int) && grid_value(p, e, grid_integer(p, e, v[i])) == v[i];
    if (!ok) ++off;
  }
  return off;
}

double same_integer_fraction(const LayerProblem& p, const std::vector<float>& a, const std::vector<float>& b) {
  int64_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto e = static_cast<int64_t>(i);
    if (grid_integer(p, e, a[i]) == grid_integer(p, e, b[i])) ++same;
  }
  return a.empty() ? 1.0 : static_cast<double>(same) / static_cast<double>(a.size());
}

// ‖W̃X̃ − WX‖² over the explicit samples (layer_output_error plus its dropped constant).
double sample_output_error(const LayerProblem& p, const Inputs& in, const std::vector<float>& wt) {
  double total = 0;
  std::vector<double> y(static_cast<size_t>(in.n));
  for (int64_t r = 0; r < p.rows; ++r) {
    std::fill(y.begin(), y.end(), 0.0);
    for (int64_t c = 0; c < p.k; ++c) {
      const double a = wt[static_cast<size_t>(r * p.k + c)], b = p.w[static_cast<size_t>(r * p.k + c)];
      for (int64_t s = 0; s < in.n; ++s)
        y[static_cast<size_t>(s)] +=
            a * in.xq[static_cast<size_t>(c * in.n + s)] - b * in.x[static_cast<size_t>(c * in.n + s)];
    }
    for (double v : y) total += v * v;
  }
  return total;
}

std::vector<int64_t> processing_order(const LayerProblem& p, const std::vector<double>& diag, bool by_diagonal) {
  std::vector<int64_t> order(static_cast<size_t>(p.k));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (by_diagonal) {
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return diag[static_cast<size_t>(a)] > diag[static_cast<size_t>(b)]; });
  }
  return order;
}

// GPTQ as the paper states it: explicit H⁻¹ (Gauss–Jordan), its upper Cholesky factor, one
// column at a time with the update applied to every later column immediately.
std::vector<float> reference_gptq(const LayerProblem& p, double damp, bool act_order) {
  const int64_t k = p.k, rows = p.rows;
  std::vector<double> h = p.h, diag(static_cast<size_t>(k));
  std::vector<char> dead(static_cast<size_t>(k), 0);
  for (int64_t i = 0; i < k; ++i) {
    if (h[static_cast<size_t>(i * k + i)] == 0) {
      h[static_cast<size_t>(i * k + i)] = 1;
      dead[static_cast<size_t>(i)] = 1;
    }
    diag[static_cast<size_t>(i)] = h[static_cast<size_t>(i * k + i)];
  }
  const std::vector<int64_t> perm = processing_order(p, diag, act_order);
  const double lambda = damp * std::accumulate(diag.begin(), diag.end(), 0.0) / static_cast<double>(k);
  // [H | I] → [I | H⁻¹] with partial pivoting.
  const int64_t w2 = 2 * k;
  std::vector<double> aug(static_cast<size_t>(k * w2), 0.0);
  for (int64_t a = 0; a < k; ++a) {
    for (int64_t b = 0; b < k; ++b)
      aug[static_cast<size_t>(a * w2 + b)] = h[static_cast<size_t>(perm[a] * k + perm[b])];
    aug[static_cast<size_t>(a * w2 + a)] += lambda;
    aug[static_cast<size_t>(a * w2 + k + a)] = 1;
  }
  for (int64_t c = 0; c < k; ++c) {
    int64_t pivot = c;
    for (int64_t r = c + 1; r < k; ++r)
      if (std::fabs(aug[static_cast<size_t>(r * w2 + c)]) > std::fabs(aug[static_cast<size_t>(pivot * w2 + c)]))
        pivot = r;
    for (int64_t j = 0; j < w2; ++j)
      std::swap(aug[static_cast<size_t>(c * w2 + j)], aug[static_cast<size_t>(pivot * w2 + j)]);
    const double d = aug[static_cast<size_t>(c * w2 + c)];
    for (int64_t j = 0; j < w2; ++j) aug[static_cast<size_t>(c * w2 + j)] /= d;
    for (int64_t r = 0; r < k; ++r) {
      if (r == c) continue;
      const double f = aug[static_cast<size_t>(r * w2 + c)];
      for (int64_t j = 0; j < w2; ++j) aug[static_cast<size_t>(r * w2 + j)] -= f * aug[static_cast<size_t>(c * w2 + j)];
    }
  }
  // H⁻¹ = L Lᵀ; Hinv = Lᵀ (upper, H⁻¹ = Hinvᵀ Hinv).
  std::vector<double> l(static_cast<size_t>(k * k), 0.0);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      double s = aug[static_cast<size_t>(i * w2 + k + j)];
      for (int64_t t = 0; t < j; ++t) s -= l[static_cast<size_t>(i * k + t)] * l[static_cast<size_t>(j * k + t)];
      l[static_cast<size_t>(i * k + j)] = i == j ? std::sqrt(s) : s / l[static_cast<size_t>(j * k + j)];
    }
  std::vector<float> out(static_cast<size_t>(rows * k));
  std::vector<double> w(static_cast<size_t>(k));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < k; ++c)
      w[static_cast<size_t>(c)] = dead[static_cast<size_t>(perm[c])] ? 0.0 : p.w[static_cast<size_t>(r * k + perm[c])];
    for (int64_t i = 0; i < k; ++i) {
      const int64_t e = r * k + perm[i];
      const float q = round_to_grid(p, e, w[static_cast<size_t>(i)]);
      out[static_cast<size_t>(e)] = q;
      const double err = (w[static_cast<size_t>(i)] - q) / l[static_cast<size_t>(i * k + i)];
      for (int64_t j = i + 1; j < k; ++j) w[static_cast<size_t>(j)] -= err * l[static_cast<size_t>(j * k + i)];
    }
  }
  return out;
}

// GPFQ as the paper writes it, over the explicit samples: u_t = u_{t−1} + w_t X_t − q_t X̃_t,
// q_t = Q(⟨X̃_t, u_{t−1} + w_t X_t⟩ / (‖X̃_t‖² + λ)), with λ = damp · mean(diag h).
std::vector<float> reference_gpfq(const LayerProblem& p, const Inputs& in, double damp, bool by_norm) {
  const int64_t k = p.k, n = in.n;
  std::vector<double> norms(static_cast<size_t>(k), 0.0);
  for (int64_t t = 0; t < k; ++t)
    for (int64_t s = 0; s < n; ++s)
      norms[static_cast<size_t>(t)] += in.xq[static_cast<size_t>(t * n + s)] * in.xq[static_cast<size_t>(t * n + s)];
  double mean = 0;
  for (int64_t t = 0; t < k; ++t) mean += p.h[static_cast<size_t>(t * k + t)] / static_cast<double>(k);
  const double lambda = damp * mean;
  const std::vector<int64_t> order = processing_order(p, norms, by_norm);
  std::vector<float> out(p.w.size());
  std::vector<double> u(static_cast<size_t>(n));
  for (int64_t r = 0; r < p.rows; ++r) {
    std::fill(u.begin(), u.end(), 0.0);
    for (int64_t t : order) {
      const double* x = in.x.data() + t * n;
      const double* xq = in.xq.data() + t * n;
      const double wt = p.w[static_cast<size_t>(r * k + t)];
      double dot = 0;
      for (int64_t s = 0; s < n; ++s) dot += xq[s] * (u[static_cast<size_t>(s)] + wt * x[s]);
      const double denom = norms[static_cast<size_t>(t)] + lambda;
      const float q = round_to_grid(p, r * k + t, denom > 0 ? dot / denom : 0.0);
      out[static_cast<size_t>(r * k + t)] = q;
      for (int64_t s = 0; s < n; ++s) u[static_cast<size_t>(s)] += wt * x[s] - q * xq[s];
    }
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("the solvers' dense product equals a plain triple loop") {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> uni(-1, 1);
  for (auto [m, n, kk] : {std::tuple{1, 1, 1}, {5, 9, 3}, {67, 45, 300}, {4, 8, 257}, {130, 17, 64}}) {
    const int64_t lda = kk + 3, ldb = n + 2, ldc = n + 5;
    std::vector<double> a(static_cast<size_t>(m * lda)), b(static_cast<size_t>(kk * ldb)),
        c(static_cast<size_t>(m * ldc));
    for (double& v : a) v = uni(rng);
    for (double& v : b) v = uni(rng);
    for (double& v : c) v = uni(rng);
    std::vector<double> expected = c;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t p = 0; p < kk; ++p) s += a[static_cast<size_t>(i * lda + p)] * b[static_cast<size_t>(p * ldb + j)];
        expected[static_cast<size_t>(i * ldc + j)] += -0.5 * s;
      }
    layer_solver_detail::gemm_accumulate(m, n, kk, -0.5, a.data(), lda, b.data(), ldb, c.data(), ldc);
    double worst = 0;
    for (size_t i = 0; i < c.size(); ++i) worst = std::max(worst, std::fabs(c[i] - expected[i]));
    INFO(m << " x " << n << " x " << kk);
    CHECK(worst < 1e-12);
  }
}

TEST_CASE("GPTQ and GPFQ land on the grid and beat round-to-nearest") {
  const Inputs in8 = make_inputs(128, 1024, 8, 21);
  const Inputs in4 = make_inputs(128, 1024, 4, 21);
  for (const Inputs* in : {&in8, &in4}) {
    for (int bits : {4, 3}) {
      for (Grid grid : {Grid::kPerChannel, Grid::kPerTensor, Grid::kPerGroupOf8, Grid::kAsymmetric}) {
        const LayerProblem p = make_problem(*in, 48, bits, grid, 100 + bits);
        const std::vector<float> rtn = round_all_to_grid(p);
        auto gptq = gptq_solve(p);
        GptqOptions act;
        act.act_order = true;
        auto gptq_act = gptq_solve(p, act);
        auto gpfq = gpfq_solve(p);
        REQUIRE(gptq.is_ok());
        REQUIRE(gptq_act.is_ok());
        REQUIRE(gpfq.is_ok());
        CHECK(off_grid_count(p, *gptq) == 0);
        CHECK(off_grid_count(p, *gptq_act) == 0);
        CHECK(off_grid_count(p, *gpfq) == 0);
        const double rtn_w = layer_weight_error(p, rtn), gptq_w = layer_weight_error(p, *gptq);
        const double act_w = layer_weight_error(p, *gptq_act);
        const double rtn_o = sample_output_error(p, *in, rtn), gpfq_o = sample_output_error(p, *in, *gpfq);
        const double gptq_o = sample_output_error(p, *in, *gptq);
        // layer_output_error is the same objective up to a constant.
        CHECK(layer_output_error(p, *gpfq) - layer_output_error(p, rtn) == Approx(gpfq_o - rtn_o).epsilon(1e-6));
        std::printf(
            "%s %d-bit weights, %d-bit inputs: weight error GPTQ/RTN %.3f (act-order %.3f); output error "
            "GPFQ/RTN %.3f, GPTQ/RTN %.3f\n",
            grid_name(grid), bits, in == &in8 ? 8 : 4, gptq_w / rtn_w, act_w / rtn_w, gpfq_o / rtn_o, gptq_o / rtn_o);
        INFO(grid_name(grid) << " " << bits << "-bit");
        CHECK(gptq_w < 0.8 * rtn_w);
        CHECK(act_w < 0.8 * rtn_w);
        CHECK(gpfq_o < rtn_o);
      }
    }
  }
}

TEST_CASE("GPTQ equals an unblocked textbook reference at any block size") {
  double lowest = 1;
  const Inputs in = make_inputs(150, 1200, 8, 33, {40});
  for (Grid grid : {Grid::kPerChannel, Grid::kPerGroupOf8, Grid::kAsymmetric}) {
    const LayerProblem p = make_problem(in, 40, 4, grid, 7);
    for (bool act_order : {false, true}) {
      const std::vector<float> expected = reference_gptq(p, 0.01, act_order);
      for (int64_t block : {int64_t{1}, int64_t{7}, int64_t{128}, p.k}) {
        GptqOptions opts;
        opts.block_size = block;
        opts.act_order = act_order;
        auto got = gptq_solve(p, opts);
        REQUIRE(got.is_ok());
        const double same = same_integer_fraction(p, *got, expected);
        INFO(grid_name(grid) << " block " << block << (act_order ? " act-order" : "") << ": " << same);
        CHECK(same >= 0.999);
        lowest = std::min(lowest, same);
      }
    }
  }
  std::printf("GPTQ vs textbook reference: at least %.5f of the integers agree\n", lowest);
}

TEST_CASE("GPFQ equals the sample-space path-following recursion") {
  double lowest = 1;
  const Inputs in = make_inputs(150, 1200, 4, 47, {9});
  for (Grid grid : {Grid::kPerChannel, Grid::kPerTensor, Grid::kAsymmetric}) {
    const LayerProblem p = make_problem(in, 40, 3, grid, 8);
    for (double damp : {0.0, 0.01}) {
      for (bool by_norm : {false, true}) {
        GpfqOptions opts;
        opts.damp = damp;
        opts.descending_norm_order = by_norm;
        auto got = gpfq_solve(p, opts);
        REQUIRE(got.is_ok());
        const double same = same_integer_fraction(p, *got, reference_gpfq(p, in, damp, by_norm));
        INFO(grid_name(grid) << " damp " << damp << (by_norm ? " by norm" : "") << ": " << same);
        CHECK(same >= 0.999);
        lowest = std::min(lowest, same);
      }
    }
  }
  std::printf("GPFQ vs sample-space recursion: at least %.5f of the integers agree\n", lowest);
}

// Why GPFQ walks the columns by decreasing ‖X̃_t‖² by default: over a spread of layers its
// output error is lower than in index order.
TEST_CASE("GPFQ by decreasing input norm beats index order") {
  double index_total = 0, norm_total = 0;
  int layers = 0;
  for (uint64_t seed : {61, 62, 63}) {
    for (int input_bits : {8, 4}) {
      const Inputs in = make_inputs(96, 800, input_bits, seed);
      for (int bits : {4, 3}) {
        for (Grid grid : {Grid::kPerChannel, Grid::kPerGroupOf8}) {
          const LayerProblem p = make_problem(in, 32, bits, grid, seed);
          GpfqOptions in_index_order;
          in_index_order.descending_norm_order = false;
          auto a = gpfq_solve(p, in_index_order), b = gpfq_solve(p);
          REQUIRE(a.is_ok());
          REQUIRE(b.is_ok());
          const double rtn = sample_output_error(p, in, round_all_to_grid(p));
          index_total += sample_output_error(p, in, *a) / rtn;
          norm_total += sample_output_error(p, in, *b) / rtn;
          ++layers;
        }
      }
    }
  }
  std::printf("GPFQ output error / RTN, mean of %d layers: index order %.4f, decreasing-norm order %.4f\n", layers,
              index_total / layers, norm_total / layers);
  CHECK(norm_total < index_total);
}

TEST_CASE("odd sizes and dead inputs") {
  for (int64_t k : {1, 3, 17, 300}) {
    for (int64_t rows : {1, 5}) {
      std::vector<int64_t> dead = {0};
      if (k >= 3) dead.push_back(k / 2);
      // k = 1: the only input is dead, so h is all zero.
      const Inputs in = make_inputs(k, k == 300 ? 700 : 64, 8, 70 + static_cast<uint64_t>(k), dead);
      const LayerProblem p = make_problem(in, rows, 4, Grid::kPerChannel, 9);
      for (bool act_order : {false, true}) {
        GptqOptions opts;
        opts.act_order = act_order;
        opts.block_size = 16;
        auto gptq = gptq_solve(p, opts);
        REQUIRE(gptq.is_ok());
        auto gpfq = gpfq_solve(p);
        REQUIRE(gpfq.is_ok());
        INFO("k " << k << " rows " << rows << (act_order ? " act-order" : ""));
        CHECK(off_grid_count(p, *gptq) == 0);
        CHECK(off_grid_count(p, *gpfq) == 0);
        CHECK(same_integer_fraction(p, *gptq, reference_gptq(p, 0.01, act_order)) >= 0.999);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c : dead) {
            CHECK((*gptq)[static_cast<size_t>(r * k + c)] == 0.0f);
            CHECK((*gpfq)[static_cast<size_t>(r * k + c)] == 0.0f);
          }
      }
    }
  }
}

TEST_CASE("a Hessian damping cannot make positive definite is an error") {
  LayerProblem p;
  p.rows = 2;
  p.k = 2;
  p.w = {0.5f, -0.25f, 0.125f, 1.0f};
  p.scale.assign(4, 0.1f);
  p.zero_point.assign(4, 0.0f);
  p.h = {1, 100, 100, 1};  // eigenvalues 101 and −99
  p.g = p.h;
  auto r = gptq_solve(p);
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.status().message(), Catch::Contains("not positive definite") && Catch::Contains("2 x 2"));
  p.h = {1, std::nan(""), std::nan(""), 1};
  CHECK_FALSE(gptq_solve(p).is_ok());
  CHECK_FALSE(gpfq_solve(p).is_ok());
  // A zero Hessian is only dead columns: every weight becomes zero.
  p.h.assign(4, 0.0);
  auto zero = gptq_solve(p);
  REQUIRE(zero.is_ok());
  CHECK(*zero == std::vector<float>(4, 0.0f));

  p.h = {2, 1, 1, 2};
  p.g.clear();
  CHECK_FALSE(gpfq_solve(p).is_ok());  // GPFQ needs g
  p.scale.pop_back();
  CHECK_FALSE(gptq_solve(p).is_ok());
  p.scale.push_back(0.1f);
  GptqOptions bad;
  bad.block_size = 0;
  CHECK_FALSE(gptq_solve(p, bad).is_ok());
}

// Rank-64 Hessian plus a small ridge (as from few calibration samples), 4-bit per-channel.
void time_solvers(int64_t k, int64_t rows) {
  std::mt19937_64 rng(99);
  std::normal_distribution<double> normal;
  constexpr int64_t kRank = 64;
  std::vector<double> f(static_cast<size_t>(k * kRank));
  for (double& v : f) v = std::max(0.0, normal(rng) + 0.3);
  LayerProblem p;
  p.rows = rows;
  p.k = k;
  p.w = random_weights(rows, k, 5);
  set_grid(p, 4, Grid::kPerChannel);
  p.h.assign(static_cast<size_t>(k * k), 0.0);
  for (int64_t a = 0; a < k; ++a)
    for (int64_t b = 0; b < k; ++b) {
      double s = a == b ? 0.1 : 0.0;
      for (int64_t l = 0; l < kRank; ++l)
        s += f[static_cast<size_t>(a * kRank + l)] * f[static_cast<size_t>(b * kRank + l)];
      p.h[static_cast<size_t>(a * k + b)] = s;
    }
  p.g = p.h;
  auto start = std::chrono::steady_clock::now();
  auto gptq = gptq_solve(p);
  const double t_gptq = seconds_since(start);
  GptqOptions act;
  act.act_order = true;
  start = std::chrono::steady_clock::now();
  auto gptq_act = gptq_solve(p, act);
  const double t_act = seconds_since(start);
  start = std::chrono::steady_clock::now();
  auto gpfq = gpfq_solve(p);
  const double t_gpfq = seconds_since(start);
  REQUIRE(gptq.is_ok());
  REQUIRE(gptq_act.is_ok());
  REQUIRE(gpfq.is_ok());
  CHECK(off_grid_count(p, *gptq) == 0);
  CHECK(off_grid_count(p, *gpfq) == 0);
  const double rtn = layer_weight_error(p, round_all_to_grid(p));
  const double ratio = layer_weight_error(p, *gptq) / rtn;
  std::printf("k = %lld, rows = %lld: GPTQ %.2f s, GPTQ act-order %.2f s, GPFQ %.2f s (GPTQ/RTN weight error %.3f)\n",
              static_cast<long long>(k), static_cast<long long>(rows), t_gptq, t_act, t_gpfq, ratio);
  CHECK(ratio < 0.8);
}

TEST_CASE("solver timing, k = 1024") { time_solvers(1024, 256); }

// Hidden (runs only when asked for, e.g. `test_quant_gptq_gpfq "[timing]"`): builds 170 MB
// Hessians and takes several seconds per solver.
TEST_CASE("solver timing, k = 4608, rows = 512", "[.][timing]") { time_solvers(4608, 512); }
