// Weighted ops of the differentiable executor: Conv (1-D / 2-D, groups, strides, pads,
// dilations), Gemm and MatMul. Each is bilinear in (activation x, weight w), so one forward
// f(x, w) and its two transposes serve all four passes:
//   ẏ = f(ẋ, w) + f(x, v)       x̄ = f_xᵀ(ȳ, w)    x̄̇ = f_xᵀ(ȳ̇, w) + f_xᵀ(ȳ, v)
//   w̄ = f_wᵀ(ȳ, x)             ẇ̄ = f_wᵀ(ȳ̇, x) + f_wᵀ(ȳ, ẋ)
// (v is the weight's tangent, the HVP direction). Conv runs as GEMMs over an im2col matrix that
// spans the whole batch, so the weight gradient is one GEMM with the batch in its K dimension.
#include <algorithm>
#include <cstring>

#include "graph/schemas/conv_attrs.h"
#include "kernels/gemm/gemm_f32.h"
#include "kernels/gemm/task_phases.h"
#include "quant/mixed/backprop_internal.h"

namespace qe::backprop {

template <>
void gemm<float>(ThreadPool& pool, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, bool accumulate, float* C, int64_t ldc, int64_t batch,
                 int64_t sa, int64_t sb, int64_t sc) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
  const kernels::GemmF32Config* cfg = kernels::gemm_f32_config();
  if (cfg == nullptr) {
    for (int64_t i = 0; i < batch; ++i) {
      kernels::GemmF32Args a;
      a.M = M, a.N = N, a.K = K, a.A = A + i * sa, a.lda = lda, a.trans_a = ta, a.B = B + i * sb, a.ldb = ldb;
      a.trans_b = tb, a.C = C + i * sc, a.ldc = ldc, a.alpha = alpha, a.ep.accumulate = accumulate;
      kernels::gemm_f32_ref(a);
    }
    return;
  }
  const int threads = pool.num_threads();
  const kernels::GemmTiling tiling = kernels::plan_gemm_tiling(*cfg, M, N, K, batch, threads);
  kernels::MatrixPacker a_packer(A, lda, ta, sa, alpha);
  kernels::MatrixPacker b_packer(B, ldb, !tb, sb);
  // An operand packed per tile is packed again for every tile across the other dimension; pack
  // it once up front when that repeats (weight gradients: both operands span the whole batch).
  // B stored k-major is read in place instead.
  const bool prepack_a = tiling.tiles_n > 1;
  const bool prepack_b = tb && tiling.tiles_m > 1;
  const int64_t a_size = kernels::packed_size(M, K, cfg->mr), b_size = kernels::packed_size(N, K, cfg->nr);
  std::vector<float> a_packed(prepack_a ? static_cast<size_t>(a_size * batch) : 0);
  std::vector<float> b_packed(prepack_b ? static_cast<size_t>(b_size * batch) : 0);
  std::vector<kernels::TaskPhase> phases;
  if (prepack_a) phases.push_back(kernels::pack_operand_phase(a_packer, batch, M, K, cfg->mr, tiling.kc, a_packed.data()));
  if (prepack_b) phases.push_back(kernels::pack_operand_phase(b_packer, batch, N, K, cfg->nr, tiling.kc, b_packed.data()));
  auto get = [&](int64_t i, kernels::PackedGemm& g) {
    g.cfg = cfg;
    g.M = M, g.N = N, g.K = K;
    if (prepack_a) {
      g.a_packed = a_packed.data() + i * a_size;
    } else {
      g.a_packer = &a_packer, g.a_item = i;
    }
    if (prepack_b) {
      g.b_packed = b_packed.data() + i * b_size;
    } else if (tb) {
      g.b_packer = &b_packer, g.b_item = i;
    } else {
      g.b_direct = B + i * sb, g.ldb = ldb;  // k-major already: only the tail panel is packed
    }
    g.c = C + i * sc, g.ldc = ldc;
    g.ep.accumulate = accumulate;
  };
  phases.push_back(kernels::gemm_f32_phase(tiling, batch, get));
  const int64_t stride = kernels::gemm_tile_scratch_floats(tiling, !prepack_a, true);
  std::vector<float> scratch(static_cast<size_t>(stride * threads));
  kernels::run_task_phases(pool, phases, scratch.data(), stride, threads);
}

