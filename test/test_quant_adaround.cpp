// AdaRound on synthetic but realistic layer problems: correlated, non-negative inputs with a
// non-zero mean (ReLU of a random linear mix), quantized to an 8-bit unsigned grid (or not),
// weights with a few outlier rows, 4-bit and 3-bit per-channel / per-tensor / asymmetric grids.
// The output error ‖W̃X̃ − WX‖² is measured directly on the samples, not through h and g.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>

#include "quant/adaround.h"

using namespace qe;

namespace {

// k × n, row-major: feature a of sample j at x[a * n + j].
struct Samples {
  int64_t k = 0, n = 0;
  std::vector<float> x;        // the float graph's inputs
  std::vector<float> x_quant;  // what the quantized graph feeds the layer
};

// ReLU(M z + b): features share latent factors (correlated) and are mostly positive (non-zero
// mean). `dead` features are always zero. Then an 8-bit unsigned grid per tensor, or no
// quantization at all.
Samples make_samples(int64_t k, int64_t n, uint64_t seed, bool quantize_inputs, int64_t dead = 0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  const int64_t latent = std::max<int64_t>(1, k / 3);
  std::vector<float> mix(static_cast<size_t>(k * latent)), offset(static_cast<size_t>(k));
  for (float& v : mix) v = normal(rng) / std::sqrt(static_cast<float>(latent));
  for (float& v : offset) v = 0.5f + 0.5f * normal(rng);
  Samples s;
  s.k = k;
  s.n = n;
  s.x.assign(static_cast<size_t>(k * n), 0.f);
  std::vector<float> z(static_cast<size_t>(latent));
  for (int64_t j = 0; j < n; ++j) {
    for (float& v : z) v = normal(rng);
    for (int64_t a = dead; a < k; ++a) {
      float sum = offset[static_cast<size_t>(a)];
      for (int64_t l = 0; l < latent; ++l) sum += mix[static_cast<size_t>(a * latent + l)] * z[static_cast<size_t>(l)];
      s.x[static_cast<size_t>(a * n + j)] = std::max(sum, 0.f);
    }
  }
  s.x_quant = s.x;
  if (quantize_inputs) {
    const float top = *std::max_element(s.x.begin(), s.x.end());
    const float step = top > 0 ? top / 255.f : 1.f;
    for (float& v : s.x_quant) v = std::clamp(std::nearbyint(v / step), 0.f, 255.f) * step;
  }
  return s;
}

// Gaussian weights, every seventh row ten times larger (the outlier channels that make a
// per-tensor scale coarse for everyone else).
std::vector<float> make_weights(int64_t rows, int64_t k, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.f, 0.1f);
  std::vector<float> w(static_cast<size_t>(rows * k));
  for (int64_t r = 0; r < rows; ++r) {
    const float gain = r % 7 == 3 ? 10.f : 1.f;
    for (int64_t c = 0; c < k; ++c) w[static_cast<size_t>(r * k + c)] = gain * normal(rng);
  }
  return w;
}

enum class GridKind { kPerChannel, kPerTensor, kAsymmetric };

std::string grid_name(GridKind g, int bits) {
  const char* kind = g == GridKind::kPerChannel ? "per-channel" : g == GridKind::kPerTensor ? "per-tensor" : "asym";
  return std::to_string(bits) + "-bit " + kind;
}

// Abs-max signed grids (symmetric, zero point 0) or min/max unsigned grids with a zero point.
void set_grid(LayerProblem& p, GridKind kind, int bits) {
  const size_t n = static_cast<size_t>(p.rows * p.k);
  p.scale.assign(n, 1.f);
  p.zero_point.assign(n, 0.f);
  if (kind == GridKind::kAsymmetric) {
    p.min_int = 0;
    p.max_int = (int64_t{1} << bits) - 1;
  } else {
    p.min_int = -(int64_t{1} << (bits - 1));
    p.max_int = (int64_t{1} << (bits - 1)) - 1;
  }
  const float tensor_max = std::max(1e-12f, std::abs(*std::max_element(
                                                p.w.begin(), p.w.end(), [](float a, float b) { return std::abs(a) < std::abs(b); })));
  for (int64_t r = 0; r < p.rows; ++r) {
    const auto first = p.w.begin() + r * p.k, last = first + p.k;
    float scale = 1.f, zero = 0.f;
    if (kind == GridKind::kAsymmetric) {
      const float lo = std::min(0.f, *std::min_element(first, last)), hi = std::max(0.f, *std::max_element(first, last));
      scale = std::max(1e-12f, (hi - lo) / static_cast<float>(p.max_int));
      zero = std::nearbyint(-lo / scale);
    } else {
      float row_max = 1e-12f;
      for (auto it = first; it != last; ++it) row_max = std::max(row_max, std::abs(*it));
      scale = (kind == GridKind::kPerTensor ? tensor_max : row_max) / static_cast<float>(p.max_int);
    }
    std::fill(p.scale.begin() + r * p.k, p.scale.begin() + (r + 1) * p.k, scale);
    std::fill(p.zero_point.begin() + r * p.k, p.zero_point.begin() + (r + 1) * p.k, zero);
  }
}

