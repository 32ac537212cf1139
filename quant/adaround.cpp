#include "quant/adaround.h"

#include <Eigen/Dense>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "kernels/gemm/gemm_f32.h"

namespace qe {

namespace {

// The rectified sigmoid's stretch: h reaches 0 and 1 at finite V, where its gradient vanishes,
// so decided elements stop moving.
constexpr float kZeta = 1.1f;
constexpr float kGamma = -0.1f;
// Adam's usual constants (the reference implementations use PyTorch's defaults).
constexpr float kAdamBeta1 = 0.9f;
constexpr float kAdamBeta2 = 0.999f;
constexpr float kAdamEpsilon = 1e-8f;

using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Status validate(const LayerProblem& p, const AdaRoundOptions& o) {
  if (p.rows < 0 || p.k < 0) return invalid_argument("adaround: negative shape ", p.rows, " x ", p.k);
  const size_t n = static_cast<size_t>(p.rows * p.k), kk = static_cast<size_t>(p.k * p.k);
  if (p.w.size() != n || p.scale.size() != n || p.zero_point.size() != n) {
    return invalid_argument("adaround: w / scale / zero_point hold ", p.w.size(), " / ", p.scale.size(), " / ",
                            p.zero_point.size(), " values, expected rows x k = ", n);
  }
  if (p.h.size() != kk) return invalid_argument("adaround: h holds ", p.h.size(), " values, expected k x k = ", kk);
  if (!p.g.empty() && p.g.size() != kk) {
    return invalid_argument("adaround: g holds ", p.g.size(), " values, expected k x k = ", kk, " or none");
  }
  if (p.min_int > p.max_int) return invalid_argument("adaround: empty grid [", p.min_int, ", ", p.max_int, "]");
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(p.w[i])) return invalid_argument("adaround: weight ", i, " is not finite");
    if (!(p.scale[i] > 0) || !std::isfinite(p.scale[i])) {
      return invalid_argument("adaround: scale ", i, " is ", p.scale[i], " (must be positive and finite)");
    }
    if (!std::isfinite(p.zero_point[i]) || std::nearbyint(p.zero_point[i]) != p.zero_point[i]) {
      return invalid_argument("adaround: zero point ", i, " is ", p.zero_point[i], " (must be an integer)");
    }
  }
  for (double v : p.h) {
    if (!std::isfinite(v)) return invalid_argument("adaround: h is not finite");
  }
  for (double v : p.g) {
    if (!std::isfinite(v)) return invalid_argument("adaround: g is not finite");
  }
  if (n > 0 && p.samples <= 0) return invalid_argument("adaround: samples ", p.samples, " (h and g need some)");
  if (o.iterations < 0) return invalid_argument("adaround: iterations ", o.iterations, " < 0");
  if (!(o.reg_weight >= 0) || !std::isfinite(o.reg_weight)) {
    return invalid_argument("adaround: reg_weight ", o.reg_weight, " must be finite and >= 0");
  }
  // |2h − 1|^β must have a finite derivative at h = 0.5.
  if (!(o.beta_start >= 1) || !(o.beta_end >= 1) || !std::isfinite(o.beta_start) || !std::isfinite(o.beta_end)) {
    return invalid_argument("adaround: beta range [", o.beta_start, ", ", o.beta_end, "] must be finite and >= 1");
  }
  if (!(o.warmup >= 0 && o.warmup <= 1)) return invalid_argument("adaround: warmup ", o.warmup, " not in [0, 1]");
  if (!(o.learning_rate > 0) || !std::isfinite(o.learning_rate)) {
    return invalid_argument("adaround: learning_rate ", o.learning_rate, " must be finite and > 0");
  }
  return Status::ok();
}

