// The executor behind Backprop: which nodes run, which values carry derivatives, the loss and
// its seeds, and the passes. The ops themselves live in backprop_{compute,pointwise,layout}.cpp.
#include "quant/mixed/backprop.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "quant/mixed/backprop_internal.h"

namespace qe {

using backprop::Exec;
using backprop::NodeOp;
using backprop::OpPtr;
using backprop::ValueState;

class Backprop::Impl {
 public:
  virtual ~Impl() = default;
  virtual Result<LossGradient> gradient(const std::vector<Tensor>& inputs, const std::vector<int64_t>& labels) = 0;
  virtual Result<std::vector<Tensor>> hvp(const std::vector<Tensor>& inputs, const std::vector<int64_t>& labels,
                                          const std::vector<Tensor>& direction) = 0;
  virtual Result<LossGradient> gradient_sampled(const std::vector<Tensor>& inputs, uint64_t seed) = 0;
  virtual Result<LossGradient> squared_error_gradient(const std::vector<Tensor>& inputs, const Tensor& target,
                                                      double scale) = 0;
  virtual const Tensor& last_output() const = 0;
  virtual Status set_weight(size_t index, const Tensor& value) = 0;
  virtual int num_threads() const = 0;

  std::vector<std::string> weight_names, activation_names;
  std::vector<Shape> weight_shapes;
};

namespace backprop {

std::vector<double> constant_values(const Graph& g, ValueId v) {
  const Tensor& c = g.value(v).constant;
  std::vector<double> out(static_cast<size_t>(c.numel()));
  for (int64_t i = 0; i < c.numel(); ++i) out[static_cast<size_t>(i)] = read_element_as_double(c.raw(), c.dtype(), i);
  return out;
}

namespace {

template <typename T>
void read_tensor(const Tensor& src, std::vector<T>& dst) {
  dst.resize(static_cast<size_t>(src.numel()));
  if (src.dtype() == DType::kF32) {
    const float* p = src.data<float>();
    for (size_t i = 0; i < dst.size(); ++i) dst[i] = static_cast<T>(p[i]);
  } else {
    for (size_t i = 0; i < dst.size(); ++i) {
      dst[i] = static_cast<T>(read_element_as_double(src.raw(), src.dtype(), static_cast<int64_t>(i)));
    }
  }
}

// In the pass's own precision: float64 results stay exact enough for numerical checks.
template <typename T>
Tensor to_tensor(const Shape& shape, const std::vector<T>& v) {
  return Tensor::from_data(dtype_of<T>::value, shape, v.data());
}

template <typename T>
Result<OpPtr<T>> make_op(const Graph& g, NodeId id, const std::vector<bool>& active) {
  switch (g.node(id).op) {
    case OpKind::kConv:
    case OpKind::kGemm:
    case OpKind::kMatMul:
      return make_compute_op<T>(g, id, active);
    case OpKind::kBatchNormalization:
    case OpKind::kRelu:
    case OpKind::kLeakyRelu:
    case OpKind::kClip:
    case OpKind::kHardSwish:
    case OpKind::kHardSigmoid:
    case OpKind::kSigmoid:
    case OpKind::kTanh:
    case OpKind::kIdentity:
    case OpKind::kDropout:
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv:
    case OpKind::kSoftmax:
      return make_pointwise_op<T>(g, id, active);
    case OpKind::kMaxPool:
    case OpKind::kAveragePool:
    case OpKind::kGlobalAveragePool:
    case OpKind::kFlatten:
    case OpKind::kReshape:
    case OpKind::kTranspose:
    case OpKind::kConcat:
      return make_layout_op<T>(g, id, active);
    default:
      return unsupported(describe_node(g, id), ": op ", op_name(g.node(id).op), " is not supported by backprop");
  }
}

template <typename T>
class Executor final : public Backprop::Impl, public Exec<T> {
 public:
  Executor(int threads, BackpropLoss loss) : pool_(threads), loss_kind_(loss) {}

