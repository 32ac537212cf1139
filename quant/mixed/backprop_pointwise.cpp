// Elementwise ops of the differentiable executor: unary activations (with first and second
// derivatives: x̄̇ = f'(x)·ȳ̇ + f''(x)·ẋ·ȳ; piecewise-linear ones have f'' = 0 and so reduce to
// the forward mask), Add/Sub/Mul/Div with numpy broadcasting, inference BatchNormalization
// and Softmax over any axis.
#include <cmath>
#include <limits>
#include <type_traits>

#include "quant/mixed/backprop_internal.h"

namespace qe::backprop {
namespace {

// ---------------------------------------------------------------------------------------------
// Unary.

enum class Unary { kIdentity, kRelu, kLeakyRelu, kClip, kHardSigmoid, kHardSwish, kSigmoid, kTanh };

struct UnaryFn {
  Unary kind = Unary::kIdentity;
  double a = 0, b = 0;  // LeakyRelu alpha; Clip min, max; HardSigmoid alpha, beta

  // f(x), f'(x), f''(x) for kind K (a template parameter so the loops below are specialised).
  template <Unary K, typename T>
  void eval(T x, T& f, T& d1, T& d2) const {
    f = x, d1 = T(1), d2 = T(0);
    if constexpr (K == Unary::kRelu) {
      f = x > 0 ? x : T(0), d1 = x > 0 ? T(1) : T(0);
    } else if constexpr (K == Unary::kLeakyRelu) {
      f = x > 0 ? x : static_cast<T>(a) * x, d1 = x > 0 ? T(1) : static_cast<T>(a);
    } else if constexpr (K == Unary::kClip) {
      const bool in = x > a && x < b;
      f = in ? x : static_cast<T>(x <= a ? a : b);
      d1 = in ? T(1) : T(0);
    } else if constexpr (K == Unary::kHardSigmoid) {
      const T v = static_cast<T>(a) * x + static_cast<T>(b);
      f = v <= 0 ? T(0) : v >= 1 ? T(1) : v;
      d1 = v > 0 && v < 1 ? static_cast<T>(a) : T(0);
    } else if constexpr (K == Unary::kHardSwish) {
      const T v = x / T(6) + T(0.5);
      if (v <= 0) {
        f = T(0), d1 = T(0);
      } else if (v >= 1) {
        f = x, d1 = T(1);
      } else {
        f = x * v, d1 = x / T(3) + T(0.5), d2 = T(1) / T(3);
      }
    } else if constexpr (K == Unary::kSigmoid) {
      const T s = T(1) / (T(1) + std::exp(-x));
      f = s, d1 = s * (T(1) - s), d2 = d1 * (T(1) - T(2) * s);
    } else if constexpr (K == Unary::kTanh) {
      const T t = std::tanh(x);
      f = t, d1 = T(1) - t * t, d2 = T(-2) * t * d1;
    }
  }

  // fn(std::integral_constant<Unary, kind>{}).
  template <typename Fn>
  void dispatch(Fn&& fn) const {
    switch (kind) {
      case Unary::kIdentity: return fn(std::integral_constant<Unary, Unary::kIdentity>{});
      case Unary::kRelu: return fn(std::integral_constant<Unary, Unary::kRelu>{});
      case Unary::kLeakyRelu: return fn(std::integral_constant<Unary, Unary::kLeakyRelu>{});
      case Unary::kClip: return fn(std::integral_constant<Unary, Unary::kClip>{});
      case Unary::kHardSigmoid: return fn(std::integral_constant<Unary, Unary::kHardSigmoid>{});
      case Unary::kHardSwish: return fn(std::integral_constant<Unary, Unary::kHardSwish>{});
      case Unary::kSigmoid: return fn(std::integral_constant<Unary, Unary::kSigmoid>{});
      case Unary::kTanh: return fn(std::integral_constant<Unary, Unary::kTanh>{});
    }
  }
};

template <typename T>
class UnaryOp final : public NodeOp<T> {
 public:
  UnaryOp(const Graph& g, NodeId id, UnaryFn fn) : NodeOp<T>(g, id), fn_(fn) {}