// Where every element sits on its grid: w/s = floor + frac (the quotient in float32, as
// FakeQuant computes it), and whether both neighbours floor + z and floor + z + 1 are on the
// grid (otherwise clipping fixes the element whatever h(V) is).
struct GridPosition {
  std::vector<double> floor_q;  // floor(w/s) + z
  std::vector<float> frac;      // w/s − floor(w/s), in [0, 1)
  std::vector<uint8_t> free;    // min_int <= floor_q <= max_int − 1
};

GridPosition locate_on_grid(const LayerProblem& p) {
  const size_t n = p.w.size();
  GridPosition g;
  g.floor_q.resize(n);
  g.frac.resize(n);
  g.free.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const double quotient = static_cast<double>(p.w[i] / p.scale[i]);
    const double fl = std::floor(quotient);
    g.floor_q[i] = fl + p.zero_point[i];
    g.frac[i] = static_cast<float>(quotient - fl);
    g.free[i] = g.floor_q[i] >= static_cast<double>(p.min_int) && g.floor_q[i] + 1 <= static_cast<double>(p.max_int);
  }
  return g;
}

MatrixD map_rows_k(const std::vector<float>& v, int64_t rows, int64_t k) {
  return Eigen::Map<const MatrixF>(v.data(), rows, k).cast<double>();
}

// C = W (h − gᵀ): the part of the gradient 2(W̃ h − W gᵀ) = 2((W̃ − W) h + C) that does not
// depend on W̃. Splitting it off keeps the per-step product on the small W̃ − W, so float32
// suffices there without cancellation against W h.
MatrixD constant_gradient(const LayerProblem& p, const MatrixD& h) {
  if (p.g.empty()) return MatrixD::Zero(p.rows, p.k);
  const Eigen::Map<const MatrixD> g(p.g.data(), p.k, p.k);
  const MatrixD w = map_rows_k(p.w, p.rows, p.k);
  MatrixD c;
  c.noalias() = w * (h - g.transpose());
  return c;
}

// (W̃ − W) · h, the one O(rows·k²) product of every step. Baseline x86-64 builds give Eigen
// only SSE2, so where the CPU has AVX2 / AVX-512 the engine's own float GEMM microkernels are
// used instead (h packed once; single-threaded, each tile accumulated in a fixed order).
class ProductWithH {
 public:
  ProductWithH(const MatrixF& h, int64_t rows) : h_(h), rows_(rows), cfg_(kernels::gemm_f32_config()) {
    if (!cfg_) return;
    const int64_t k = h.rows();
    tiling_ = kernels::plan_gemm_tiling(*cfg_, rows, k, k, 1, 1);
    packed_h_.resize(static_cast<size_t>(kernels::packed_size(k, k, cfg_->nr)));
    kernels::pack_operand(h.data(), k, /*k_major=*/true, k, k, cfg_->nr, tiling_.kc, 1.f, packed_h_.data());
    scratch_.resize(static_cast<size_t>(kernels::gemm_tile_scratch_floats(tiling_, true, false)));
  }

  void multiply(const MatrixF& d, MatrixF& out) {
    if (!cfg_) {
      out.noalias() = d * h_;
      return;
    }
    const int64_t k = h_.rows();
    const kernels::MatrixPacker d_packer(d.data(), k, /*k_major=*/false);
    kernels::PackedGemm g;
    g.cfg = cfg_;
    g.M = rows_;
    g.N = k;
    g.K = k;
    g.a_packer = &d_packer;
    g.b_packed = packed_h_.data();
    g.c = out.data();
    g.ldc = k;
    for (int64_t tile = 0; tile < tiling_.tasks(); ++tile) kernels::gemm_f32_tile(g, tiling_, tile, scratch_.data());
  }

 private:
  const MatrixF& h_;
  int64_t rows_;
  const kernels::GemmF32Config* cfg_;
  kernels::GemmTiling tiling_;
  std::vector<float> packed_h_, scratch_;
};

