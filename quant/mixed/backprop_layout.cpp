// Pooling and data-movement ops of the differentiable executor. All of them are linear in
// their activation once the primal is fixed (MaxPool through the positions of its maxima), so
// each provides y += L·x and x̄ += Lᵀ·ȳ, and the tangent passes reuse the same two maps.
#include <limits>
#include <numeric>

#include "graph/schemas/pool_attrs.h"
#include "quant/mixed/backprop_internal.h"

namespace qe::backprop {
namespace {

template <typename T>
class LinearOp : public NodeOp<T> {
 public:
  using NodeOp<T>::NodeOp;

  Status forward(Exec<T>& e) override {
    QE_ASSIGN_OR_RETURN(Shape shape, prepare(e, e.state(this->in(0)).shape));
    e.allocate_output(this->out(), shape);
    ValueState<T>& y = e.state(this->out());
    apply(e, e.x(this->in(0)), y.x.data());
    if (!y.t.empty()) {
      if (const T* xt = e.t(this->in(0))) apply(e, xt, y.t.data());
    }
    return Status::ok();
  }

  void backward(Exec<T>& e) override {
    apply_transposed(e, e.state(this->out()).g.data(), e.grad(this->in(0)));
    if (T* xtg = e.tgrad(this->in(0))) apply_transposed(e, e.tgrad(this->out()), xtg);
  }

 protected:
  // The output shape; may read the primal input (MaxPool picks its maxima here).
  virtual Result<Shape> prepare(Exec<T>& e, const Shape& x) = 0;
  virtual void apply(Exec<T>& e, const T* x, T* y) = 0;             // y += L·x
  virtual void apply_transposed(Exec<T>& e, const T* y, T* x) = 0;  // x += Lᵀ·y
};

// ---------------------------------------------------------------------------------------------
// Pooling over 1-D / 2-D windows, one (image, channel) plane per task.

struct PlaneGeometry {
  int64_t planes = 0, h = 1, w = 1, oh = 1, ow = 1, kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t ph = 0, pw = 0, ph_end = 0, pw_end = 0;
};

Result<PlaneGeometry> plane_geometry(const Attributes& attrs, const Shape& x, Shape& out) {
  QE_ASSIGN_OR_RETURN(PoolGeometry geo, resolve_pool_geometry(attrs, x));
  if (geo.spatial_rank > 2) return unsupported("only 1-D and 2-D pooling is supported by backprop");
  const bool two = geo.spatial_rank == 2;
  const size_t i = two ? 1 : 0;
  PlaneGeometry p;
  p.planes = x[0] * x[1];
  p.h = two ? geo.in_spatial[0] : 1, p.w = geo.in_spatial[i];
  p.oh = two ? geo.out_spatial[0] : 1, p.ow = geo.out_spatial[i];
  p.kh = two ? geo.kernel[0] : 1, p.kw = geo.kernel[i];
  p.sh = two ? geo.strides[0] : 1, p.sw = geo.strides[i];
  p.dh = two ? geo.dilations[0] : 1, p.dw = geo.dilations[i];
  p.ph = two ? geo.pads_begin[0] : 0, p.pw = geo.pads_begin[i];
  p.ph_end = two ? geo.pads_end[0] : 0, p.pw_end = geo.pads_end[i];
  out = Shape({x[0], x[1]});
  for (int64_t d : geo.out_spatial) out.dims().push_back(d);
  return p;
}

// Taps of a window starting at `start` that fall in [lo, hi) (the engine's divisor rule).
int64_t tap_count(int64_t start, int64_t dil, int64_t k, int64_t lo, int64_t hi) {
  int64_t n = 0;
  for (int64_t t = 0; t < k; ++t) n += start + t * dil >= lo && start + t * dil < hi;
  return n;
}

template <typename T>
class MaxPoolOp final : public LinearOp<T> {
 public:
  MaxPoolOp(const Graph& g, NodeId id) : LinearOp<T>(g, id), attrs_(g.node(id).attrs) {}