LayerProblem make_problem(const Samples& s, std::vector<float> w, int64_t rows, GridKind kind, int bits, bool with_g) {
  LayerProblem p;
  p.rows = rows;
  p.k = s.k;
  p.w = std::move(w);
  set_grid(p, kind, bits);
  p.samples = s.n;
  p.h.assign(static_cast<size_t>(s.k * s.k), 0.0);
  if (with_g) p.g.assign(static_cast<size_t>(s.k * s.k), 0.0);
  for (int64_t a = 0; a < s.k; ++a) {
    for (int64_t b = 0; b < s.k; ++b) {
      double hab = 0, gab = 0;
      for (int64_t j = 0; j < s.n; ++j) {
        const double xa = s.x_quant[static_cast<size_t>(a * s.n + j)];
        hab += xa * s.x_quant[static_cast<size_t>(b * s.n + j)];
        gab += xa * s.x[static_cast<size_t>(b * s.n + j)];
      }
      p.h[static_cast<size_t>(a * s.k + b)] = hab;
      if (with_g) p.g[static_cast<size_t>(a * s.k + b)] = gab;
    }
  }
  return p;
}

// ‖W̃ X̃ − W X‖² straight from the samples (X̃ = X when the problem has no g, as its h is then
// the only statistic and the solver's target is W X̃).
double output_error(const Samples& s, const LayerProblem& p, const std::vector<float>& w_tilde) {
  const std::vector<float>& target_x = p.g.empty() ? s.x_quant : s.x;
  double total = 0;
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t j = 0; j < s.n; ++j) {
      double out = 0;
      for (int64_t a = 0; a < s.k; ++a) {
        const size_t i = static_cast<size_t>(r * p.k + a), x = static_cast<size_t>(a * s.n + j);
        out += static_cast<double>(w_tilde[i]) * s.x_quant[x] - static_cast<double>(p.w[i]) * target_x[x];
      }
      total += out * out;
    }
  }
  return total;
}

// Every element is on its grid (its integer reproduces it exactly) and is floor(w/s) + z or
// that + 1, clipped: AdaRound only chooses between the two neighbours.
void check_on_grid_between_neighbours(const LayerProblem& p, const std::vector<float>& w_tilde) {
  REQUIRE(w_tilde.size() == p.w.size());
  int64_t off_grid = 0, not_neighbour = 0;
  for (size_t e = 0; e < w_tilde.size(); ++e) {
    const int64_t i = static_cast<int64_t>(e);
    const double q = grid_integer(p, i, w_tilde[e]);
    if (grid_value(p, i, q) != w_tilde[e]) ++off_grid;
    const double fl = std::floor(static_cast<double>(p.w[e] / p.scale[e])) + p.zero_point[e];
    const double lo = std::clamp(fl, double(p.min_int), double(p.max_int));
    const double hi = std::clamp(fl + 1, double(p.min_int), double(p.max_int));
    if (q != lo && q != hi) ++not_neighbour;
  }
  CHECK(off_grid == 0);
  CHECK(not_neighbour == 0);
}

}  // namespace

