// Quantizers: the integer fake-quant microkernels (ref / avx2 / avx512, one thread) on the three
// parameter layouts that matter (per tensor, per channel with a long inner run, channels
// innermost), and the bound ops (FakeQuant int / bipolar / float, QuantizeLinear,
// DequantizeLinear) with 1 and 2 threads. Elements per second count x once; the label names
// the microkernel or the bound candidate.
//   bench_quant --benchmark_filter='ukernel'
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "engine/core/cpu_features.h"
#include "engine/core/thread_pool.h"
#include "engine/op_kernel.h"
#include "graph/quant_params.h"
#include "graph/schema.h"
#include "benchmarks/bench_support.h"
#include "kernels/quant/fake_quant.h"

using namespace qe;

namespace {

std::vector<float> random_values(int64_t n, uint64_t seed, float lo, float hi) {
  std::vector<float> v(static_cast<size_t>(n));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (auto& x : v) x = dist(rng);
  return v;
}

struct Layout {
  std::string name;
  int64_t outer, channels, inner;
};

void bm_ukernel(benchmark::State& state, Layout l, IsaLevel level) {
  kernels::IntFakeQuantFn fn = kernels::int_fake_quant_ukernel(level);
  if (!fn) {
    state.SkipWithError("ISA level not available on this machine");
    return;
  }
  const int64_t n = l.outer * l.channels * l.inner;
  std::vector<float> x = random_values(n, 1, -4.f, 4.f), y(static_cast<size_t>(n));
  std::vector<float> scale = random_values(l.channels, 2, 0.01f, 0.05f), zp(static_cast<size_t>(l.channels), 0.f);
  kernels::IntQuantArgs a;
  a.scale = scale.data();
  a.zero_point = zp.data();
  a.outer = l.outer;
  a.channels = l.channels;
  a.inner = l.inner;
  for (auto _ : state) {
    fn(x.data(), y.data(), a);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["Gelem/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
  state.SetLabel(isa_level_name(level));
}

struct OpCase {
  std::string name;
  OpKind op;
  Shape x;
  DType x_dtype = DType::kF32;
  Shape param;
  QuantKind kind = QuantKind::kInt;
  Attributes attrs;
};

std::vector<OpCase> op_cases() {
  const Shape act{1, 64, 112, 112}, weight{256, 256, 3, 3}, tok{8, 128, 768};
  Attributes axis1;
  axis1.set("axis", int64_t{1});
  Attributes axis0;
  axis0.set("axis", int64_t{0});
  return {
      {"fakequant_int8_tensor/1x64x112x112", OpKind::kFakeQuant, act, DType::kF32, Shape{}, QuantKind::kInt, {}},
      {"fakequant_int4_channel/256x256x3x3", OpKind::kFakeQuant, weight, DType::kF32, Shape{256, 1, 1, 1},
       QuantKind::kInt, {}},
      {"fakequant_int8_lastdim/8x128x768", OpKind::kFakeQuant, tok, DType::kF32, Shape{768}, QuantKind::kInt, {}},
      {"fakequant_bipolar/1x64x112x112", OpKind::kFakeQuant, act, DType::kF32, Shape{}, QuantKind::kBipolar, {}},
      {"fakequant_fp8e4m3/1x64x112x112", OpKind::kFakeQuant, act, DType::kF32, Shape{}, QuantKind::kFloat, {}},
      {"quantizelinear_u8/1x64x112x112", OpKind::kQuantizeLinear, act, DType::kF32, Shape{}, QuantKind::kInt, {}},
      {"quantizelinear_s8_axis1/1x64x112x112", OpKind::kQuantizeLinear, act, DType::kF32, Shape{64}, QuantKind::kInt,
       axis1},
      {"dequantizelinear_u8/1x64x112x112", OpKind::kDequantizeLinear, act, DType::kU8, Shape{}, QuantKind::kInt, {}},
      {"dequantizelinear_s8_axis0/256x256x3x3", OpKind::kDequantizeLinear, weight, DType::kI8, Shape{256},
       QuantKind::kInt, axis0},
  };
}

void bm_op(benchmark::State& state, const OpCase& c, int threads) {
  Graph g;
  ValueId x = g.add_value("x", c.x_dtype, c.x, true);
  g.add_input(x);
  Tensor xt(c.x_dtype, c.x);
  if (c.x_dtype == DType::kF32) {
    auto v = random_values(c.x.numel(), 3, -4.f, 4.f);
    std::copy(v.begin(), v.end(), xt.data<float>());
  } else {
    for (int64_t i = 0; i < xt.numel(); ++i) static_cast<uint8_t*>(xt.raw())[i] = static_cast<uint8_t>(i * 37);
  }
  Tensor scale = Tensor::from_vector(c.param, random_values(c.param.numel(), 4, 0.01f, 0.05f));
  ValueId y = g.add_value("y");
  NodeId n = kNoNode;
  if (c.op == OpKind::kFakeQuant) {
    QuantParams p;
    p.kind = c.kind;
    p.bits = c.kind == QuantKind::kBipolar ? 1 : (c.param.numel() > 1 && c.param.rank() == 4 ? 4 : 8);
    p.scale = scale;
    p.zero_point = Tensor(DType::kF32, c.param);
    auto out = add_fake_quant(g, x, p, "fq");
    if (!out.is_ok()) {
      state.SkipWithError(out.status().to_string().c_str());
      return;
    }
    y = *out;
    n = g.value(y).producer;
  } else {
    Tensor zp(c.x_dtype == DType::kF32 && c.param.numel() > 1 ? DType::kI8 : (c.x_dtype == DType::kF32 ? DType::kU8 : c.x_dtype),
              c.param);
    n = g.add_node(c.op, "node", {x, g.add_constant("s", scale), g.add_constant("z", zp)}, {y}, c.attrs);
  }
  g.add_output(y);
  std::vector<TensorView> in(g.node(n).inputs.size());
  in[0] = xt.view();
  for (size_t i = 1; i < in.size(); ++i) in[i] = g.value(g.node(n).inputs[i]).constant.view();
  if (bench::time_node(state, g, n, in, threads).empty()) return;
  state.counters["Gelem/s"] = benchmark::Counter(static_cast<double>(c.x.numel()),
                                                 benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

int register_all() {
  static const std::vector<Layout> layouts = {
      {"tensor/1x64x112x112", 1, 1, 64 * 112 * 112},
      {"channel/256x2304", 1, 256, 2304},
      {"lastdim/1024x768", 1024, 768, 1},
  };
  for (const Layout& l : layouts) {
    for (IsaLevel level : {IsaLevel::kScalar, IsaLevel::kAvx2, IsaLevel::kAvx512}) {
      std::string name = "ukernel_int8/" + l.name + "/" + isa_level_name(level);
      benchmark::RegisterBenchmark(name.c_str(), bm_ukernel, l, level)->Unit(benchmark::kMicrosecond);
    }
  }
  static const std::vector<OpCase> ops = op_cases();
  bench::register_thread_sweep(ops, bm_op);
  return 0;
}

const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