  Status init(const Graph& g, const std::vector<std::string>& names, const std::vector<std::string>& activations) {
    if (g.outputs().empty()) return invalid_argument("backprop: the graph has no output");
    logits_ = g.outputs()[0];
    const NodeId last = g.value(logits_).producer;
    if (loss_kind_ == BackpropLoss::kCrossEntropy && last != kNoNode && g.node(last).op == OpKind::kSoftmax) {
      const Value& in = g.value(g.node(last).inputs[0]);
      QE_ASSIGN_OR_RETURN(int64_t axis, g.node(last).attrs.get_int("axis", g.opset >= 13 ? -1 : 1));
      if (!in.shape_known || in.shape.rank() != 2 || (axis != 1 && axis != -1)) {
        return unsupported(describe_node(g, last), ": a trailing Softmax is folded into the loss only over the "
                                                   "class axis of [N, classes] logits");
      }
      logits_ = g.node(last).inputs[0];
    }
    // Nodes the logits depend on, in topological order.
    std::vector<bool> needed_value(g.num_values(), false);
    std::vector<ValueId> stack = {logits_};
    needed_value[static_cast<size_t>(logits_)] = true;
    std::set<NodeId> needed_nodes;
    while (!stack.empty()) {
      ValueId v = stack.back();
      stack.pop_back();
      NodeId p = g.value(v).producer;
      if (p == kNoNode || g.value(v).is_constant() || !needed_nodes.insert(p).second) continue;
      for (ValueId in : g.node(p).inputs) {
        if (in != kNoValue && !needed_value[static_cast<size_t>(in)]) {
          needed_value[static_cast<size_t>(in)] = true;
          stack.push_back(in);
        }
      }
    }
    QE_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.topological_order());

    // Weights.
    states_.resize(g.num_values());
    active_.assign(g.num_values(), false);
    for (const std::string& name : names) {
      ValueId v = g.find_value(name);
      if (v == kNoValue) return not_found("backprop: no value named '", name, "'");
      const Value& val = g.value(v);
      bool is_weight = false;
      for (const Use& u : val.uses) {
        OpKind op = g.node(u.node).op;
        is_weight |= g.node(u.node).alive && u.input_index == 1 &&
                     (op == OpKind::kConv || op == OpKind::kGemm || op == OpKind::kMatMul);
      }
      if (!val.is_constant() || val.constant.dtype() != DType::kF32 || !is_weight) {
        return invalid_argument("backprop: '", name, "' is not a float constant weight of a Conv, Gemm or MatMul");
      }
      if (active_[static_cast<size_t>(v)]) return invalid_argument("backprop: weight '", name, "' listed twice");
      active_[static_cast<size_t>(v)] = true;
      weights_.push_back(v);
      weight_names.push_back(name);
      weight_shapes.push_back(val.constant.shape());
    }
    watch_of_.assign(g.num_values(), -1);
    for (const std::string& name : activations) {
      ValueId v = g.find_value(name);
      if (v == kNoValue) return not_found("backprop: no activation named '", name, "'");
      if (g.value(v).is_constant()) return invalid_argument("backprop: activation '", name, "' is a constant");
      if (!needed_value[static_cast<size_t>(v)]) {
        return invalid_argument("backprop: activation '", name, "' does not influence output 0");
      }
      if (watch_of_[static_cast<size_t>(v)] >= 0) return invalid_argument("backprop: activation '", name, "' listed twice");
      watch_of_[static_cast<size_t>(v)] = static_cast<int>(watched_.size());
      watched_.push_back(v);
      active_[static_cast<size_t>(v)] = true;
      activation_names.push_back(name);
    }
    for (NodeId id : order) {
      if (!needed_nodes.count(id)) continue;
      bool any = false;
      for (ValueId in : g.node(id).inputs) any |= in != kNoValue && active_[static_cast<size_t>(in)];
      for (ValueId o : g.node(id).outputs) active_[static_cast<size_t>(o)] = any || watch_of_[static_cast<size_t>(o)] >= 0;
    }
    if (!active_[static_cast<size_t>(logits_)]) {
      return invalid_argument("backprop: none of the listed weights or activations influences output 0");
    }
    for (NodeId id : order) {
      if (!needed_nodes.count(id)) continue;
      QE_ASSIGN_OR_RETURN(OpPtr<T> op, make_op<T>(g, id, active_));
      ops_.push_back(std::move(op));
    }
    // Constants are read once; graph inputs are bound per pass.
    for (size_t v = 0; v < g.num_values(); ++v) {
      if (!needed_value[v]) continue;
      const Value& val = g.value(static_cast<ValueId>(v));
      if (val.is_constant()) {
        states_[v].shape = val.constant.shape();
        read_tensor(val.constant, states_[v].x);
        persistent_.push_back(static_cast<ValueId>(v));
      }
    }
    for (ValueId in : g.inputs()) {
      if (!g.value(in).is_constant()) graph_inputs_.push_back(in);
    }
    return Status::ok();
  }