template <>
void gemm<double>(ThreadPool& pool, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                  int64_t lda, const double* B, int64_t ldb, bool accumulate, double* C, int64_t ldc, int64_t batch,
                  int64_t sa, int64_t sb, int64_t sc) {
  pool.parallel_for(batch * M, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r / M, m = r % M;
      const double* a = A + i * sa;
      const double* b = B + i * sb;
      double* c = C + i * sc + m * ldc;
      if (!accumulate) std::fill(c, c + N, 0.0);
      for (int64_t k = 0; k < K; ++k) {
        const double av = alpha * (ta ? a[k * lda + m] : a[m * lda + k]);
        if (tb) {
          for (int64_t n = 0; n < N; ++n) c[n] += av * b[n * ldb + k];
        } else {
          for (int64_t n = 0; n < N; ++n) c[n] += av * b[k * ldb + n];
        }
      }
    }
  });
}

namespace {

// y = f(x, w) + bias with f bilinear. Subclasses size the output from x's shape (prepare) and
// provide f and its transposes; all three accumulate into their destination.
template <typename T>
class BilinearOp : public NodeOp<T> {
 public:
  using NodeOp<T>::NodeOp;

  Status forward(Exec<T>& e) override {
    QE_ASSIGN_OR_RETURN(Shape shape, prepare(e.state(x_id()).shape, e.state(w_id()).shape));
    e.allocate_output(this->out(), shape);
    ValueState<T>& y = e.state(this->out());
    apply(e, e.x(x_id()), e.x(w_id()), y.x.data());
    add_bias(e, y.x.data());
    if (!y.t.empty()) {
      if (const T* xt = e.t(x_id())) apply(e, xt, e.x(w_id()), y.t.data());
      if (const T* v = e.t(w_id())) apply(e, e.x(x_id()), v, y.t.data());
    }
    return Status::ok();
  }

  void backward(Exec<T>& e) override {
    const T* yg = e.state(this->out()).g.data();
    const T* ytg = e.tangent() ? e.tgrad(this->out()) : nullptr;
    const T* w = e.x(w_id());
    const T* v = e.t(w_id());
    const T* x = e.x(x_id());
    const T* xt = e.t(x_id());
    if (T* gx = e.grad(x_id())) grad_x(e, yg, w, gx);
    if (T* gw = e.grad(w_id())) grad_w(e, yg, x, gw);
    if (!ytg) return;
    if (T* tgx = e.tgrad(x_id())) {
      grad_x(e, ytg, w, tgx);
      if (v) grad_x(e, yg, v, tgx);
    }
    if (T* tgw = e.tgrad(w_id())) {
      grad_w(e, ytg, x, tgw);
      if (xt) grad_w(e, yg, xt, tgw);
    }
  }

 protected:
  ValueId x_id() const { return this->in(0); }
  ValueId w_id() const { return this->in(1); }
  virtual Result<Shape> prepare(const Shape& x, const Shape& w) = 0;
  virtual void apply(Exec<T>& e, const T* x, const T* w, T* y) = 0;
  virtual void grad_x(Exec<T>& e, const T* yg, const T* w, T* xg) = 0;
  virtual void grad_w(Exec<T>& e, const T* yg, const T* x, T* wg) = 0;
  virtual void add_bias(Exec<T>& e, T* y) = 0;
};

// ---------------------------------------------------------------------------------------------
// Conv. The im2col matrix of group g is [K = Cin_g·kh·kw, N·P] (P output positions per image):
// the whole batch side by side, so y_g = w_g · col_g is one GEMM per group, and Y is staged as
// [Cout, N·P] before being laid out as NCHW.

template <typename T>
class ConvOp final : public BilinearOp<T> {
 public:
  ConvOp(const Graph& g, NodeId id) : BilinearOp<T>(g, id), attrs_(g.node(id).attrs) {
    if (this->in(2) != kNoValue) bias_ = constant_values(g, this->in(2));
  }