  Status forward(Exec<T>& e) override {
    e.allocate_output(this->out(), e.state(this->in(0)).shape);
    const T* x = e.x(this->in(0));
    const T* xt = e.t(this->in(0));
    ValueState<T>& y = e.state(this->out());
    T* yx = y.x.data();
    T* yt = y.t.empty() ? nullptr : y.t.data();
    fn_.dispatch([&](auto kind) {
      e.pool().parallel_for(static_cast<int64_t>(y.x.size()), [&](int64_t i0, int64_t i1) {
        T f, d1, d2;
        for (int64_t i = i0; i < i1; ++i) {
          fn_.template eval<decltype(kind)::value>(x[i], f, d1, d2);
          yx[i] = f;
        }
        if (!yt || !xt) return;
        for (int64_t i = i0; i < i1; ++i) {
          fn_.template eval<decltype(kind)::value>(x[i], f, d1, d2);
          yt[i] = d1 * xt[i];
        }
      }, 4096);
    });
    return Status::ok();
  }

  void backward(Exec<T>& e) override {
    const T* x = e.x(this->in(0));
    const T* xt = e.t(this->in(0));
    const T* yg = e.state(this->out()).g.data();
    const T* ytg = e.tangent() ? e.tgrad(this->out()) : nullptr;
    T* xg = e.grad(this->in(0));
    T* xtg = e.tgrad(this->in(0));
    fn_.dispatch([&](auto kind) {
      e.pool().parallel_for(static_cast<int64_t>(e.state(this->out()).x.size()), [&](int64_t i0, int64_t i1) {
        T f, d1, d2;
        for (int64_t i = i0; i < i1; ++i) {
          fn_.template eval<decltype(kind)::value>(x[i], f, d1, d2);
          xg[i] += d1 * yg[i];
        }
        if (!xtg) return;
        for (int64_t i = i0; i < i1; ++i) {
          fn_.template eval<decltype(kind)::value>(x[i], f, d1, d2);
          xtg[i] += d1 * ytg[i] + (xt ? d2 * xt[i] * yg[i] : T(0));
        }
      }, 4096);
    });
  }

 private:
  UnaryFn fn_;
};

// ---------------------------------------------------------------------------------------------
// Binary with numpy broadcasting. Partials: Add (1, 1), Sub (1, -1), Mul (b, a), Div (1/b, -),
// Div only by a passive divisor, so its second derivative never enters.

template <typename T>
class BinaryOp final : public NodeOp<T> {
 public:
  BinaryOp(const Graph& g, NodeId id) : NodeOp<T>(g, id), op_(g.node(id).op) {}

  Status forward(Exec<T>& e) override {
    const Shape& sa = e.state(this->in(0)).shape;
    const Shape& sb = e.state(this->in(1)).shape;
    Result<Shape> shape = broadcast_shapes(sa, sb);
    if (!shape.is_ok()) return shape.status().with_context(this->name());
    plan(sa, sb, *shape);
    e.allocate_output(this->out(), *shape);
    const T* a = e.x(this->in(0));
    const T* b = e.x(this->in(1));
    const T* at = e.t(this->in(0));
    const T* bt = e.t(this->in(1));
    ValueState<T>& y = e.state(this->out());
    T* yx = y.x.data();
    T* yt = y.t.empty() ? nullptr : y.t.data();
    visit(e, [&](int64_t i, int64_t ia, int64_t ib) {
      T da, db;
      yx[i] = eval(a[ia], b[ib], da, db);
      if (yt) yt[i] = (at ? da * at[ia] : T(0)) + (bt ? db * bt[ib] : T(0));
    });
    return Status::ok();
  }

  void backward(Exec<T>& e) override {
    const T* a = e.x(this->in(0));
    const T* b = e.x(this->in(1));
    const T* at = e.t(this->in(0));
    const T* bt = e.t(this->in(1));
    const T* yg = e.state(this->out()).g.data();
    const T* ytg = e.tangent() ? e.tgrad(this->out()) : nullptr;
    T* ag = e.grad(this->in(0));
    T* bg = e.grad(this->in(1));
    T* atg = e.tgrad(this->in(0));
    T* btg = e.tgrad(this->in(1));
    const bool mul = op_ == OpKind::kMul;
    visit(e, [&](int64_t i, int64_t ia, int64_t ib) {
      T da, db;
      eval(a[ia], b[ib], da, db);
      if (ag) ag[ia] += yg[i] * da;
      if (bg) bg[ib] += yg[i] * db;
      if (atg) atg[ia] += ytg[i] * da + (mul && bt ? yg[i] * bt[ib] : T(0));
      if (btg) btg[ib] += ytg[i] * db + (mul && at ? yg[i] * at[ia] : T(0));
    });
  }

