// Data-movement ops of ResNet / MobileNet / ViT / detector-sized tensors through the engine's
// kernel binding (the candidate the engine picks), 1 and 2 threads. GB/s counts the bytes of
// every non-constant input and of the output once; the label names the bound kernel.
//   bench_data_ops --benchmark_filter='transpose|resize'
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

struct Input {
  Shape shape;
  bool constant = false;
  DType dtype = DType::kF32;
  std::vector<int64_t> ints;  // int64 constant value
};

Input var(Shape s, DType t = DType::kF32) { return Input{std::move(s), false, t, {}}; }
Input ints(std::vector<int64_t> v) {
  Shape s{static_cast<int64_t>(v.size())};
  return Input{s, true, DType::kI64, std::move(v)};
}
Input floats(std::vector<float> v) {
  Input in{Shape{static_cast<int64_t>(v.size())}, true, DType::kF32, {}};
  for (float f : v) in.ints.push_back(static_cast<int64_t>(f * 1000));  // scales in thousandths
  return in;
}

struct Case {
  std::string name;
  OpKind op;
  std::vector<Input> inputs;
  Attributes attrs;
  int outputs = 1;
};

Attributes attrs(std::initializer_list<std::pair<const char*, AttrValue>> kv) {
  Attributes a;
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}

std::vector<Case> cases() {
  const Shape mid{1, 64, 56, 56}, mid8{8, 64, 56, 56}, nhwc{1, 56, 56, 64};
  const std::vector<int64_t> to_nhwc{0, 2, 3, 1}, to_nchw{0, 3, 1, 2};
  return {
      {"transpose_nchw_to_nhwc/1x64x56x56", OpKind::kTranspose, {var(mid)}, attrs({{"perm", to_nhwc}})},
      {"transpose_nchw_to_nhwc/8x64x56x56", OpKind::kTranspose, {var(mid8)}, attrs({{"perm", to_nhwc}})},
      {"transpose_nhwc_to_nchw/1x56x56x64", OpKind::kTranspose, {var(nhwc)}, attrs({{"perm", to_nchw}})},
      {"transpose_heads/8x197x12x64", OpKind::kTranspose, {var(Shape{8, 197, 12, 64})},
       attrs({{"perm", std::vector<int64_t>{0, 2, 1, 3}}})},
      {"transpose_kT/8x12x197x64", OpKind::kTranspose, {var(Shape{8, 12, 197, 64})},
       attrs({{"perm", std::vector<int64_t>{0, 1, 3, 2}}})},
      {"transpose_u8_nchw_to_nhwc/8x64x56x56", OpKind::kTranspose, {var(mid8, DType::kU8)}, attrs({{"perm", to_nhwc}})},
      {"concat_channels/2x1x64x56x56", OpKind::kConcat, {var(mid), var(mid)}, attrs({{"axis", int64_t{1}}})},
      {"concat_tokens/8x1x768+8x196x768", OpKind::kConcat, {var(Shape{8, 1, 768}), var(Shape{8, 196, 768})},
       attrs({{"axis", int64_t{1}}})},
      {"split_channels/1x128x56x56", OpKind::kSplit, {var(Shape{1, 128, 56, 56})}, attrs({{"axis", int64_t{1}}}), 2},
      {"slice_channels/1x64x56x56", OpKind::kSlice, {var(mid), ints({16}), ints({48}), ints({1})}, {}},
      {"slice_stride2/1x64x112x112", OpKind::kSlice,
       {var(Shape{1, 64, 112, 112}), ints({0, 0}), ints({112, 112}), ints({2, 3}), ints({2, 2})}, {}},
      {"pad_spatial/1x64x56x56", OpKind::kPad, {var(mid), ints({0, 0, 1, 1, 0, 0, 1, 1})}, {}},
      {"pad_reflect/1x64x56x56", OpKind::kPad, {var(mid), ints({0, 0, 3, 3, 0, 0, 3, 3})},
       attrs({{"mode", std::string("reflect")}})},
      {"expand_cls/1x1x768->64x1x768", OpKind::kExpand, {var(Shape{1, 1, 768}), ints({64, 1, 768})}, {}},
      {"gather_embedding/30522x768[8x128]", OpKind::kGather, {var(Shape{30522, 768}), ints(std::vector<int64_t>(1024, 7))},
       {}},
      {"cast_f32_to_f16/8x128x768", OpKind::kCast, {var(Shape{8, 128, 768})}, attrs({{"to", int64_t{10}}})},
      {"cast_i64_to_f32/8x128x768", OpKind::kCast, {var(Shape{8, 128, 768}, DType::kI64)}, attrs({{"to", int64_t{1}}})},
      {"resize_bilinear_x2/1x64x56x56", OpKind::kResize, {var(mid), Input{}, floats({1, 1, 2, 2})},
       attrs({{"mode", std::string("linear")}})},
      {"resize_bilinear_x2/8x64x56x56", OpKind::kResize, {var(mid8), Input{}, floats({1, 1, 2, 2})},
       attrs({{"mode", std::string("linear")}})},
      {"resize_nearest_x2/1x64x56x56", OpKind::kResize, {var(mid), Input{}, floats({1, 1, 2, 2})},
       attrs({{"mode", std::string("nearest")}})},
      {"resize_cubic_x2/1x16x56x56", OpKind::kResize, {var(Shape{1, 16, 56, 56}), Input{}, floats({1, 1, 2, 2})},
       attrs({{"mode", std::string("cubic")}})},
      {"reshape/8x128x768", OpKind::kReshape, {var(Shape{8, 128, 768}), ints({8, 128, 12, 64})}, {}},
  };
}

void bm_op(benchmark::State& state, const Case& c, int threads) {
  Graph g;
  std::vector<ValueId> ins;
  std::vector<Tensor> tensors;
  double bytes = 0;
  std::mt19937_64 rng(1);
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Input& in = c.inputs[i];
    if (in.shape.rank() == 0 && !in.constant) {
      ins.push_back(kNoValue);
      tensors.emplace_back();
      continue;
    }
    Tensor t(in.dtype, in.shape);
    if (in.constant && in.dtype == DType::kI64) {
      t = Tensor::from_vector<int64_t>(in.shape, in.ints);
    } else if (in.constant) {
      for (int64_t j = 0; j < t.numel(); ++j) t.data<float>()[j] = static_cast<float>(in.ints[static_cast<size_t>(j)]) / 1000.f;
    } else {
      for (size_t j = 0; j < t.bytes(); ++j) static_cast<uint8_t*>(t.raw())[j] = static_cast<uint8_t>(rng() & 0x3F);
      bytes += static_cast<double>(t.bytes());
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
  std::vector<ValueId> outs;
  for (int i = 0; i < c.outputs; ++i) outs.push_back(g.add_value("y" + std::to_string(i)));
  NodeId n = g.add_node(c.op, "node", ins, outs, c.attrs);
  std::vector<TensorView> in;
  for (const Tensor& t : tensors) in.push_back(t.view());
  const std::vector<Tensor> ys = bench::time_node(state, g, n, in, threads);
  if (ys.empty()) return;
  for (const Tensor& y : ys) bytes += static_cast<double>(y.bytes());
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