  // --- Exec
  ThreadPool& pool() override { return pool_; }
  bool tangent() const override { return tangent_; }
  bool active(ValueId v) const override { return active_[static_cast<size_t>(v)]; }
  ValueState<T>& state(ValueId v) override { return states_[static_cast<size_t>(v)]; }
  void allocate_output(ValueId v, const Shape& shape) override {
    ValueState<T>& s = state(v);
    s.shape = shape;
    s.x.assign(static_cast<size_t>(shape.numel()), T(0));
    if (tangent_ && active(v)) s.t.assign(s.x.size(), T(0));
  }
  T* grad(ValueId v) override {
    if (!active(v)) return nullptr;
    ValueState<T>& s = state(v);
    if (s.g.empty()) s.g.assign(static_cast<size_t>(s.shape.numel()), T(0));
    return s.g.data();
  }
  T* tgrad(ValueId v) override {
    if (!tangent_ || !active(v)) return nullptr;
    ValueState<T>& s = state(v);
    if (s.tg.empty()) s.tg.assign(static_cast<size_t>(s.shape.numel()), T(0));
    return s.tg.data();
  }

  T* scratch(int slot, size_t n) override {
    if (scratch_.size() <= static_cast<size_t>(slot)) scratch_.resize(static_cast<size_t>(slot) + 1);
    std::vector<T>& b = scratch_[static_cast<size_t>(slot)];
    if (b.size() < n) b.resize(n);
    return b.data();
  }

  // --- Impl
  int num_threads() const override { return pool_.num_threads(); }

  Status set_weight(size_t index, const Tensor& value) override {
    if (index >= weights_.size()) return invalid_argument("backprop: no weight ", index);
    if (value.shape() != weight_shapes[index]) {
      return invalid_argument("backprop: weight '", weight_names[index], "' has shape ",
                              weight_shapes[index].to_string(), ", got ", value.shape().to_string());
    }
    read_tensor(value, state(weights_[index]).x);
    return Status::ok();
  }

  Result<LossGradient> gradient(const std::vector<Tensor>& inputs, const std::vector<int64_t>& labels) override {
    if (loss_kind_ != BackpropLoss::kCrossEntropy && target_ == nullptr) {
      return invalid_argument("backprop: built for a squared-error loss; call squared_error_gradient()");
    }
    tangent_ = false;
    LossGradient r;
    activation_sq_.assign(watched_.size(), 0.0);
    QE_ASSIGN_OR_RETURN(r.loss, run(inputs, labels));
    r.activation_squared_norms = activation_sq_;
    r.labels = used_labels_;
    for (size_t i = 0; i < weights_.size(); ++i) {
      ValueState<T>& s = state(weights_[i]);
      if (s.g.empty()) s.g.assign(s.x.size(), T(0));
      r.gradients.push_back(to_tensor(weight_shapes[i], s.g));
    }
    release();
    return r;
  }