// The mean curvature s² h_jj of the reconstruction along one optimised element (see below).
double mean_curvature(const LayerProblem& p, const GridPosition& grid) {
  double total = 0;
  int64_t count = 0;
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t c = 0; c < p.k; ++c) {
      const size_t i = static_cast<size_t>(r * p.k + c);
      if (!grid.free[i]) continue;
      const double s = p.scale[i];
      total += s * s * p.h[static_cast<size_t>(c * p.k + c)];
      ++count;
    }
  }
  return count > 0 && total > 0 ? total / static_cast<double>(count) : 1.0;
}

// β after the warm-up: cosine from beta_start to beta_end (AIMET's schedule; BRECQ's is linear).
double annealed_beta(const AdaRoundOptions& o, int step, double warmup_steps) {
  const double span = static_cast<double>(o.iterations) - warmup_steps;
  const double progress = span > 0 ? (step - warmup_steps) / span : 1.0;
  return o.beta_end + 0.5 * (o.beta_start - o.beta_end) * (1 + std::cos(progress * M_PI));
}

// Optimises V (one per element, initialised so that h(V) = frac) and returns the final h(V).
Eigen::ArrayXf optimise_rounding(const LayerProblem& p, const AdaRoundOptions& o, const GridPosition& grid,
                                 const MatrixD& h, const MatrixD& c) {
  const int64_t n = p.rows * p.k;
  const Eigen::Map<const Eigen::ArrayXf> frac(grid.frac.data(), n);
  const Eigen::Map<const Eigen::ArrayXf> scale(p.scale.data(), n);
  Eigen::ArrayXf free_mask(n), fixed_delta(n);
  for (int64_t i = 0; i < n; ++i) {
    const size_t e = static_cast<size_t>(i);
    free_mask[i] = grid.free[e] ? 1.f : 0.f;
    const double q = grid.floor_q[e] + (grid.frac[e] >= 0.5f ? 1 : 0);
    fixed_delta[i] = grid.free[e] ? 0.f : grid_value(p, i, q) - p.w[e];
  }
  // σ(V) = (frac − γ) / (ζ − γ) lies in [1/12, 11/12): V is finite.
  const Eigen::ArrayXf sigma0 = (frac - kGamma) / (kZeta - kGamma);
  Eigen::ArrayXf v = (sigma0 / (1 - sigma0)).log();
  Eigen::ArrayXf soft = frac;
  if (o.iterations == 0) return soft;

  const MatrixF hf = h.cast<float>();
  ProductWithH product_with_h(hf, p.rows);
  // The loss is reconstruction / (samples · rows) + λ · regulariser (the per-output-element mean
  // of the reference implementations, so λ means what it means there), optimised multiplied by
  // samples · rows / mean curvature: Adam only sees that factor through ε, which would
  // otherwise swamp the gradients of layers with small weights or activations.
  const double curvature = mean_curvature(p, grid);
  const float grad_scale = static_cast<float>(2 / curvature);
  const float lambda = static_cast<float>(o.reg_weight * static_cast<double>(p.samples) *
                                          static_cast<double>(p.rows) / curvature);
  const Eigen::ArrayXf c_scaled =
      Eigen::Map<const Eigen::ArrayXd>(c.data(), n).cast<float>() * grad_scale;

  MatrixF delta(p.rows, p.k), product(p.rows, p.k);
  Eigen::Map<Eigen::ArrayXf> delta_flat(delta.data(), n), product_flat(product.data(), n);
  Eigen::ArrayXf sigma(n), stretched(n), grad(n), m = Eigen::ArrayXf::Zero(n), s2 = Eigen::ArrayXf::Zero(n);
  const double warmup_steps = o.warmup * o.iterations;
  const float lr = static_cast<float>(o.learning_rate);
  double bias1 = 1, bias2 = 1;
  for (int step = 0; step < o.iterations; ++step) {
    sigma = 1 / (1 + (-v).exp());
    stretched = sigma * (kZeta - kGamma) + kGamma;
    soft = stretched.max(0.f).min(1.f);
    delta_flat = free_mask * scale * (soft - frac) + fixed_delta;
    product_with_h.multiply(delta, product);
    grad = (product_flat * grad_scale + c_scaled) * scale;
    if (step >= warmup_steps && lambda > 0) {
      // d/dh λ(1 − |2h − 1|^β) = −2λβ |2h − 1|^(β−1) sign(2h − 1)
      const float beta = static_cast<float>(annealed_beta(o, step, warmup_steps));
      const Eigen::ArrayXf u = 2 * soft - 1;
      grad -= (2 * lambda * beta) * ((beta - 1) * u.abs().max(1e-30f).log()).exp() * u.sign();
    }
    // Through h(V): zero where the rectified sigmoid is clipped, and for clipped grid elements.
    grad *= free_mask * sigma * (1 - sigma) * (kZeta - kGamma) *
            (stretched > 0.f && stretched < 1.f).cast<float>();
    m = kAdamBeta1 * m + (1 - kAdamBeta1) * grad;
    s2 = kAdamBeta2 * s2 + (1 - kAdamBeta2) * grad.square();
    bias1 *= kAdamBeta1;
    bias2 *= kAdamBeta2;
    const float step_size = static_cast<float>(lr / (1 - bias1));
    const float root_correction = static_cast<float>(std::sqrt(1 - bias2));
    v -= step_size * m / (s2.sqrt() / root_correction + kAdamEpsilon);
  }
  sigma = 1 / (1 + (-v).exp());
  return (sigma * (kZeta - kGamma) + kGamma).max(0.f).min(1.f);
}