 protected:
  Result<Shape> prepare(Exec<T>& e, const Shape& x) override {
    Shape out;
    Result<PlaneGeometry> geo = plane_geometry(attrs_, x, out);
    if (!geo.is_ok()) return geo.status().with_context(this->name());
    p_ = *geo;
    const PlaneGeometry& p = p_;
    const T* src = e.x(this->in(0));
    argmax_.assign(static_cast<size_t>(p.planes * p.oh * p.ow), -1);
    e.pool().parallel_for(p.planes, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        for (int64_t oy = 0; oy < p.oh; ++oy) {
          for (int64_t ox = 0; ox < p.ow; ++ox) {
            int64_t best = -1;
            for (int64_t ky = 0; ky < p.kh; ++ky) {
              const int64_t iy = oy * p.sh - p.ph + ky * p.dh;
              if (iy < 0 || iy >= p.h) continue;
              for (int64_t kx = 0; kx < p.kw; ++kx) {
                const int64_t ix = ox * p.sw - p.pw + kx * p.dw;
                if (ix < 0 || ix >= p.w) continue;
                const int64_t i = q * p.h * p.w + iy * p.w + ix;
                if (best < 0 || src[i] > src[best]) best = i;
              }
            }
            argmax_[static_cast<size_t>((q * p.oh + oy) * p.ow + ox)] = best;
          }
        }
      }
    });
    return out;
  }

  void apply(Exec<T>& e, const T* x, T* y) override {
    const int64_t per_plane = p_.oh * p_.ow;
    e.pool().parallel_for(p_.planes * per_plane, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        const int64_t i = argmax_[static_cast<size_t>(o)];
        y[o] += i >= 0 ? x[i] : std::numeric_limits<T>::lowest();
      }
    }, 4096);
  }

  void apply_transposed(Exec<T>& e, const T* y, T* x) override {
    const int64_t per_plane = p_.oh * p_.ow;
    e.pool().parallel_for(p_.planes, [&](int64_t q0, int64_t q1) {
      for (int64_t o = q0 * per_plane; o < q1 * per_plane; ++o) {
        const int64_t i = argmax_[static_cast<size_t>(o)];
        if (i >= 0) x[i] += y[o];
      }
    });
  }

 private:
  Attributes attrs_;
  PlaneGeometry p_;
  std::vector<int64_t> argmax_;
};

template <typename T>
class AveragePoolOp final : public LinearOp<T> {
 public:
  AveragePoolOp(const Graph& g, NodeId id, bool global, bool include_pad)
      : LinearOp<T>(g, id), attrs_(g.node(id).attrs), global_(global), include_pad_(include_pad) {}

 protected:
  Result<Shape> prepare(Exec<T>&, const Shape& x) override {
    if (global_) {
      if (x.rank() < 3) return this->fail("GlobalAveragePool needs [N, C, spatial...]");
      p_ = PlaneGeometry();
      p_.planes = x[0] * x[1];
      p_.h = 1, p_.w = x.numel() / p_.planes, p_.kw = p_.w;
      Shape out = x;
      for (size_t d = 2; d < out.rank(); ++d) out[d] = 1;
      return out;
    }
    Shape out;
    Result<PlaneGeometry> geo = plane_geometry(attrs_, x, out);
    if (!geo.is_ok()) return geo.status().with_context(this->name());
    p_ = *geo;
    return out;
  }

  void apply(Exec<T>& e, const T* x, T* y) override {
    visit(e, [&](int64_t o, int64_t i, T scale) { y[o] += scale * x[i]; });
  }
  void apply_transposed(Exec<T>& e, const T* y, T* x) override {
    visit(e, [&](int64_t o, int64_t i, T scale) { x[i] += scale * y[o]; });
  }