  Result<std::vector<Tensor>> hvp(const std::vector<Tensor>& inputs, const std::vector<int64_t>& labels,
                                  const std::vector<Tensor>& direction) override {
    if (loss_kind_ != BackpropLoss::kCrossEntropy) return invalid_argument("backprop: HVPs need the cross-entropy loss");
    if (direction.size() != weights_.size()) {
      return invalid_argument("backprop: ", direction.size(), " direction tensors for ", weights_.size(), " weights");
    }
    for (size_t i = 0; i < weights_.size(); ++i) {
      if (direction[i].shape() != weight_shapes[i]) {
        return invalid_argument("backprop: direction for '", weight_names[i], "' has shape ",
                                direction[i].shape().to_string(), ", the weight ", weight_shapes[i].to_string());
      }
      read_tensor(direction[i], state(weights_[i]).t);
    }
    tangent_ = true;
    Result<double> loss = run(inputs, labels);
    tangent_ = false;
    if (!loss.is_ok()) {
      release();
      return loss.status();
    }
    std::vector<Tensor> out;
    for (size_t i = 0; i < weights_.size(); ++i) {
      ValueState<T>& s = state(weights_[i]);
      if (s.tg.empty()) s.tg.assign(s.x.size(), T(0));
      out.push_back(to_tensor(weight_shapes[i], s.tg));
    }
    release();
    return out;
  }

  Result<LossGradient> squared_error_gradient(const std::vector<Tensor>& inputs, const Tensor& target,
                                              double scale) override {
    if (loss_kind_ != BackpropLoss::kSquaredError) {
      return invalid_argument("backprop: built for the cross-entropy loss, not a squared error");
    }
    target_ = &target;
    target_scale_ = scale;
    Result<LossGradient> r = gradient(inputs, {});
    target_ = nullptr;
    return r;
  }

  const Tensor& last_output() const override { return last_output_; }

  Result<LossGradient> gradient_sampled(const std::vector<Tensor>& inputs, uint64_t seed) override {
    if (loss_kind_ != BackpropLoss::kCrossEntropy) return invalid_argument("backprop: sampled labels need the cross-entropy loss");
    sample_labels_ = true;
    sample_rng_.seed(seed);
    Result<LossGradient> r = gradient(inputs, {});
    sample_labels_ = false;
    return r;
  }

 private:
  // A watched activation's adjoint is complete once every consumer has run backward, which is
  // just before its producer's backward (or after the last op for a graph input).
  void collect_activation(ValueId v) {
    const int k = watch_of_[static_cast<size_t>(v)];
    if (k < 0) return;
    double s = 0;
    for (T g : state(v).g) s += static_cast<double>(g) * static_cast<double>(g);
    activation_sq_[static_cast<size_t>(k)] = s;
  }

  Result<double> run(const std::vector<Tensor>& inputs, const std::vector<int64_t>& labels) {
    release();
    if (inputs.size() != graph_inputs_.size()) {
      return invalid_argument("backprop: ", inputs.size(), " inputs given, the graph has ", graph_inputs_.size());
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      ValueState<T>& s = state(graph_inputs_[i]);
      s.shape = inputs[i].shape();
      read_tensor(inputs[i], s.x);
      // An active graph input is a watched activation; it has no tangent of its own.
      if (tangent_ && active(graph_inputs_[i])) s.t.assign(s.x.size(), T(0));
    }
    for (auto& op : ops_) {
      Status st = op->forward(*this);
      if (!st.is_ok()) {
        release();
        return st;
      }
    }
    Result<double> loss = loss_and_seed(labels);
    if (!loss.is_ok()) {
      release();
      return loss;
    }
    for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
      NodeOp<T>& op = **it;
      ValueState<T>& o = state(op.output());
      if (!tangent_) collect_activation(op.output());
      if (!active(op.output()) || o.g.empty()) continue;
      op.backward(*this);
      o.g.clear();
      o.tg.clear();
    }
    if (!tangent_) {
      for (ValueId v : graph_inputs_) collect_activation(v);
    }
    return loss;
  }