 private:
  T eval(T a, T b, T& da, T& db) const {
    switch (op_) {
      case OpKind::kAdd: da = T(1), db = T(1); return a + b;
      case OpKind::kSub: da = T(1), db = T(-1); return a - b;
      case OpKind::kMul: da = b, db = a; return a * b;
      default: da = T(1) / b, db = T(0); return a / b;
    }
  }

  void plan(const Shape& sa, const Shape& sb, const Shape& out) {
    same_ = sa == out && sb == out;
    out_ = out;
    const size_t r = out.rank();
    stride_a_.assign(r, 0);
    stride_b_.assign(r, 0);
    auto fill = [&](const Shape& s, std::vector<int64_t>& st) {
      int64_t step = 1;
      for (size_t k = 0; k < s.rank(); ++k) {
        const size_t d = s.rank() - 1 - k;
        if (s[d] != 1) st[r - 1 - k] = step;
        step *= s[d];
      }
    };
    fill(sa, stride_a_);
    fill(sb, stride_b_);
  }

  // fn(i, ia, ib) for every output element; in parallel only when no operand broadcasts (a
  // broadcast operand's adjoint is a reduction, kept in one fixed order).
  template <typename Fn>
  void visit(Exec<T>& e, Fn fn) const {
    const int64_t n = out_.numel();
    if (same_) {
      e.pool().parallel_for(n, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) fn(i, i, i);
      }, 4096);
      return;
    }
    const size_t r = out_.rank();
    std::vector<int64_t> idx(r, 0);
    int64_t ia = 0, ib = 0;
    for (int64_t i = 0; i < n; ++i) {
      fn(i, ia, ib);
      for (size_t k = r; k-- > 0;) {
        ia += stride_a_[k], ib += stride_b_[k];
        if (++idx[k] < out_[k]) break;
        ia -= stride_a_[k] * out_[k], ib -= stride_b_[k] * out_[k];
        idx[k] = 0;
      }
    }
  }

  OpKind op_;
  bool same_ = true;
  Shape out_;
  std::vector<int64_t> stride_a_, stride_b_;
};

// ---------------------------------------------------------------------------------------------
// BatchNormalization (inference form): a per-channel affine map, linear in x.

template <typename T>
class BatchNormOp final : public NodeOp<T> {
 public:
  BatchNormOp(const Graph& g, NodeId id, double eps) : NodeOp<T>(g, id) {
    std::vector<double> scale = constant_values(g, this->in(1)), bias = constant_values(g, this->in(2));
    std::vector<double> mean = constant_values(g, this->in(3)), var = constant_values(g, this->in(4));
    for (size_t c = 0; c < scale.size(); ++c) {
      const double s = scale[c] / std::sqrt(var[c] + eps);
      mul_.push_back(static_cast<T>(s));
      add_.push_back(static_cast<T>(bias[c] - mean[c] * s));
    }
  }

  Status forward(Exec<T>& e) override {
    const Shape& s = e.state(this->in(0)).shape;
    if (s.rank() < 2 || s[1] != static_cast<int64_t>(mul_.size())) return this->fail("channel count mismatch");
    e.allocate_output(this->out(), s);
    ValueState<T>& y = e.state(this->out());
    map(e, s, e.x(this->in(0)), y.x.data(), true);
    if (!y.t.empty()) {
      if (const T* xt = e.t(this->in(0))) map(e, s, xt, y.t.data(), false);
    }
    return Status::ok();
  }

  void backward(Exec<T>& e) override {
    const Shape& s = e.state(this->out()).shape;
    map(e, s, e.state(this->out()).g.data(), e.grad(this->in(0)), false);
    if (T* xtg = e.tgrad(this->in(0))) map(e, s, e.tgrad(this->out()), xtg, false);
  }

 private:
  // dst += mul_c · src (+ add_c).
  void map(Exec<T>& e, const Shape& s, const T* src, T* dst, bool with_offset) const {
    const int64_t c = s[1], inner = s.numel() / std::max<int64_t>(s[0] * c, 1);
    e.pool().parallel_for(s[0] * c, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T m = mul_[static_cast<size_t>(r % c)], a = with_offset ? add_[static_cast<size_t>(r % c)] : T(0);
        for (int64_t i = r * inner; i < (r + 1) * inner; ++i) dst[i] += m * src[i] + a;
      }
    });
  }

  std::vector<T> mul_, add_;
};