 private:
  // fn(output index, input index, 1 / divisor) for every tap inside the input.
  template <typename Fn>
  void visit(Exec<T>& e, Fn fn) const {
    const PlaneGeometry& p = p_;
    e.pool().parallel_for(p.planes, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        for (int64_t oy = 0; oy < p.oh; ++oy) {
          const int64_t y0 = oy * p.sh - p.ph;
          const int64_t ny = include_pad_ ? tap_count(y0, p.dh, p.kh, -p.ph, p.h + p.ph_end) : tap_count(y0, p.dh, p.kh, 0, p.h);
          for (int64_t ox = 0; ox < p.ow; ++ox) {
            const int64_t x0 = ox * p.sw - p.pw;
            const int64_t nx =
                include_pad_ ? tap_count(x0, p.dw, p.kw, -p.pw, p.w + p.pw_end) : tap_count(x0, p.dw, p.kw, 0, p.w);
            if (ny * nx == 0) continue;
            const T scale = T(1) / static_cast<T>(ny * nx);
            const int64_t o = (q * p.oh + oy) * p.ow + ox;
            for (int64_t ky = 0; ky < p.kh; ++ky) {
              const int64_t iy = y0 + ky * p.dh;
              if (iy < 0 || iy >= p.h) continue;
              for (int64_t kx = 0; kx < p.kw; ++kx) {
                const int64_t ix = x0 + kx * p.dw;
                if (ix >= 0 && ix < p.w) fn(o, q * p.h * p.w + iy * p.w + ix, scale);
              }
            }
          }
        }
      }
    });
  }

  Attributes attrs_;
  bool global_, include_pad_;
  PlaneGeometry p_;
};

// ---------------------------------------------------------------------------------------------
// Flatten, Reshape: the data as is under a new shape.

template <typename T>
class ReshapeOp final : public LinearOp<T> {
 public:
  // Flatten: `target` empty, `axis` used. Reshape: ONNX shape semantics (0 copies, -1 infers).
  ReshapeOp(const Graph& g, NodeId id, int64_t axis, std::vector<int64_t> target, bool allow_zero)
      : LinearOp<T>(g, id), axis_(axis), target_(std::move(target)), allow_zero_(allow_zero),
        flatten_(g.node(id).op == OpKind::kFlatten) {}

 protected:
  Result<Shape> prepare(Exec<T>&, const Shape& x) override {
    if (flatten_) {
      Result<int64_t> axis = normalize_axis(axis_, static_cast<int64_t>(x.rank()) + 1);
      if (!axis.is_ok()) return axis.status().with_context(this->name());
      int64_t lead = 1;
      for (int64_t d = 0; d < *axis; ++d) lead *= x[static_cast<size_t>(d)];
      return Shape({lead, x.numel() / std::max<int64_t>(lead, 1)});
    }
    std::vector<int64_t> dims = target_;
    int64_t known = 1, infer = -1;
    for (size_t d = 0; d < dims.size(); ++d) {
      if (dims[d] == 0 && !allow_zero_) {
        if (d >= x.rank()) return this->fail("shape copies a dimension the input does not have");
        dims[d] = x[d];
      }
      if (dims[d] == -1) {
        infer = static_cast<int64_t>(d);
      } else {
        known *= dims[d];
      }
    }
    if (infer >= 0) dims[static_cast<size_t>(infer)] = known > 0 ? x.numel() / known : 0;
    Shape out(dims);
    if (out.numel() != x.numel()) return this->fail("cannot reshape " + x.to_string() + " to " + out.to_string());
    return out;
  }

  void apply(Exec<T>& e, const T* x, T* y) override { add(e, x, y); }
  void apply_transposed(Exec<T>& e, const T* y, T* x) override { add(e, y, x); }

 private:
  void add(Exec<T>& e, const T* src, T* dst) const {
    const int64_t n = e.state(this->out()).shape.numel();
    e.pool().parallel_for(n, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) dst[i] += src[i];
    }, 4096);
  }

  int64_t axis_;
  std::vector<int64_t> target_;
  bool allow_zero_, flatten_;
};