  // Mean cross-entropy; seeds the logits' adjoint (p - onehot) / N and, in a tangent pass, its
  // tangent (diag(p) - p pᵀ) ż / N.
  // scale · Σ (y − target)² and its gradient 2 · scale · (y − target) into y's adjoint.
  Result<double> squared_error_and_seed() {
    ValueState<T>& y = state(logits_);
    if (target_->shape() != y.shape) {
      return invalid_argument("backprop: target of shape ", target_->shape().to_string(), " for an output of shape ",
                              y.shape.to_string());
    }
    std::vector<T> target;
    read_tensor(*target_, target);
    T* g = grad(logits_);
    double loss = 0;
    for (size_t i = 0; i < y.x.size(); ++i) {
      const double d = static_cast<double>(y.x[i]) - static_cast<double>(target[i]);
      loss += d * d;
      g[i] = static_cast<T>(2.0 * target_scale_ * d);
    }
    last_output_ = to_tensor(y.shape, y.x);
    return loss * target_scale_;
  }

  Result<double> loss_and_seed(const std::vector<int64_t>& labels) {
    if (target_ != nullptr) return squared_error_and_seed();
    ValueState<T>& z = state(logits_);
    if (z.shape.rank() != 2) return invalid_argument("backprop: logits must be [N, classes], got ", z.shape.to_string());
    const int64_t n = z.shape[0], c = z.shape[1];
    if (sample_labels_) {
      used_labels_.assign(static_cast<size_t>(n), 0);
    } else if (static_cast<int64_t>(labels.size()) != n) {
      return invalid_argument("backprop: ", labels.size(), " labels for a batch of ", n);
    } else {
      used_labels_ = labels;
    }
    for (size_t i = 0; i < labels.size(); ++i) {
      if (labels[i] < 0 || labels[i] >= c) {
        return invalid_argument("backprop: label ", labels[i], " of sample ", i, " is outside [0, ", c, ")");
      }
    }
    T* g = grad(logits_);
    T* tg = tgrad(logits_);
    const T* zt = this->t(logits_);
    double loss = 0;
    std::vector<double> p(static_cast<size_t>(c));
    for (int64_t i = 0; i < n; ++i) {
      const T* zi = z.x.data() + i * c;
      double mx = zi[0];
      for (int64_t j = 1; j < c; ++j) mx = std::max(mx, static_cast<double>(zi[j]));
      double sum = 0;
      for (int64_t j = 0; j < c; ++j) sum += p[static_cast<size_t>(j)] = std::exp(static_cast<double>(zi[j]) - mx);
      for (double& v : p) v /= sum;
      if (sample_labels_) used_labels_[static_cast<size_t>(i)] = draw_label(p);
      const int64_t label = used_labels_[static_cast<size_t>(i)];
      loss += std::log(sum) + mx - zi[label];
      for (int64_t j = 0; j < c; ++j) {
        g[i * c + j] = static_cast<T>((p[static_cast<size_t>(j)] - (j == label ? 1.0 : 0.0)) / n);
      }
      if (tg) {
        double pz = 0;
        for (int64_t j = 0; j < c; ++j) pz += p[static_cast<size_t>(j)] * zt[i * c + j];
        for (int64_t j = 0; j < c; ++j) {
          tg[i * c + j] = static_cast<T>(p[static_cast<size_t>(j)] * (zt[i * c + j] - pz) / n);
        }
      }
    }
    return loss / static_cast<double>(n);
  }

  int64_t draw_label(const std::vector<double>& p) {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(sample_rng_);
    double cumulative = 0;
    for (size_t j = 0; j < p.size(); ++j) {
      cumulative += p[j];
      if (u < cumulative) return static_cast<int64_t>(j);
    }
    return static_cast<int64_t>(p.size()) - 1;  // u beyond a cumulative sum just under 1
  }