// ---------------------------------------------------------------------------------------------
// Softmax: ẏ = y ⊙ (ẋ − ⟨y, ẋ⟩), x̄ = y ⊙ (ȳ − ⟨y, ȳ⟩) and its tangent
// x̄̇ = ẏ ⊙ (ȳ − ⟨y, ȳ⟩) + y ⊙ (ȳ̇ − ⟨ẏ, ȳ⟩ − ⟨y, ȳ̇⟩).

template <typename T>
class SoftmaxOp final : public NodeOp<T> {
 public:
  SoftmaxOp(const Graph& g, NodeId id, int64_t axis, bool flatten_tail)
      : NodeOp<T>(g, id), axis_(axis), flatten_tail_(flatten_tail) {}

  Status forward(Exec<T>& e) override {
    const Shape& s = e.state(this->in(0)).shape;
    Result<int64_t> axis = normalize_axis(axis_, static_cast<int64_t>(s.rank()));
    if (!axis.is_ok()) return axis.status().with_context(this->name());
    outer_ = 1, len_ = 1, inner_ = 1;
    for (int64_t d = 0; d < static_cast<int64_t>(s.rank()); ++d) {
      const int64_t v = s[static_cast<size_t>(d)];
      if (d < *axis) outer_ *= v;
      else if (d == *axis || flatten_tail_) len_ *= v;
      else inner_ *= v;
    }
    e.allocate_output(this->out(), s);
    const T* x = e.x(this->in(0));
    const T* xt = e.t(this->in(0));
    ValueState<T>& y = e.state(this->out());
    T* yx = y.x.data();
    T* yt = y.t.empty() ? nullptr : y.t.data();
    rows(e, [&](int64_t base) {
      T mx = x[base];
      for (int64_t j = 1; j < len_; ++j) mx = std::max(mx, x[base + j * inner_]);
      T sum = 0;
      for (int64_t j = 0; j < len_; ++j) sum += yx[base + j * inner_] = std::exp(x[base + j * inner_] - mx);
      for (int64_t j = 0; j < len_; ++j) yx[base + j * inner_] /= sum;
      if (yt && xt) {
        const T d = dot(yx, xt, base);
        for (int64_t j = 0; j < len_; ++j) yt[base + j * inner_] = yx[base + j * inner_] * (xt[base + j * inner_] - d);
      }
    });
    return Status::ok();
  }

  void backward(Exec<T>& e) override {
    ValueState<T>& y = e.state(this->out());
    const T* yx = y.x.data();
    const T* yt = y.t.empty() ? nullptr : y.t.data();
    const T* yg = y.g.data();
    const T* ytg = e.tangent() ? e.tgrad(this->out()) : nullptr;
    T* xg = e.grad(this->in(0));
    T* xtg = e.tgrad(this->in(0));
    rows(e, [&](int64_t base) {
      const T yyg = dot(yx, yg, base);
      for (int64_t j = 0; j < len_; ++j) {
        const int64_t i = base + j * inner_;
        xg[i] += yx[i] * (yg[i] - yyg);
      }
      if (!xtg) return;
      const T ytyg = yt ? dot(yt, yg, base) : T(0), yytg = dot(yx, ytg, base);
      for (int64_t j = 0; j < len_; ++j) {
        const int64_t i = base + j * inner_;
        xtg[i] += (yt ? yt[i] * (yg[i] - yyg) : T(0)) + yx[i] * (ytg[i] - ytyg - yytg);
      }
    });
  }

 private:
  T dot(const T* a, const T* b, int64_t base) const {
    T s = 0;
    for (int64_t j = 0; j < len_; ++j) s += a[base + j * inner_] * b[base + j * inner_];
    return s;
  }

  // fn(offset of the row's first element) for every softmax row.
  template <typename Fn>
  void rows(Exec<T>& e, Fn fn) const {
    e.pool().parallel_for(outer_ * inner_, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) fn((r / inner_) * len_ * inner_ + r % inner_);
    });
  }

  int64_t axis_;
  bool flatten_tail_;
  int64_t outer_ = 1, len_ = 1, inner_ = 1;
};

Result<double> optional_scalar(const Graph& g, const Node& n, size_t input, double def) {
  if (input >= n.inputs.size() || n.inputs[input] == kNoValue) return def;
  if (!g.value(n.inputs[input]).is_constant()) return unsupported("input ", input, " must be a constant");
  std::vector<double> v = constant_values(g, n.inputs[input]);
  if (v.size() != 1) return unsupported("input ", input, " must be a scalar");
  return v[0];
}

}  // namespace

