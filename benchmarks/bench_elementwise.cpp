// Elementwise, pooling and normalisation ops of ResNet / MobileNet / ViT-sized layers through the
// engine's kernel binding (the candidate the engine would pick), 1 and 2 threads. GB/s counts
// the bytes of every input and output once; the label names the bound kernel.
// QENGINE_ISA=scalar times the reference kernels (QENGINE_ISA=avx2 the AVX2 ones).
//   bench_elementwise --benchmark_filter='gelu|softmax'
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "engine/core/thread_pool.h"
#include "engine/op_kernel.h"
#include "graph/schema.h"
#include "benchmarks/bench_support.h"

using namespace qe;

namespace {

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  Tensor t(DType::kF32, shape);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

struct Input {
  Shape shape;
  bool constant = false;
  float lo = -4.f, hi = 4.f;  // uniform values; lo == hi gives exactly lo
  DType dtype = DType::kF32;
  std::vector<int64_t> ints;  // int64 constant value (axes)
};

Input var(Shape s, float lo = -4.f, float hi = 4.f) { return Input{std::move(s), false, lo, hi, DType::kF32, {}}; }
Input cst(Shape s, float lo = -4.f, float hi = 4.f) { return Input{std::move(s), true, lo, hi, DType::kF32, {}}; }
Input mask(Shape s) { return Input{std::move(s), false, 0, 0, DType::kBool, {}}; }
Input axes(std::vector<int64_t> a) {
  Shape s{static_cast<int64_t>(a.size())};
  return Input{s, true, 0, 0, DType::kI64, std::move(a)};
}

struct Case {
  std::string name;
  OpKind op;
  std::vector<Input> inputs;
  Attributes attrs;
};

Attributes attrs(std::initializer_list<std::pair<const char*, AttrValue>> kv) {
  Attributes a;
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}

std::vector<Case> cases() {
  const Shape act{1, 64, 112, 112}, mid{1, 64, 56, 56}, tok{8, 128, 768};
  std::vector<int64_t> k3{3, 3}, s2{2, 2}, p1{1, 1, 1, 1};
  return {
      {"relu/1x64x112x112", OpKind::kRelu, {var(act)}, {}},
      {"clip6/1x64x112x112", OpKind::kClip, {var(act), cst(Shape{}, 0, 0), cst(Shape{}, 6, 6)}, {}},
      {"hardswish/1x16x112x112", OpKind::kHardSwish, {var(Shape{1, 16, 112, 112})}, {}},
      {"sigmoid/1x64x112x112", OpKind::kSigmoid, {var(act)}, {}},
      {"tanh/8x128x768", OpKind::kTanh, {var(tok)}, {}},
      {"erf/8x128x768", OpKind::kErf, {var(tok)}, {}},
      {"gelu/8x128x768", OpKind::kGelu, {var(tok)}, {}},
      {"gelu_tanh/8x128x768", OpKind::kGelu, {var(tok)}, attrs({{"approximate", std::string("tanh")}})},
      {"exp/8x128x768", OpKind::kExp, {var(tok)}, {}},
      {"add_same/1x64x56x56", OpKind::kAdd, {var(mid), var(mid)}, {}},
      {"add_channel/1x64x56x56+64x1x1", OpKind::kAdd, {var(mid), cst(Shape{64, 1, 1})}, {}},
      {"mul_scalar/1x64x56x56", OpKind::kMul, {var(mid), cst(Shape{})}, {}},
      {"mul_row/8x128x768*768", OpKind::kMul, {var(tok), cst(Shape{768})}, {}},
      {"mul_se/8x16x16x16*8x16x1x1", OpKind::kMul, {var(Shape{8, 16, 16, 16}), var(Shape{8, 16, 1, 1})}, {}},
      {"mul_se/8x96x4x4*8x96x1x1", OpKind::kMul, {var(Shape{8, 96, 4, 4}), var(Shape{8, 96, 1, 1})}, {}},
      {"div_same/8x128x768", OpKind::kDiv, {var(tok), var(tok, 1, 2)}, {}},
      {"pow2/8x128x768", OpKind::kPow, {var(tok), cst(Shape{}, 2, 2)}, {}},
      {"where/8x128x768", OpKind::kWhere,
       {mask(Shape{8, 128, 1}), var(tok), cst(Shape{})}, {}},
      {"maxpool3x3s2/1x64x112x112", OpKind::kMaxPool, {var(act)},
       attrs({{"kernel_shape", k3}, {"strides", s2}, {"pads", p1}})},
      {"maxpool3x3s2/8x64x112x112", OpKind::kMaxPool, {var(Shape{8, 64, 112, 112})},
       attrs({{"kernel_shape", k3}, {"strides", s2}, {"pads", p1}})},
      {"maxpool2x2s2/1x64x56x56", OpKind::kMaxPool, {var(mid)}, attrs({{"kernel_shape", std::vector<int64_t>{2, 2}},
                                                                  {"strides", s2}})},
      {"averagepool3x3s1/1x64x56x56", OpKind::kAveragePool, {var(mid)},
       attrs({{"kernel_shape", k3}, {"pads", p1}})},
      {"globalavgpool/1x512x7x7", OpKind::kGlobalAveragePool, {var(Shape{1, 512, 7, 7})}, {}},
      {"globalavgpool/8x1280x7x7", OpKind::kGlobalAveragePool, {var(Shape{8, 1280, 7, 7})}, {}},
      {"globalavgpool/1x64x56x56", OpKind::kGlobalAveragePool, {var(mid)}, {}},
      {"softmax_rows/96x128x128", OpKind::kSoftmax, {var(Shape{96, 128, 128})}, {}},
      {"softmax_rows/8x1000", OpKind::kSoftmax, {var(Shape{8, 1000})}, {}},
      {"softmax_axis1/1x21x128x128", OpKind::kSoftmax, {var(Shape{1, 21, 128, 128})}, attrs({{"axis", int64_t{1}}})},
      {"reducemean_last/8x128x768", OpKind::kReduceMean, {var(tok), axes({-1})}, {}},
      {"reducesum_mid/8x128x768", OpKind::kReduceSum, {var(tok), axes({1})}, {}},
      {"layernorm/8x128x768", OpKind::kLayerNormalization, {var(tok), cst(Shape{768}), cst(Shape{768})}, {}},
      {"layernorm/197x192", OpKind::kLayerNormalization, {var(Shape{1, 197, 192}), cst(Shape{192}), cst(Shape{192})},
       {}},
      {"batchnorm/1x64x112x112", OpKind::kBatchNormalization,
       {var(act), cst(Shape{64}, 0.5, 2), cst(Shape{64}), cst(Shape{64}), cst(Shape{64}, 0.5, 2)}, {}},
  };
}

void bm_op(benchmark::State& state, const Case& c, int threads) {
  Graph g;
  std::vector<ValueId> ins;
  std::vector<Tensor> tensors;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Input& in = c.inputs[i];
    Tensor t;
    if (in.dtype == DType::kI64) {
      t = Tensor::from_vector<int64_t>(in.shape, in.ints);
    } else if (in.dtype == DType::kBool) {
      t = Tensor(DType::kBool, in.shape);
      for (int64_t j = 0; j < t.numel(); ++j) t.data<bool>()[j] = (j * 7) % 3 == 0;
    } else {
      t = random_tensor(in.shape, i + 1, in.lo, in.hi);
      if (in.hi == in.lo) {
        for (int64_t j = 0; j < t.numel(); ++j) t.data<float>()[j] = in.lo;  // exact constants (Pow 2, Clip 6)
      }
    }
    std::string name = "in" + std::to_string(i);
    if (in.constant) {
      ins.push_back(g.add_constant(name, t));
    } else {
      ValueId v = g.add_value(name, t.dtype(), t.shape(), true);
      g.add_input(v);
      ins.push_back(v);
    }
    tensors.push_back(t);
  }
  ValueId y = g.add_value("y");
  NodeId n = g.add_node(c.op, "node", ins, {y}, c.attrs);
  g.add_output(y);
  std::vector<TensorView> in;
  for (const Tensor& t : tensors) in.push_back(t.view());
  const std::vector<Tensor> ys = bench::time_node(state, g, n, in, threads);
  if (ys.empty()) return;
  double bytes = static_cast<double>(ys[0].bytes());
  for (const Tensor& t : tensors) bytes += static_cast<double>(t.bytes());
  state.counters["GB/s"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

int register_all() {
  static const std::vector<Case> all = cases();
  bench::register_thread_sweep(all, bm_op);
  return 0;
}

const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
