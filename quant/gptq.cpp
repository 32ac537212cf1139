#include "quant/gptq.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/core/cpu_features.h"

namespace qe {

namespace layer_solver_detail {

namespace {

// Register tile of the GEMM: kTileRows rows of C × kTileCols columns, accumulated over a
// kDepthBlock-long stretch of the inner dimension while one B panel stays in L1.
constexpr int64_t kTileRows = 4;
constexpr int64_t kTileCols = 8;
constexpr int64_t kDepthBlock = 256;
constexpr int64_t kRowBlock = 64;

using TileKernel = void (*)(int64_t kk, double alpha, const double* a, int64_t lda, const double* b, int64_t ldb,
                            double* c, int64_t ldc);

// Any tile up to kTileRows × kTileCols (the edges of C).
void tile_partial(int64_t mr, int64_t nr, int64_t kk, double alpha, const double* a, int64_t lda, const double* b,
                  int64_t ldb, double* c, int64_t ldc) {
  for (int64_t i = 0; i < mr; ++i) {
    double acc[kTileCols] = {};
    for (int64_t p = 0; p < kk; ++p) {
      const double av = a[i * lda + p];
      const double* bp = b + p * ldb;
      for (int64_t j = 0; j < nr; ++j) acc[j] += av * bp[j];
    }
    for (int64_t j = 0; j < nr; ++j) c[i * ldc + j] += alpha * acc[j];
  }
}

void tile_full_portable(int64_t kk, double alpha, const double* a, int64_t lda, const double* b, int64_t ldb, double* c,
                        int64_t ldc) {
  double acc[kTileRows][kTileCols] = {};
  for (int64_t p = 0; p < kk; ++p) {
    const double* bp = b + p * ldb;
    for (int64_t i = 0; i < kTileRows; ++i) {
      const double av = a[i * lda + p];
      for (int64_t j = 0; j < kTileCols; ++j) acc[i][j] += av * bp[j];
    }
  }
  for (int64_t i = 0; i < kTileRows; ++i)
    for (int64_t j = 0; j < kTileCols; ++j) c[i * ldc + j] += alpha * acc[i][j];
}

#if defined(__x86_64__) && defined(__GNUC__)
#define QE_GPTQ_HAVE_AVX2_TILE 1
__attribute__((target("avx2,fma"))) void tile_full_avx2(int64_t kk, double alpha, const double* a, int64_t lda,
                                                        const double* b, int64_t ldb, double* c, int64_t ldc) {
  __m256d c00 = _mm256_setzero_pd(), c01 = _mm256_setzero_pd(), c10 = _mm256_setzero_pd(), c11 = _mm256_setzero_pd(),
          c20 = _mm256_setzero_pd(), c21 = _mm256_setzero_pd(), c30 = _mm256_setzero_pd(), c31 = _mm256_setzero_pd();
  const double *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda;
  for (int64_t p = 0; p < kk; ++p) {
    const __m256d b0 = _mm256_loadu_pd(b + p * ldb);
    const __m256d b1 = _mm256_loadu_pd(b + p * ldb + 4);
    __m256d av = _mm256_broadcast_sd(a0 + p);
    c00 = _mm256_fmadd_pd(av, b0, c00);
    c01 = _mm256_fmadd_pd(av, b1, c01);
    av = _mm256_broadcast_sd(a1 + p);
    c10 = _mm256_fmadd_pd(av, b0, c10);
    c11 = _mm256_fmadd_pd(av, b1, c11);
    av = _mm256_broadcast_sd(a2 + p);
    c20 = _mm256_fmadd_pd(av, b0, c20);
    c21 = _mm256_fmadd_pd(av, b1, c21);
    av = _mm256_broadcast_sd(a3 + p);
    c30 = _mm256_fmadd_pd(av, b0, c30);
    c31 = _mm256_fmadd_pd(av, b1, c31);
  }
  const __m256d al = _mm256_set1_pd(alpha);
  const __m256d lo[kTileRows] = {c00, c10, c20, c30};
  const __m256d hi[kTileRows] = {c01, c11, c21, c31};
  for (int64_t i = 0; i < kTileRows; ++i) {
    double* row = c + i * ldc;
    _mm256_storeu_pd(row, _mm256_fmadd_pd(al, lo[i], _mm256_loadu_pd(row)));
    _mm256_storeu_pd(row + 4, _mm256_fmadd_pd(al, hi[i], _mm256_loadu_pd(row + 4)));
  }
}
#endif

TileKernel full_tile_kernel() {
#ifdef QE_GPTQ_HAVE_AVX2_TILE
  if (cpu_features().level >= IsaLevel::kAvx2) return tile_full_avx2;
#endif
  return tile_full_portable;
}

}  // namespace

void gemm_accumulate(int64_t m, int64_t n, int64_t kk, double alpha, const double* a, int64_t lda, const double* b,
                     int64_t ldb, double* c, int64_t ldc) {
  if (m <= 0 || n <= 0 || kk <= 0) return;
  static const TileKernel full_tile = full_tile_kernel();
  for (int64_t p0 = 0; p0 < kk; p0 += kDepthBlock) {
    const int64_t depth = std::min(kDepthBlock, kk - p0);
    for (int64_t i0 = 0; i0 < m; i0 += kRowBlock) {
      const int64_t i1 = std::min(i0 + kRowBlock, m);
      // One B panel (depth × kTileCols) serves every row tile of this row block from L1.
      for (int64_t j = 0; j < n; j += kTileCols) {
        const int64_t nr = std::min(kTileCols, n - j);
        const double* bp = b + p0 * ldb + j;
        for (int64_t i = i0; i < i1; i += kTileRows) {
          const int64_t mr = std::min(kTileRows, i1 - i);
          const double* ap = a + i * lda + p0;
          double* cp = c + i * ldc + j;
          if (mr == kTileRows && nr == kTileCols) {
            full_tile(depth, alpha, ap, lda, bp, ldb, cp, ldc);
          } else {
            tile_partial(mr, nr, depth, alpha, ap, lda, bp, ldb, cp, ldc);
          }
        }
      }
    }
  }
}

Status check_layer_problem(const LayerProblem& p, bool needs_g, const char* solver) {
  if (p.rows < 0 || p.k < 0) return invalid_argument(solver, ": negative layer size ", p.rows, " x ", p.k);
  const size_t elements = static_cast<size_t>(p.rows * p.k);
  const size_t square = static_cast<size_t>(p.k * p.k);
  if (p.w.size() != elements || p.scale.size() != elements || p.zero_point.size() != elements) {
    return invalid_argument(solver, ": a ", p.rows, " x ", p.k, " layer needs ", elements,
                            " weights, scales and zero points (got ", p.w.size(), ", ", p.scale.size(), ", ",
                            p.zero_point.size(), ")");
  }
  if (p.h.size() != square) return invalid_argument(solver, ": h has ", p.h.size(), " entries, expected ", square);
  if (needs_g && p.g.size() != square) {
    return invalid_argument(solver, ": g has ", p.g.size(), " entries, expected ", square, " (", p.k, " x ", p.k, ")");
  }
  if (p.min_int > p.max_int) return invalid_argument(solver, ": empty grid [", p.min_int, ", ", p.max_int, "]");
  // Non-finite statistics would otherwise come out as NaN weights (GPFQ) or as a misleading
  // "not positive definite" (GPTQ).
  for (size_t i = 0; i < square; ++i) {
    if (!std::isfinite(p.h[i]))
      return invalid_argument(solver, ": h has a non-finite entry at ", i / p.k, ", ", i % p.k);
    if (needs_g && !std::isfinite(p.g[i])) {
      return invalid_argument(solver, ": g has a non-finite entry at ", i / p.k, ", ", i % p.k);
    }
  }
  for (size_t i = 0; i < elements; ++i) {
    if (!std::isfinite(p.w[i])) return invalid_argument(solver, ": weight ", i, " is not finite");
    if (!(p.scale[i] > 0) || !std::isfinite(p.scale[i])) {
      return invalid_argument(solver, ": scale of element ", i, " is ", p.scale[i], ", expected positive");
    }
  }
  return Status::ok();
}

std::vector<int64_t> decreasing_order(const std::vector<double>& values) {
  std::vector<int64_t> order(values.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return values[static_cast<size_t>(a)] > values[static_cast<size_t>(b)];
  });
  return order;
}

}  // namespace layer_solver_detail