TEST_CASE("AdaRound lowers the output error well below round-to-nearest") {
  const int64_t rows = 48, k = 96, n = 2048;
  const std::vector<float> w = make_weights(rows, k, 7);
  for (bool quantized_inputs : {true, false}) {
    const Samples s = make_samples(k, n, 3, quantized_inputs);
    struct Case {
      GridKind kind;
      int bits;
    };
    for (Case c : {Case{GridKind::kPerChannel, 4}, Case{GridKind::kPerChannel, 3}, Case{GridKind::kPerTensor, 4},
                   Case{GridKind::kAsymmetric, 4}, Case{GridKind::kAsymmetric, 3}}) {
      const LayerProblem p = make_problem(s, w, rows, c.kind, c.bits, quantized_inputs);
      AdaRoundStats stats;
      auto solved = adaround_solve(p, {}, &stats);
      REQUIRE(solved.is_ok());
      check_on_grid_between_neighbours(p, *solved);
      const std::vector<float> rtn = round_all_to_grid(p);
      const double floor_error = output_error(s, p, p.w);  // the input quantization's share
      const double err_rtn = output_error(s, p, rtn), err_ada = output_error(s, p, *solved);
      const double ratio = err_ada / err_rtn;
      std::printf("%-18s X~ %-9s |W~X~-WX|^2: rtn %.4g adaround %.4g (x%.3f; float W %.3g)  flipped %lld/%lld  "
                  "undecided %lld  %.2f s\n",
                  grid_name(c.kind, c.bits).c_str(), quantized_inputs ? "8-bit" : "= X", err_rtn, err_ada, ratio,
                  floor_error, static_cast<long long>(stats.flipped), static_cast<long long>(stats.optimised),
                  static_cast<long long>(stats.undecided), stats.seconds);
      INFO(grid_name(c.kind, c.bits) << (quantized_inputs ? ", 8-bit inputs" : ", float inputs"));
      CHECK(ratio < 0.85);
      // The statistics-based losses agree with the samples (up to the input-quantization term).
      CHECK(stats.loss_rtn == Approx(err_rtn - floor_error).epsilon(1e-6).margin(1e-9 * err_rtn));
      CHECK(stats.loss_final == Approx(err_ada - floor_error).epsilon(1e-6).margin(1e-9 * err_rtn));
      CHECK(stats.flipped > 0);
      CHECK(stats.undecided <= stats.optimised / 100);
    }
  }
}

namespace {

// A layer problem of the given size with cheap statistics (the timing does not depend on
// them): h = n (μ μᵀ + diag(σ²)), inputs with mean μ and independent spread, g = h.
LayerProblem timing_problem(int64_t rows, int64_t k) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> uniform(0.1, 1.0);
  LayerProblem p;
  p.rows = rows;
  p.k = k;
  p.w = make_weights(rows, k, 9);
  set_grid(p, GridKind::kPerChannel, 4);
  p.samples = 4 * k;
  std::vector<double> mean(static_cast<size_t>(k));
  for (double& m : mean) m = uniform(rng);
  p.h.assign(static_cast<size_t>(k * k), 0.0);
  for (int64_t a = 0; a < k; ++a) {
    for (int64_t b = 0; b < k; ++b) {
      p.h[static_cast<size_t>(a * k + b)] =
          static_cast<double>(p.samples) * (mean[size_t(a)] * mean[size_t(b)] + (a == b ? uniform(rng) : 0.0));
    }
  }
  return p;
}

void print_timing(int64_t rows, int64_t k) {
  const LayerProblem p = timing_problem(rows, k);
  AdaRoundStats stats;
  const auto start = std::chrono::steady_clock::now();
  auto solved = adaround_solve(p, {}, &stats);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(solved.is_ok());
  std::printf("timing: rows %lld k %lld, 1000 iterations: %.2f s (loss vs rtn x%.3f, undecided %lld)\n",
              static_cast<long long>(rows), static_cast<long long>(k), seconds, stats.loss_final / stats.loss_rtn,
              static_cast<long long>(stats.undecided));
}

}  // namespace

TEST_CASE("AdaRound handles odd sizes and dead input features") {
  for (int64_t k : {1, 3, 17}) {
    for (int64_t rows : {1, 5}) {
      // Input features [0, dead) never fire: their h rows and columns are zero.
      const int64_t dead = k == 17 ? 5 : 0;
      for (bool with_g : {true, false}) {
        const Samples s = make_samples(k, 256, 11 + k, with_g, dead);
        const LayerProblem p = make_problem(s, make_weights(rows, k, 13 + rows), rows, GridKind::kPerChannel, 3, with_g);
        AdaRoundStats stats;
        auto solved = adaround_solve(p, {}, &stats);
        INFO("k " << k << " rows " << rows << (with_g ? " with g" : " g = h"));
        REQUIRE(solved.is_ok());
        check_on_grid_between_neighbours(p, *solved);
        CHECK(std::isfinite(stats.loss_final));
        const std::vector<float> rtn = round_all_to_grid(p);
        // Nothing ties a dead feature's weights to the loss: only the regulariser moves them,
        // towards the nearer neighbour.
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t c = 0; c < dead; ++c) CHECK((*solved)[size_t(r * k + c)] == rtn[size_t(r * k + c)]);
        }
        // With one input and X~ = X the relaxed optimum is W itself: AdaRound is round-to-nearest.
        if (k == 1 && !with_g) CHECK(*solved == rtn);
        if (dead == 0) CHECK(stats.loss_final <= stats.loss_rtn * 1.001 + 1e-12);
      }
    }
  }
  // Empty problems are valid.
  LayerProblem empty;
  auto none = adaround_solve(empty);
  REQUIRE(none.is_ok());
  CHECK(none->empty());
}