 protected:
  Result<Shape> prepare(const Shape& x, const Shape& w) override {
    QE_ASSIGN_OR_RETURN(ConvGeometry geo, resolve_conv_geometry(attrs_, x, w));
    if (geo.spatial_rank < 1 || geo.spatial_rank > 2) return this->fail("only 1-D and 2-D Conv are supported");
    const bool two = geo.spatial_rank == 2;
    n_ = geo.batch, cin_ = geo.in_channels, cout_ = geo.out_channels, group_ = geo.group;
    h_ = two ? geo.in_spatial[0] : 1, w_ = geo.in_spatial[two ? 1 : 0];
    oh_ = two ? geo.out_spatial[0] : 1, ow_ = geo.out_spatial[two ? 1 : 0];
    kh_ = two ? geo.kernel[0] : 1, kw_ = geo.kernel[two ? 1 : 0];
    sh_ = two ? geo.strides[0] : 1, sw_ = geo.strides[two ? 1 : 0];
    dh_ = two ? geo.dilations[0] : 1, dw_ = geo.dilations[two ? 1 : 0];
    ph_ = two ? geo.pads_begin[0] : 0, pw_ = geo.pads_begin[two ? 1 : 0];
    cin_g_ = cin_ / group_, cout_g_ = cout_ / group_;
    kg_ = cin_g_ * kh_ * kw_;
    p_ = oh_ * ow_;
    np_ = n_ * p_;
    if (!bias_.empty() && static_cast<int64_t>(bias_.size()) != cout_) return this->fail("bias size mismatch");
    return geo.output_shape();
  }