namespace {

using layer_solver_detail::gemm_accumulate;

constexpr int64_t kFactorBlock = 128;

// In-place lower Cholesky factor of the k × k row-major `a` (its upper triangle is ignored and
// left as scratch). False when a pivot is not positive.
bool cholesky_lower_in_place(double* a, int64_t k) {
  std::vector<double> diag_t(static_cast<size_t>(kFactorBlock * kFactorBlock));
  std::vector<double> panel_t;
  for (int64_t j0 = 0; j0 < k; j0 += kFactorBlock) {
    const int64_t j1 = std::min(j0 + kFactorBlock, k), width = j1 - j0;
    // Diagonal block, unblocked and right-looking; its transpose is kept so that the panel
    // below can walk the factor's columns contiguously.
    for (int64_t c = j0; c < j1; ++c) {
      const double d = a[c * k + c];
      if (!(d > 0) || !std::isfinite(d)) return false;
      const double pivot = std::sqrt(d);
      a[c * k + c] = pivot;
      for (int64_t r = c + 1; r < j1; ++r) a[r * k + c] /= pivot;
      for (int64_t r = c + 1; r < j1; ++r) {
        const double lr = a[r * k + c];
        for (int64_t t = c + 1; t <= r; ++t) a[r * k + t] -= lr * a[t * k + c];
      }
    }
    for (int64_t c = 0; c < width; ++c)
      for (int64_t t = c; t < width; ++t) diag_t[c * width + t] = a[(j0 + t) * k + j0 + c];
    // Panel below: every row solves against the diagonal block on its own (stays in L1).
    for (int64_t r = j1; r < k; ++r) {
      double* row = a + r * k + j0;
      for (int64_t c = 0; c < width; ++c) {
        const double lr = row[c] / diag_t[c * width + c];
        row[c] = lr;
        const double* col = diag_t.data() + c * width;
        for (int64_t t = c + 1; t < width; ++t) row[t] -= lr * col[t];
      }
    }
    if (j1 == k) break;
    // Trailing update A22 -= L21 L21ᵀ, lower triangle only, in row tiles (the few upper
    // entries a tile also touches are scratch).
    const int64_t n = k - j1;
    panel_t.resize(static_cast<size_t>(width * n));
    for (int64_t r = j1; r < k; ++r)
      for (int64_t c = 0; c < width; ++c) panel_t[static_cast<size_t>(c * n + (r - j1))] = a[r * k + j0 + c];
    for (int64_t i0 = j1; i0 < k; i0 += kFactorBlock) {
      const int64_t i1 = std::min(i0 + kFactorBlock, k);
      gemm_accumulate(i1 - i0, i1 - j1, width, -1.0, a + i0 * k + j0, k, panel_t.data(), n, a + i0 * k + j1, k);
    }
  }
  return true;
}

// In-place inverse of the lower-triangular `a` (k × k row-major), by row blocks top-down:
// M[I, I] = L_II⁻¹ and M[I, :i0] = −L_II⁻¹ · (L[I, :i0] · M[:i0, :i0]). Reads only the lower
// triangle; writes zeros above the diagonal inside diagonal blocks.
void invert_lower_in_place(double* a, int64_t k) {
  std::vector<double> block_inv, product;
  for (int64_t i0 = 0; i0 < k; i0 += kFactorBlock) {
    const int64_t i1 = std::min(i0 + kFactorBlock, k), width = i1 - i0;
    block_inv.assign(static_cast<size_t>(width * width), 0.0);
    for (int64_t r = 0; r < width; ++r) {
      double* mr = block_inv.data() + r * width;
      const double* lr = a + (i0 + r) * k + i0;
      for (int64_t p = 0; p < r; ++p) {
        const double* mp = block_inv.data() + p * width;
        for (int64_t j = 0; j <= p; ++j) mr[j] += lr[p] * mp[j];
      }
      const double inv = 1.0 / lr[r];
      for (int64_t j = 0; j < r; ++j) mr[j] *= -inv;
      mr[r] = inv;
    }
    if (i0 > 0) {
      product.assign(static_cast<size_t>(width * i0), 0.0);
      // M[:i0, :i0] is lower triangular: column block jb only meets rows from jb0 on.
      for (int64_t jb0 = 0; jb0 < i0; jb0 += kFactorBlock) {
        const int64_t jb1 = std::min(jb0 + kFactorBlock, i0);
        gemm_accumulate(width, jb1 - jb0, i0 - jb0, 1.0, a + i0 * k + jb0, k, a + jb0 * k + jb0, k,
                        product.data() + jb0, i0);
      }
      for (int64_t r = i0; r < i1; ++r) std::fill(a + r * k, a + r * k + i0, 0.0);
      gemm_accumulate(width, i0, width, -1.0, block_inv.data(), width, product.data(), i0, a + i0 * k, k);
    }
    for (int64_t r = 0; r < width; ++r)
      std::copy(block_inv.data() + r * width, block_inv.data() + (r + 1) * width, a + (i0 + r) * k + i0);
  }
}

}  // namespace