template <typename T>
class TransposeOp final : public LinearOp<T> {
 public:
  TransposeOp(const Graph& g, NodeId id, std::vector<int64_t> perm) : LinearOp<T>(g, id), perm_(std::move(perm)) {}

 protected:
  Result<Shape> prepare(Exec<T>&, const Shape& x) override {
    std::vector<int64_t> perm = perm_;
    if (perm.empty()) {
      perm.resize(x.rank());
      std::iota(perm.rbegin(), perm.rend(), 0);
    }
    if (perm.size() != x.rank()) return this->fail("perm does not match the input rank");
    Shape out = x;
    const std::vector<int64_t> in_strides = contiguous_strides(x);
    src_stride_.assign(perm.size(), 0);
    for (size_t d = 0; d < perm.size(); ++d) {
      if (perm[d] < 0 || perm[d] >= static_cast<int64_t>(x.rank())) return this->fail("bad perm");
      out[d] = x[static_cast<size_t>(perm[d])];
      src_stride_[d] = in_strides[static_cast<size_t>(perm[d])];
    }
    out_ = out;
    return out;
  }

  void apply(Exec<T>&, const T* x, T* y) override {
    visit([&](int64_t o, int64_t i) { y[o] += x[i]; });
  }
  void apply_transposed(Exec<T>&, const T* y, T* x) override {
    visit([&](int64_t o, int64_t i) { x[i] += y[o]; });
  }

 private:
  template <typename Fn>
  void visit(Fn fn) const {
    const size_t r = out_.rank();
    std::vector<int64_t> idx(r, 0);
    int64_t src = 0;
    for (int64_t o = 0; o < out_.numel(); ++o) {
      fn(o, src);
      for (size_t k = r; k-- > 0;) {
        src += src_stride_[k];
        if (++idx[k] < out_[k]) break;
        src -= src_stride_[k] * out_[k];
        idx[k] = 0;
      }
    }
  }

  std::vector<int64_t> perm_, src_stride_;
  Shape out_;
};

// ---------------------------------------------------------------------------------------------
// Concat: inputs may mix active and passive values.

template <typename T>
class ConcatOp final : public NodeOp<T> {
 public:
  ConcatOp(const Graph& g, NodeId id, int64_t axis) : NodeOp<T>(g, id), axis_(axis) {}

  Status forward(Exec<T>& e) override {
    const Shape& first = e.state(this->in(0)).shape;
    Result<int64_t> axis = normalize_axis(axis_, static_cast<int64_t>(first.rank()));
    if (!axis.is_ok()) return axis.status().with_context(this->name());
    const size_t a = static_cast<size_t>(*axis);
    Shape out = first;
    out[a] = 0;
    outer_ = 1;
    for (size_t d = 0; d < a; ++d) outer_ *= first[d];
    chunk_.clear();
    for (ValueId v : this->inputs()) {
      const Shape& s = e.state(v).shape;
      if (s.rank() != first.rank()) return this->fail("inputs differ in rank");
      for (size_t d = 0; d < s.rank(); ++d) {
        if (d != a && s[d] != first[d]) return this->fail("inputs differ off the concat axis");
      }
      out[a] += s[a];
      chunk_.push_back(s.numel() / std::max<int64_t>(outer_, 1));
    }
    e.allocate_output(this->out(), out);
    ValueState<T>& y = e.state(this->out());
    copy(e, y.x.data(), [&](size_t i) { return e.x(this->in(i)); }, false);
    if (!y.t.empty()) copy(e, y.t.data(), [&](size_t i) { return e.t(this->in(i)); }, false);
    return Status::ok();
  }

  void backward(Exec<T>& e) override {
    T* yg = e.state(this->out()).g.data();
    copy(e, yg, [&](size_t i) { return e.grad(this->in(i)); }, true);
    if (T* ytg = e.tangent() ? e.tgrad(this->out()) : nullptr) {
      copy(e, ytg, [&](size_t i) { return e.tgrad(this->in(i)); }, true);
    }
  }