  void apply(Exec<T>& e, const T* x, const T* w, T* y) override {
    if (depthwise()) {
      depthwise_planes(e, [&](int64_t plane_in, int64_t plane_out, int64_t ix, int64_t o, T wv) {
        y[plane_out + o] += wv * x[plane_in + ix];
      }, w);
      return;
    }
    const T* col = im2col(e, x);
    T* yc = e.scratch(kStageSlot, static_cast<size_t>(cout_ * np_));
    gemm<T>(e.pool(), false, false, cout_g_, np_, kg_, T(1), w, kg_, col, np_, false, yc, np_, group_,
            cout_g_ * kg_, kg_ * np_, cout_g_ * np_);
    // [Cout, N, P] -> [N, Cout, P], accumulating.
    e.pool().parallel_for(n_ * cout_, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / cout_, c = r % cout_;
        const T* src = yc + c * np_ + n * p_;
        T* dst = y + r * p_;
        for (int64_t i = 0; i < p_; ++i) dst[i] += src[i];
      }
    });
  }

  void add_bias(Exec<T>& e, T* y) override {
    if (bias_.empty()) return;
    e.pool().parallel_for(n_ * cout_, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T b = static_cast<T>(bias_[static_cast<size_t>(r % cout_)]);
        for (int64_t i = 0; i < p_; ++i) y[r * p_ + i] += b;
      }
    });
  }

  void grad_x(Exec<T>& e, const T* yg, const T* w, T* xg) override {
    if (depthwise()) {
      depthwise_planes(e, [&](int64_t plane_in, int64_t plane_out, int64_t ix, int64_t o, T wv) {
        xg[plane_in + ix] += wv * yg[plane_out + o];
      }, w);
      return;
    }
    const T* yc = to_cnp(e, yg);
    T* col = e.scratch(kColSlot, static_cast<size_t>(group_ * kg_ * np_));
    gemm<T>(e.pool(), true, false, kg_, np_, cout_g_, T(1), w, kg_, yc, np_, false, col, np_, group_,
            cout_g_ * kg_, cout_g_ * np_, kg_ * np_);
    col2im(e, col, xg);
  }

  void grad_w(Exec<T>& e, const T* yg, const T* x, T* wg) override {
    if (depthwise()) {
      depthwise_weight_grad(e, yg, x, wg);
      return;
    }
    const T* yc = to_cnp(e, yg);
    const T* col = im2col(e, x);
    gemm<T>(e.pool(), false, true, cout_g_, kg_, np_, T(1), yc, np_, col, np_, true, wg, kg_, group_,
            cout_g_ * np_, kg_ * np_, cout_g_ * kg_);
  }

 private:
  static constexpr int kColSlot = 0, kStageSlot = 1;

  // One input and one output channel per group: a GEMM per channel would have a single row, so
  // these convs run as direct loops instead.
  bool depthwise() const { return cin_g_ == 1 && cout_g_ == 1; }

  // fn(input plane offset, output plane offset, input index in the plane, output index in the
  // plane, tap weight) for every tap inside the input, one (image, channel) plane per task.
  template <typename Fn>
  void depthwise_planes(Exec<T>& e, Fn fn, const T* w) const {
    const int64_t taps = kh_ * kw_;
    e.pool().parallel_for(n_ * cin_, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t c = r % cin_, plane_in = r * h_ * w_, plane_out = r * p_;
        for (int64_t t = 0; t < taps; ++t) {
          const int64_t ky = t / kw_, kx = t % kw_;
          const T wv = w[c * taps + t];
          int64_t lo, hi;
          valid_columns(kx, lo, hi);
          const int64_t off = kx * dw_ - pw_;
          for (int64_t oy = 0; oy < oh_; ++oy) {
            const int64_t iy = oy * sh_ - ph_ + ky * dh_;
            if (iy < 0 || iy >= h_) continue;
            for (int64_t ox = lo; ox < hi; ++ox) fn(plane_in, plane_out, iy * w_ + ox * sw_ + off, oy * ow_ + ox, wv);
          }
        }
      }
    });
  }

  // w̄[c, t] += Σ over images and positions of ȳ·x, one channel per task (a fixed order).
  void depthwise_weight_grad(Exec<T>& e, const T* yg, const T* x, T* wg) const {
    const int64_t taps = kh_ * kw_;
    e.pool().parallel_for(cin_, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        for (int64_t t = 0; t < taps; ++t) {
          const int64_t ky = t / kw_, kx = t % kw_;
          int64_t lo, hi;
          valid_columns(kx, lo, hi);
          const int64_t off = kx * dw_ - pw_;
          double total = 0;
          for (int64_t n = 0; n < n_; ++n) {
            const T* xp = x + (n * cin_ + c) * h_ * w_;
            const T* yp = yg + (n * cin_ + c) * p_;
            for (int64_t oy = 0; oy < oh_; ++oy) {
              const int64_t iy = oy * sh_ - ph_ + ky * dh_;
              if (iy < 0 || iy >= h_) continue;
              T row = 0;
              for (int64_t ox = lo; ox < hi; ++ox) row += yp[oy * ow_ + ox] * xp[iy * w_ + ox * sw_ + off];
              total += row;
            }
          }
          wg[c * taps + t] += static_cast<T>(total);
        }
      }
    });
  }

  // Output columns [lo, hi) whose input column ox·sw − pw + kx·dw lies inside the row.
  void valid_columns(int64_t kx, int64_t& lo, int64_t& hi) const {
    const int64_t off = kx * dw_ - pw_;  // ix = ox·sw + off
    lo = off >= 0 ? 0 : (-off + sw_ - 1) / sw_;
    hi = w_ - off <= 0 ? 0 : std::min(ow_, (w_ - off + sw_ - 1) / sw_);
    lo = std::min(lo, hi);
  }

  // Row (g, ci, ky, kx) of the batch-wide im2col matrix, in scratch slot kColSlot.
  const T* im2col(Exec<T>& e, const T* x) const {
    T* col = e.scratch(kColSlot, static_cast<size_t>(group_ * kg_ * np_));
    const int64_t taps = kh_ * kw_;
    e.pool().parallel_for(group_ * kg_, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t g = r / kg_, k = r % kg_;
        const int64_t c = g * cin_g_ + k / taps, ky = (k % taps) / kw_, kx = k % kw_;
        int64_t lo, hi;
        valid_columns(kx, lo, hi);
        const int64_t off = kx * dw_ - pw_;
        T* dst = col + r * np_;
        for (int64_t n = 0; n < n_; ++n) {
          const T* src = x + (n * cin_ + c) * h_ * w_;
          for (int64_t oy = 0; oy < oh_; ++oy) {
            const int64_t iy = oy * sh_ - ph_ + ky * dh_;
            T* d = dst + n * p_ + oy * ow_;
            if (iy < 0 || iy >= h_) {
              std::fill(d, d + ow_, T(0));
              continue;
            }
            const T* s = src + iy * w_;
            std::fill(d, d + lo, T(0));
            if (sw_ == 1) {
              if (hi > lo) std::copy(s + lo + off, s + hi + off, d + lo);
            } else {
              for (int64_t ox = lo; ox < hi; ++ox) d[ox] = s[ox * sw_ + off];
            }
            std::fill(d + hi, d + ow_, T(0));
          }
        }
      }
    });
    return col;
  }

  // Adds the im2col-shaped `col` back onto the input positions it was read from.
  void col2im(Exec<T>& e, const T* col, T* xg) const {
    const int64_t taps = kh_ * kw_;
    e.pool().parallel_for(n_ * cin_, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / cin_, c = r % cin_;
        const int64_t g = c / cin_g_, ci = c % cin_g_;
        T* dst = xg + r * h_ * w_;
        for (int64_t t = 0; t < taps; ++t) {
          const int64_t ky = t / kw_, kx = t % kw_;
          int64_t lo, hi;
          valid_columns(kx, lo, hi);
          const int64_t off = kx * dw_ - pw_;
          const T* src = col + (g * kg_ + ci * taps + t) * np_ + n * p_;
          for (int64_t oy = 0; oy < oh_; ++oy) {
            const int64_t iy = oy * sh_ - ph_ + ky * dh_;
            if (iy < 0 || iy >= h_) continue;
            T* d = dst + iy * w_;
            const T* s = src + oy * ow_;
            if (sw_ == 1) {
              for (int64_t ox = lo; ox < hi; ++ox) d[ox + off] += s[ox];
            } else {
              for (int64_t ox = lo; ox < hi; ++ox) d[ox * sw_ + off] += s[ox];
            }
          }
        }
      }
    });
  }

  // [N, Cout, P] -> [Cout, N·P], in scratch slot kStageSlot.
  const T* to_cnp(Exec<T>& e, const T* y) const {
    T* yc = e.scratch(kStageSlot, static_cast<size_t>(cout_ * np_));
    e.pool().parallel_for(n_ * cout_, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / cout_, c = r % cout_;
        std::copy(y + r * p_, y + (r + 1) * p_, yc + c * np_ + n * p_);
      }
    });
    return yc;
  }

  Attributes attrs_;
  std::vector<double> bias_;
  int64_t n_ = 0, cin_ = 0, cout_ = 0, group_ = 1, h_ = 1, w_ = 1, oh_ = 1, ow_ = 1, kh_ = 1, kw_ = 1;
  int64_t sh_ = 1, sw_ = 1, dh_ = 1, dw_ = 1, ph_ = 0, pw_ = 0, cin_g_ = 0, cout_g_ = 0, kg_ = 0, p_ = 0, np_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Gemm (Y = alpha·op(A)·op(B) + beta·C, B a constant) and MatMul (X[..., M, K] · W[K, N], the
// leading dims of X folded into M).

template <typename T>
class MatrixProductOp final : public BilinearOp<T> {
 public:
  MatrixProductOp(const Graph& g, NodeId id, bool is_gemm, bool ta, bool tb, double alpha, double beta)
      : BilinearOp<T>(g, id), is_gemm_(is_gemm), ta_(ta), tb_(tb), alpha_(alpha), beta_(beta) {
    if (is_gemm && this->in(2) != kNoValue) {
      c_ = constant_values(g, this->in(2));
      c_shape_ = g.value(this->in(2)).constant.shape();
    }
  }

 protected:
  Result<Shape> prepare(const Shape& x, const Shape& w) override {
    if (w.rank() != 2) return this->fail("the weight must be 2-D");
    if (x.rank() < 2 || (is_gemm_ && x.rank() != 2)) return this->fail("bad input rank " + x.to_string());
    Shape out = x;
    if (is_gemm_) {
      m_ = ta_ ? x[1] : x[0];
      k_ = ta_ ? x[0] : x[1];
    } else {
      k_ = x[x.rank() - 1];
      m_ = x.numel() / std::max<int64_t>(k_, 1);
    }
    const int64_t wk = tb_ ? w[1] : w[0];
    n_ = tb_ ? w[0] : w[1];
    if (wk != k_) return this->fail("inner dimensions differ: " + x.to_string() + " and " + w.to_string());
    lda_ = x[x.rank() - 1];
    ldb_ = w[1];
    if (!c_.empty()) {
      // C broadcasts to [M, N] as a scalar, a row, a column or the full matrix.
      const int64_t cm = c_shape_.rank() == 2 ? c_shape_[0] : 1;
      const int64_t cn = c_shape_.rank() >= 1 ? c_shape_[c_shape_.rank() - 1] : 1;
      if ((cm != 1 && cm != m_) || (cn != 1 && cn != n_)) return this->fail("C does not broadcast to the output");
    }
    if (is_gemm_) return Shape({m_, n_});
    out[out.rank() - 1] = n_;
    return out;
  }

  void apply(Exec<T>& e, const T* x, const T* w, T* y) override {
    gemm<T>(e.pool(), ta_, tb_, m_, n_, k_, static_cast<T>(alpha_), x, lda_, w, ldb_, true, y, n_);
  }

  void add_bias(Exec<T>&, T* y) override {
    if (c_.empty()) return;
    const int64_t cm = c_shape_.rank() == 2 ? c_shape_[0] : 1;
    const int64_t cn = c_shape_.rank() >= 1 ? c_shape_[c_shape_.rank() - 1] : 1;
    for (int64_t m = 0; m < m_; ++m) {
      for (int64_t n = 0; n < n_; ++n) {
        y[m * n_ + n] += static_cast<T>(beta_ * c_[static_cast<size_t>((cm == 1 ? 0 : m) * cn + (cn == 1 ? 0 : n))]);
      }
    }
  }

  void grad_x(Exec<T>& e, const T* yg, const T* w, T* xg) override {
    const T a = static_cast<T>(alpha_);
    if (!ta_) {  // x̄[M, K] = alpha · ȳ · op(B)ᵀ
      gemm<T>(e.pool(), false, !tb_, m_, k_, n_, a, yg, n_, w, ldb_, true, xg, k_);
    } else {  // x̄[K, M] = alpha · op(B) · ȳᵀ
      gemm<T>(e.pool(), tb_, true, k_, m_, n_, a, w, ldb_, yg, n_, true, xg, m_);
    }
  }

  void grad_w(Exec<T>& e, const T* yg, const T* x, T* wg) override {
    const T a = static_cast<T>(alpha_);
    if (!tb_) {  // w̄[K, N] = alpha · op(A)ᵀ · ȳ
      gemm<T>(e.pool(), !ta_, false, k_, n_, m_, a, x, lda_, yg, n_, true, wg, n_);
    } else {  // w̄[N, K] = alpha · ȳᵀ · op(A)
      gemm<T>(e.pool(), true, ta_, n_, k_, m_, a, yg, n_, x, lda_, true, wg, k_);
    }
  }

 private:
  bool is_gemm_, ta_, tb_;
  double alpha_, beta_;
  std::vector<double> c_;
  Shape c_shape_;
  int64_t m_ = 0, k_ = 0, n_ = 0, lda_ = 0, ldb_ = 0;
};

}  // namespace