TEST_CASE("AdaRound with no iterations rounds the initialisation: floor + (frac >= 0.5)") {
  const Samples s = make_samples(24, 512, 21, true);
  LayerProblem p = make_problem(s, make_weights(6, 24, 23), 6, GridKind::kAsymmetric, 4, true);
  // A tie: w/s + z exactly halfway above the even integer 6 (a power-of-two scale keeps the
  // quotient exact). Half-up goes to 7, the quantizer's own half-to-even rounding to 6.
  p.scale[7] = 0.0625f;
  p.w[7] = (6.5f - p.zero_point[7]) * p.scale[7];
  AdaRoundOptions none;
  none.iterations = 0;
  AdaRoundStats stats;
  auto solved = adaround_solve(p, none, &stats);
  REQUIRE(solved.is_ok());
  check_on_grid_between_neighbours(p, *solved);
  const std::vector<float> rtn = round_all_to_grid(p);
  int64_t ties = 0;
  for (size_t e = 0; e < p.w.size(); ++e) {
    const int64_t i = static_cast<int64_t>(e);
    const double quotient = static_cast<double>(p.w[e] / p.scale[e]);
    const double fl = std::floor(quotient);
    const double expected = fl + p.zero_point[e] + (quotient - fl >= 0.5 ? 1 : 0);
    CHECK(grid_integer(p, i, (*solved)[e]) == std::clamp(expected, double(p.min_int), double(p.max_int)));
    if (quotient - fl == 0.5) {
      ++ties;
    } else {
      CHECK((*solved)[e] == rtn[e]);
    }
  }
  CHECK(ties == 1);
  CHECK(grid_integer(p, 7, (*solved)[7]) - grid_integer(p, 7, rtn[7]) == 1);
  CHECK(stats.flipped == 1);
  CHECK(stats.loss_final == Approx(stats.loss_rtn).epsilon(0.05));
}

TEST_CASE("AdaRound is deterministic") {
  const Samples s = make_samples(40, 512, 31, true);
  const LayerProblem p = make_problem(s, make_weights(12, 40, 33), 12, GridKind::kPerChannel, 4, true);
  AdaRoundStats a_stats, b_stats;
  auto a = adaround_solve(p, {}, &a_stats);
  auto b = adaround_solve(p, {}, &b_stats);
  REQUIRE(a.is_ok());
  REQUIRE(b.is_ok());
  CHECK(*a == *b);
  CHECK(a_stats.loss_final == b_stats.loss_final);
  CHECK(a_stats.undecided == b_stats.undecided);
}

TEST_CASE("AdaRound rejects inconsistent problems and options") {
  const Samples s = make_samples(8, 64, 41, true);
  const LayerProblem good = make_problem(s, make_weights(3, 8, 43), 3, GridKind::kPerChannel, 4, true);
  REQUIRE(adaround_solve(good).is_ok());
  auto fails = [&](const LayerProblem& p, const AdaRoundOptions& o = {}) { return !adaround_solve(p, o).is_ok(); };
  LayerProblem p = good;
  p.h.pop_back();
  CHECK(fails(p));
  p = good;
  p.g.resize(5);
  CHECK(fails(p));
  p = good;
  p.scale[4] = 0.f;
  CHECK(fails(p));
  p = good;
  p.zero_point[2] = 0.5f;
  CHECK(fails(p));
  p = good;
  p.w[1] = std::nanf("");
  CHECK(fails(p));
  p = good;
  p.samples = 0;
  CHECK(fails(p));
  p = good;
  p.min_int = 5;
  p.max_int = 4;
  CHECK(fails(p));
  AdaRoundOptions o;
  o.iterations = -1;
  CHECK(fails(good, o));
  o = {};
  o.beta_end = 0.5;
  CHECK(fails(good, o));
  o = {};
  o.learning_rate = 0;
  CHECK(fails(good, o));
  o = {};
  o.warmup = 1.5;
  CHECK(fails(good, o));
}

TEST_CASE("AdaRound timing rows 160 k 960") { print_timing(160, 960); }
TEST_CASE("AdaRound timing rows 1000 k 1280", "[.timing]") { print_timing(1000, 1280); }