 private:
  // Moves each input's chunks to / from (to_inputs) the output; a null input pointer is skipped.
  template <typename Get>
  void copy(Exec<T>&, T* y, Get get, bool to_inputs) {
    int64_t total = 0;
    for (int64_t c : chunk_) total += c;
    int64_t offset = 0;
    for (size_t i = 0; i < chunk_.size(); ++i) {
      auto* p = get(i);
      if (p) {
        for (int64_t o = 0; o < outer_; ++o) {
          for (int64_t j = 0; j < chunk_[i]; ++j) {
            if (to_inputs) {
              const_cast<T*>(p)[o * chunk_[i] + j] += y[o * total + offset + j];
            } else {
              y[o * total + offset + j] = p[o * chunk_[i] + j];
            }
          }
        }
      }
      offset += chunk_[i];
    }
  }

  int64_t axis_;
  int64_t outer_ = 1;
  std::vector<int64_t> chunk_;
};

}  // namespace

template <typename T>
Result<OpPtr<T>> make_layout_op(const Graph& g, NodeId id, const std::vector<bool>& active) {
  (void)active;
  const Node& node = g.node(id);
  const std::string where = describe_node(g, id);
  for (size_t i = 1; i < node.outputs.size(); ++i) {
    if (!g.value(node.outputs[i]).uses.empty() || g.is_graph_output(node.outputs[i])) {
      return unsupported(where, ": output ", i, " is used, backprop supports output 0 only");
    }
  }
  switch (node.op) {
    case OpKind::kMaxPool:
      return OpPtr<T>(std::make_unique<MaxPoolOp<T>>(g, id));
    case OpKind::kAveragePool: {
      QE_ASSIGN_OR_RETURN(int64_t cip, node.attrs.get_int("count_include_pad", 0));
      return OpPtr<T>(std::make_unique<AveragePoolOp<T>>(g, id, false, cip != 0));
    }
    case OpKind::kGlobalAveragePool:
      return OpPtr<T>(std::make_unique<AveragePoolOp<T>>(g, id, true, false));
    case OpKind::kFlatten: {
      QE_ASSIGN_OR_RETURN(int64_t axis, node.attrs.get_int("axis", 1));
      return OpPtr<T>(std::make_unique<ReshapeOp<T>>(g, id, axis, std::vector<int64_t>{}, false));
    }
    case OpKind::kReshape: {
      if (node.inputs.size() < 2 || !g.value(node.inputs[1]).is_constant()) {
        return unsupported(where, ": Reshape needs a constant shape for backprop");
      }
      QE_ASSIGN_OR_RETURN(int64_t allow_zero, node.attrs.get_int("allowzero", 0));
      return OpPtr<T>(std::make_unique<ReshapeOp<T>>(g, id, 0, g.value(node.inputs[1]).constant.to_int64_vector(),
                                                     allow_zero != 0));
    }
    case OpKind::kTranspose: {
      QE_ASSIGN_OR_RETURN(std::vector<int64_t> perm, node.attrs.get_ints("perm"));
      return OpPtr<T>(std::make_unique<TransposeOp<T>>(g, id, std::move(perm)));
    }
    case OpKind::kConcat: {
      QE_ASSIGN_OR_RETURN(int64_t axis, node.attrs.get_int("axis", 0));
      return OpPtr<T>(std::make_unique<ConcatOp<T>>(g, id, axis));
    }
    default:
      return unsupported(where, ": op ", op_name(node.op), " is not supported by backprop");
  }
}

template Result<OpPtr<float>> make_layout_op<float>(const Graph&, NodeId, const std::vector<bool>&);
template Result<OpPtr<double>> make_layout_op<double>(const Graph&, NodeId, const std::vector<bool>&);

}  // namespace qe::backprop
