// Op binding: which kernel runs a node. A plan is specialised for concrete input shapes, so a
// kernel's factory sees every shape and every constant input: it validates, reads attributes
// and prepacks weights once (create), reports its scratch size (workspace_bytes), and then
// runs many times without allocating (run).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/core/thread_pool.h"
#include "graph/graph.h"

namespace qe {

struct RunContext {
  ThreadPool* pool = nullptr;  // never null while running
  void* workspace = nullptr;   // workspace_bytes() of 64-byte aligned scratch
};

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  virtual size_t workspace_bytes() const { return 0; }
  // Inputs that are omitted optional inputs have data == nullptr.
  virtual Status run(const RunContext& ctx, std::span<const TensorView> inputs,
                     std::span<const TensorView> outputs) = 0;
};

// What a factory may look at: the node, with shapes of inputs and outputs inferred and
// concrete, and constant inputs (weights) available for prepacking.
class BindContext {
 public:
  BindContext(const Graph& g, NodeId id, int num_threads) : graph_(g), id_(id), num_threads_(num_threads) {}
  const Graph& graph() const { return graph_; }
  const Node& node() const { return graph_.node(id_); }
  const Attributes& attrs() const { return node().attrs; }
  int num_inputs() const { return static_cast<int>(node().inputs.size()); }
  int num_outputs() const { return static_cast<int>(node().outputs.size()); }
  bool has_input(int i) const { return i < num_inputs() && node().inputs[static_cast<size_t>(i)] != kNoValue; }
  const Value& input(int i) const { return graph_.value(node().inputs[static_cast<size_t>(i)]); }
  const Value& output(int i) const { return graph_.value(node().outputs[static_cast<size_t>(i)]); }
  const Tensor* constant_input(int i) const {
    return has_input(i) && input(i).is_constant() ? &input(i).constant : nullptr;
  }
  int num_threads() const { return num_threads_; }

 private:
  const Graph& graph_;
  NodeId id_;
  int num_threads_;
};

// Returns a kernel, or a kUnsupported status whose message is the reason this candidate
// declines (shown by `qengine info --explain`).
using KernelFactory = Result<std::unique_ptr<OpKernel>> (*)(const BindContext&);

struct KernelCandidate {
  std::string name;  // microkernel grammar: conv_f32_depthwise_avx512, gemm_f32_ref, ...
  KernelFactory create = nullptr;
};

template <typename... Args>
Status decline(const Args&... args) { return unsupported(args...); }

class KernelRegistry {
 public:
  static const KernelRegistry& global();
  void add(OpKind op, KernelCandidate c) { table_[static_cast<size_t>(op)].push_back(std::move(c)); }
  // Best first; the plain reference is last.
  const std::vector<KernelCandidate>& candidates(OpKind op) const { return table_[static_cast<size_t>(op)]; }

 private:
  std::vector<KernelCandidate> table_[static_cast<size_t>(OpKind::kCount)];
};

struct BoundKernel {
  std::unique_ptr<OpKernel> kernel;
  std::string name;
  std::vector<std::pair<std::string, std::string>> declined;  // candidate name, reason
};

// Tries the candidates in order. Error lists every reason when none accepts.
Result<BoundKernel> bind_kernel(const Graph& g, NodeId id, int num_threads);

// Family registration (one per file in engine/ops/), called from registry.cpp.
void register_compute_kernels(KernelRegistry& r);      // Conv, ConvTranspose, Gemm, MatMul
void register_pooling_kernels(KernelRegistry& r);      // pools, BatchNormalization, LayerNormalization
void register_elementwise_kernels(KernelRegistry& r);  // unary, binary, activations, Softmax, reductions
void register_data_kernels(KernelRegistry& r);         // shape and data movement ops
void register_quant_kernels(KernelRegistry& r);        // FakeQuant, Trunc, QuantizeLinear, DequantizeLinear

}  // namespace qe