template <typename T>
Result<OpPtr<T>> make_compute_op(const Graph& g, NodeId id, const std::vector<bool>& active) {
  const Node& node = g.node(id);
  const std::string where = describe_node(g, id);
  if (node.inputs.size() < 2 || !g.value(node.inputs[1]).is_constant()) {
    return unsupported(where, ": only a constant weight (input 1) is supported by backprop");
  }
  for (size_t i = 2; i < node.inputs.size(); ++i) {
    if (node.inputs[i] != kNoValue && !g.value(node.inputs[i]).is_constant()) {
      return unsupported(where, ": input ", i, " must be a constant for backprop");
    }
  }
  (void)active;
  if (node.op == OpKind::kConv) return OpPtr<T>(std::make_unique<ConvOp<T>>(g, id));
  bool is_gemm = node.op == OpKind::kGemm;
  int64_t ta = 0, tb = 0;
  float alpha = 1.f, beta = 1.f;
  if (is_gemm) {
    QE_ASSIGN_OR_RETURN(ta, node.attrs.get_int("transA", 0));
    QE_ASSIGN_OR_RETURN(tb, node.attrs.get_int("transB", 0));
    QE_ASSIGN_OR_RETURN(alpha, node.attrs.get_float("alpha", 1.f));
    QE_ASSIGN_OR_RETURN(beta, node.attrs.get_float("beta", 1.f));
  } else if (g.value(node.inputs[1]).constant.shape().rank() != 2) {
    return unsupported(where, ": MatMul needs a 2-D constant weight for backprop");
  }
  return OpPtr<T>(std::make_unique<MatrixProductOp<T>>(g, id, is_gemm, ta != 0, tb != 0, alpha, beta));
}

template Result<OpPtr<float>> make_compute_op<float>(const Graph&, NodeId, const std::vector<bool>&);
template Result<OpPtr<double>> make_compute_op<double>(const Graph&, NodeId, const std::vector<bool>&);

}  // namespace qe::backprop