template <typename T>
Result<OpPtr<T>> make_pointwise_op(const Graph& g, NodeId id, const std::vector<bool>& active) {
  const Node& node = g.node(id);
  const std::string where = describe_node(g, id);
  UnaryFn fn;
  switch (node.op) {
    case OpKind::kIdentity:
    case OpKind::kDropout:
      return OpPtr<T>(std::make_unique<UnaryOp<T>>(g, id, fn));
    case OpKind::kRelu:
      fn.kind = Unary::kRelu;
      return OpPtr<T>(std::make_unique<UnaryOp<T>>(g, id, fn));
    case OpKind::kLeakyRelu: {
      QE_ASSIGN_OR_RETURN(float alpha, node.attrs.get_float("alpha", 0.01f));
      fn.kind = Unary::kLeakyRelu, fn.a = alpha;
      return OpPtr<T>(std::make_unique<UnaryOp<T>>(g, id, fn));
    }
    case OpKind::kClip: {
      const double inf = std::numeric_limits<double>::infinity();
      QE_ASSIGN_OR_RETURN(float lo_attr, node.attrs.get_float("min", -std::numeric_limits<float>::infinity()));
      QE_ASSIGN_OR_RETURN(float hi_attr, node.attrs.get_float("max", std::numeric_limits<float>::infinity()));
      Result<double> lo = optional_scalar(g, node, 1, std::isinf(lo_attr) ? -inf : lo_attr);
      if (!lo.is_ok()) return lo.status().with_context(where);
      Result<double> hi = optional_scalar(g, node, 2, std::isinf(hi_attr) ? inf : hi_attr);
      if (!hi.is_ok()) return hi.status().with_context(where);
      fn.kind = Unary::kClip, fn.a = *lo, fn.b = *hi;
      return OpPtr<T>(std::make_unique<UnaryOp<T>>(g, id, fn));
    }
    case OpKind::kHardSigmoid: {
      QE_ASSIGN_OR_RETURN(float alpha, node.attrs.get_float("alpha", 0.2f));
      QE_ASSIGN_OR_RETURN(float beta, node.attrs.get_float("beta", 0.5f));
      fn.kind = Unary::kHardSigmoid, fn.a = alpha, fn.b = beta;
      return OpPtr<T>(std::make_unique<UnaryOp<T>>(g, id, fn));
    }
    case OpKind::kHardSwish:
      fn.kind = Unary::kHardSwish;
      return OpPtr<T>(std::make_unique<UnaryOp<T>>(g, id, fn));
    case OpKind::kSigmoid:
      fn.kind = Unary::kSigmoid;
      return OpPtr<T>(std::make_unique<UnaryOp<T>>(g, id, fn));
    case OpKind::kTanh:
      fn.kind = Unary::kTanh;
      return OpPtr<T>(std::make_unique<UnaryOp<T>>(g, id, fn));
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv:
      if (node.op == OpKind::kDiv && active[static_cast<size_t>(node.inputs[1])]) {
        return unsupported(where, ": Div by a value that depends on a differentiated weight is not supported");
      }
      return OpPtr<T>(std::make_unique<BinaryOp<T>>(g, id));
    case OpKind::kBatchNormalization: {
      for (size_t i = 1; i < 5; ++i) {
        if (i >= node.inputs.size() || node.inputs[i] == kNoValue || !g.value(node.inputs[i]).is_constant()) {
          return unsupported(where, ": BatchNormalization needs constant scale, bias, mean and variance");
        }
      }
      QE_ASSIGN_OR_RETURN(float eps, node.attrs.get_float("epsilon", 1e-5f));
      return OpPtr<T>(std::make_unique<BatchNormOp<T>>(g, id, eps));
    }
    case OpKind::kSoftmax: {
      const bool legacy = g.opset < 13;
      QE_ASSIGN_OR_RETURN(int64_t axis, node.attrs.get_int("axis", legacy ? 1 : -1));
      return OpPtr<T>(std::make_unique<SoftmaxOp<T>>(g, id, axis, legacy));
    }
    default:
      return unsupported(where, ": op ", op_name(node.op), " is not supported by backprop");
  }
}

template Result<OpPtr<float>> make_pointwise_op<float>(const Graph&, NodeId, const std::vector<bool>&);
template Result<OpPtr<double>> make_pointwise_op<double>(const Graph&, NodeId, const std::vector<bool>&);

}  // namespace qe::backprop