// `opts` with iterations cut to what max_multiply_adds affords for this layer.
AdaRoundOptions with_affordable_iterations(const LayerProblem& p, const AdaRoundOptions& opts) {
  AdaRoundOptions o = opts;
  if (opts.max_multiply_adds > 0) {
    const double per_step = static_cast<double>(p.rows) * static_cast<double>(p.k) * static_cast<double>(p.k);
    const double affordable = opts.max_multiply_adds / std::max(per_step, 1.0);
    o.iterations = std::min(opts.iterations, std::max(opts.min_iterations, static_cast<int>(std::min(affordable, 1e9))));
  }
  return o;
}

}  // namespace

Result<std::vector<float>> adaround_solve(const LayerProblem& p, const AdaRoundOptions& opts, AdaRoundStats* stats) {
  const auto start = std::chrono::steady_clock::now();
  QE_RETURN_IF_ERROR(validate(p, opts));
  const AdaRoundOptions steps = with_affordable_iterations(p, opts);
  const int64_t n = p.rows * p.k;
  const GridPosition grid = locate_on_grid(p);
  const MatrixD h = Eigen::Map<const MatrixD>(p.h.data(), p.k, p.k);
  const MatrixD c = constant_gradient(p, h);
  const Eigen::ArrayXf soft = optimise_rounding(p, steps, grid, h, c);

  std::vector<float> result(static_cast<size_t>(n));
  AdaRoundStats s;
  for (int64_t i = 0; i < n; ++i) {
    const size_t e = static_cast<size_t>(i);
    // Clipped elements land on the clip bound whichever way they round.
    const bool up = steps.iterations == 0 || !grid.free[e] ? grid.frac[e] >= 0.5f : soft[i] >= 0.5f;
    const double q = std::clamp(grid.floor_q[e] + (up ? 1 : 0), static_cast<double>(p.min_int),
                                static_cast<double>(p.max_int));
    result[e] = grid_value(p, i, q);
    if (grid.free[e]) {
      ++s.optimised;
      if (soft[i] > 0.f && soft[i] < 1.f) ++s.undecided;
    }
    if (q != grid_integer(p, i, round_to_grid(p, i, p.w[e]))) ++s.flipped;
  }
  if (stats) {
    s.loss_rtn = excess_output_error(p, round_all_to_grid(p));
    s.loss_final = excess_output_error(p, result);
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    *stats = s;
  }
  return result;
}

}  // namespace qe
