// Internals of the differentiable executor (backprop.cpp): per-value state, the node-op
// interface every supported op implements, and the shared GEMM / broadcasting helpers.
//
// Every op works on four arrays per value: x (primal), t (tangent ẋ along the weight
// direction), g (adjoint x̄ = dL/dx) and tg (tangent adjoint x̄̇, the R-operator of x̄).
// Only "active" values (those a differentiated weight influences) carry t, g and tg; every
// other value is a constant of the differentiation and is read through x alone.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/shape.h"
#include "engine/core/status.h"
#include "engine/core/thread_pool.h"
#include "graph/graph.h"

namespace qe::backprop {

template <typename T>
struct ValueState {
  Shape shape;
  std::vector<T> x, t, g, tg;
};

template <typename T>
class Exec {
 public:
  virtual ~Exec() = default;
  virtual ThreadPool& pool() = 0;
  // Whether this pass also carries tangents (an HVP) or only primals and adjoints (a gradient).
  virtual bool tangent() const = 0;
  virtual bool active(ValueId v) const = 0;
  virtual ValueState<T>& state(ValueId v) = 0;
  // Sets the output's shape and allocates x (and t when the pass carries tangents and the value
  // is active), zero-filled.
  virtual void allocate_output(ValueId v, const Shape& shape) = 0;
  // The adjoint / tangent adjoint to accumulate into, zero-filled on first use; null for a
  // passive value (or for tgrad outside a tangent pass).
  virtual T* grad(ValueId v) = 0;
  virtual T* tgrad(ValueId v) = 0;
  // Reusable scratch (contents undefined) of at least n elements; ops run one at a time, so a
  // slot is free again once the op that used it returns.
  virtual T* scratch(int slot, size_t n) = 0;

  const T* x(ValueId v) { return state(v).x.data(); }
  // The tangent of v, or null when v is passive or the pass has no tangents.
  const T* t(ValueId v) { return tangent() && active(v) ? state(v).t.data() : nullptr; }
};

template <typename T>
class NodeOp {
 public:
  NodeOp(const Graph& g, NodeId id) : inputs_(g.node(id).inputs), outputs_(g.node(id).outputs), name_(describe_node(g, id)) {}
  virtual ~NodeOp() = default;
  // Computes output 0 from the inputs' x (and its tangent from their t and x).
  virtual Status forward(Exec<T>& e) = 0;
  // Given output 0's g (and tg), accumulates into the active inputs' g (and tg).
  virtual void backward(Exec<T>& e) = 0;

  const std::vector<ValueId>& inputs() const { return inputs_; }
  ValueId output() const { return outputs_[0]; }
  const std::string& name() const { return name_; }

 protected:
  ValueId in(size_t i) const { return i < inputs_.size() ? inputs_[i] : kNoValue; }
  ValueId out() const { return outputs_[0]; }
  Status fail(const std::string& what) const { return invalid_argument(name_, ": ", what); }

 private:
  std::vector<ValueId> inputs_, outputs_;
  std::string name_;
};

template <typename T>
using OpPtr = std::unique_ptr<NodeOp<T>>;

// Factories per op family; each returns an error naming the node when an attribute or a
// constant input is not supported. `active` tells which values carry derivatives.
template <typename T>
Result<OpPtr<T>> make_compute_op(const Graph& g, NodeId id, const std::vector<bool>& active);
template <typename T>
Result<OpPtr<T>> make_pointwise_op(const Graph& g, NodeId id, const std::vector<bool>& active);
template <typename T>
Result<OpPtr<T>> make_layout_op(const Graph& g, NodeId id, const std::vector<bool>& active);

// C[i] (+)= alpha * op(A[i]) · op(B[i]) for i in [0, batch), row-major; op(A) is [M, K]
// (stored [K, M] when ta), op(B) is [K, N] (stored [N, K] when tb); item i of A at A + i * sa.
// float uses the engine's packed GEMM, double plain loops. Either way the result does not
// depend on the thread count.
template <typename T>
void gemm(ThreadPool& pool, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, bool accumulate, T* C, int64_t ldc, int64_t batch = 1, int64_t sa = 0,
          int64_t sb = 0, int64_t sc = 0);

// Reads a constant input as doubles (any numeric dtype).
std::vector<double> constant_values(const Graph& g, ValueId v);

}  // namespace qe::backprop