  // Empties every per-batch array (constants keep x, weights x and t). The storage stays for
  // the next pass of the same shapes: reallocating it each pass costs page faults.
  void release() {
    std::vector<bool> keep(states_.size(), false);
    for (ValueId v : persistent_) keep[static_cast<size_t>(v)] = true;
    for (size_t v = 0; v < states_.size(); ++v) {
      ValueState<T>& s = states_[v];
      if (!keep[v]) {
        s.x.clear();
        s.t.clear();
      }
      s.g.clear();
      s.tg.clear();
    }
  }

  ThreadPool pool_;
  BackpropLoss loss_kind_;
  const Tensor* target_ = nullptr;  // set during squared_error_gradient()
  double target_scale_ = 1;
  Tensor last_output_;
  bool tangent_ = false;
  std::vector<int> watch_of_;  // by value: index among watched_, or -1
  std::vector<ValueId> watched_;
  std::vector<double> activation_sq_;
  bool sample_labels_ = false;
  std::mt19937_64 sample_rng_;
  std::vector<int64_t> used_labels_;
  ValueId logits_ = kNoValue;
  std::vector<ValueState<T>> states_;
  std::vector<bool> active_;
  std::vector<ValueId> weights_, graph_inputs_, persistent_;
  std::vector<OpPtr<T>> ops_;
  std::vector<std::vector<T>> scratch_;
};

template <typename T>
Result<std::unique_ptr<Backprop::Impl>> make_executor(const Graph& g, const std::vector<std::string>& weights,
                                                      const std::vector<std::string>& activations, int threads,
                                                      BackpropLoss loss) {
  auto e = std::make_unique<Executor<T>>(threads, loss);
  QE_RETURN_IF_ERROR(e->init(g, weights, activations));
  return std::unique_ptr<Backprop::Impl>(std::move(e));
}

}  // namespace
}  // namespace backprop

Backprop::Backprop(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Backprop::Backprop(Backprop&&) noexcept = default;
Backprop& Backprop::operator=(Backprop&&) noexcept = default;
Backprop::~Backprop() = default;

Result<Backprop> Backprop::create(const Graph& g, std::vector<std::string> weights, const BackpropOptions& o) {
  if (weights.empty()) return invalid_argument("backprop: no weights to differentiate with respect to");
  const int threads = o.num_threads > 0 ? o.num_threads : default_thread_count();
  Result<std::unique_ptr<Impl>> impl = o.precision == BackpropPrecision::kFloat64
                                           ? backprop::make_executor<double>(g, weights, o.activations, threads, o.loss)
                                           : backprop::make_executor<float>(g, weights, o.activations, threads, o.loss);
  if (!impl.is_ok()) return impl.status();
  return Backprop(std::move(impl).value());
}

const std::vector<std::string>& Backprop::weights() const { return impl_->weight_names; }
const std::vector<std::string>& Backprop::activations() const { return impl_->activation_names; }
const Shape& Backprop::weight_shape(size_t index) const { return impl_->weight_shapes[index]; }
int Backprop::num_threads() const { return impl_->num_threads(); }

Result<LossGradient> Backprop::gradient(const std::vector<Tensor>& inputs, const std::vector<int64_t>& labels) {
  return impl_->gradient(inputs, labels);
}

Result<std::vector<Tensor>> Backprop::hessian_vector_product(const std::vector<Tensor>& inputs,
                                                            const std::vector<int64_t>& labels,
                                                            const std::vector<Tensor>& direction) {
  return impl_->hvp(inputs, labels, direction);
}

Result<LossGradient> Backprop::gradient_sampled(const std::vector<Tensor>& inputs, uint64_t seed) {
  return impl_->gradient_sampled(inputs, seed);
}

Result<LossGradient> Backprop::squared_error_gradient(const std::vector<Tensor>& inputs, const Tensor& target,
                                                      double scale) {
  return impl_->squared_error_gradient(inputs, target, scale);
}

const Tensor& Backprop::last_output() const { return impl_->last_output(); }

Status Backprop::set_weight(size_t index, const Tensor& value) { return impl_->set_weight(index, value); }


}  // namespace qe