// The reference implementation computes Hinv = upper_cholesky(cholesky_inverse(cholesky(H)))
// with H⁻¹ = Hinvᵀ Hinv. Here the same (unique) factor U comes from one Cholesky and one
// triangular inverse, with no full inverse: H = U⁻¹ U⁻ᵀ, and with J the index reversal,
// J H J = (J U⁻¹ J)(J U⁻¹ J)ᵀ with J U⁻¹ J lower triangular, i.e. J U⁻¹ J = chol(J H J). So
// U = J · chol(J H J)⁻¹ · J, and reversing an index pair (i, j) → (k−1−i, k−1−j) is just
// reversing the row-major array. This halves the O(k³) work of the reference recipe.
Result<std::vector<float>> gptq_solve(const LayerProblem& p, const GptqOptions& opts) {
  QE_RETURN_IF_ERROR(layer_solver_detail::check_layer_problem(p, false, "gptq"));
  if (opts.block_size < 1) return invalid_argument("gptq: block_size must be at least 1, got ", opts.block_size);
  if (!(opts.damp >= 0) || !std::isfinite(opts.damp)) {
    return invalid_argument("gptq: damp must be a finite non-negative number, got ", opts.damp);
  }
  const int64_t rows = p.rows, k = p.k;
  std::vector<float> out(static_cast<size_t>(rows * k));
  if (rows == 0 || k == 0) return out;

  // Inputs that never fire carry no information: unit curvature keeps h invertible and their
  // weights are zeroed (they do not change the layer's output on this data).
  std::vector<double> diag(static_cast<size_t>(k));
  std::vector<char> dead(static_cast<size_t>(k), 0);
  double diag_sum = 0;
  for (int64_t i = 0; i < k; ++i) {
    double d = p.h[static_cast<size_t>(i * k + i)];
    if (d == 0) {
      dead[static_cast<size_t>(i)] = 1;
      d = 1;
    }
    diag[static_cast<size_t>(i)] = d;
    diag_sum += d;
  }
  const double diag_mean = diag_sum / static_cast<double>(k);
  std::vector<int64_t> order(static_cast<size_t>(k));
  if (opts.act_order) {
    order = layer_solver_detail::decreasing_order(diag);
  } else {
    std::iota(order.begin(), order.end(), int64_t{0});
  }

  // U, the upper Cholesky factor of the (permuted, damped) H⁻¹; see the comment above.
  std::vector<double> u(static_cast<size_t>(k * k));
  // Damping ×1, ×10, ×100, ×1000 (from 10⁻³ when none was asked for) before giving up.
  constexpr int kAttempts = 4;
  const double retry_base = opts.damp > 0 ? opts.damp : 1e-3;
  double damp = opts.damp;
  bool factored = false;
  for (int attempt = 0; attempt < kAttempts && !factored; ++attempt) {
    damp = attempt == 0 ? opts.damp : retry_base * std::pow(10.0, attempt);
    const double lambda = damp * diag_mean;
    for (int64_t a = 0; a < k; ++a) {
      const int64_t src_row = order[static_cast<size_t>(k - 1 - a)];
      const double* src = p.h.data() + src_row * k;
      double* dst = u.data() + a * k;
      for (int64_t b = 0; b < k; ++b) dst[b] = src[order[static_cast<size_t>(k - 1 - b)]];
      dst[a] = diag[static_cast<size_t>(src_row)] + lambda;
    }
    factored = cholesky_lower_in_place(u.data(), k);
  }
  if (!factored) {
    return invalid_argument("gptq: h of a ", rows, " x ", k, " layer is not positive definite even with damping ", damp,
                            " · mean(diag h) = ", damp * diag_mean);
  }
  invert_lower_in_place(u.data(), k);
  std::reverse(u.begin(), u.end());

  // Working weights in processing order. Dead columns start at zero and stay there: a dead
  // input's row and column of h (a Gram matrix) are zero, so U couples it to no other column.
  std::vector<double> w(static_cast<size_t>(rows * k));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < k; ++c) {
      const int64_t src = order[static_cast<size_t>(c)];
      w[static_cast<size_t>(r * k + c)] = dead[static_cast<size_t>(src)] ? 0.0 : p.w[static_cast<size_t>(r * k + src)];
    }
  }
  const int64_t block = std::min(opts.block_size, k);
  std::vector<double> err(static_cast<size_t>(rows * block));
  for (int64_t b0 = 0; b0 < k; b0 += block) {
    const int64_t b1 = std::min(b0 + block, k), width = b1 - b0;
    for (int64_t r = 0; r < rows; ++r) {
      double* wr = w.data() + r * k;
      double* er = err.data() + r * width;
      for (int64_t i = b0; i < b1; ++i) {
        const double* ui = u.data() + i * k;
        const int64_t element = r * k + order[static_cast<size_t>(i)];
        const float q = round_to_grid(p, element, wr[i]);
        out[static_cast<size_t>(element)] = q;
        const double e = (wr[i] - static_cast<double>(q)) / ui[i];
        er[i - b0] = e;
        for (int64_t j = i + 1; j < b1; ++j) wr[j] -= e * ui[j];
      }
    }
    // The lazy batch: the whole block's errors reach the remaining columns in one product.
    if (b1 < k) {
      gemm_accumulate(rows, k - b1, width, -1.0, err.data(), width, u.data() + b0 * k + b1, k, w.data() + b1, k);
    }
  }
  return out;
}

}  // namespace qe
