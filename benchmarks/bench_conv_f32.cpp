// Conv layers of ResNet18@224 and MobileNetV2@224 through the engine's kernel binding (the
// candidate the engine would pick, constant weights prepacked, fused ReLU), batch 1 and 8,
// 1 and 2 threads. GFLOP/s counts 2 * MACs of the dense layer (padding included); the label
// names the bound kernel. QENGINE_ISA=avx2 / scalar times the other paths.
//   bench_conv_f32 --benchmark_filter='resnet.*b1/threads:2'
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "engine/core/thread_pool.h"
#include "engine/op_kernel.h"
#include "graph/schema.h"

using namespace qe;

namespace {

Tensor random_tensor(const Shape& shape, uint64_t seed) {
  Tensor t(DType::kF32, shape);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

struct ConvShape {
  const char* name;
  int64_t cin, cout, hw, k, stride, group;
};

const std::vector<ConvShape> kShapes = {
    {"resnet18_conv1_7x7s2", 3, 64, 224, 7, 2, 1},
    {"resnet18_l1_3x3_64", 64, 64, 56, 3, 1, 1},
    {"resnet18_l2_3x3s2_128", 64, 128, 56, 3, 2, 1},
    {"resnet18_l2_ds1x1s2_128", 64, 128, 56, 1, 2, 1},
    {"resnet18_l2_3x3_128", 128, 128, 28, 3, 1, 1},
    {"resnet18_l3_3x3s2_256", 128, 256, 28, 3, 2, 1},
    {"resnet18_l3_3x3_256", 256, 256, 14, 3, 1, 1},
    {"resnet18_l4_3x3s2_512", 256, 512, 14, 3, 2, 1},
    {"resnet18_l4_3x3_512", 512, 512, 7, 3, 1, 1},
    {"mnv2_stem_3x3s2_32", 3, 32, 224, 3, 2, 1},
    {"mnv2_dw3x3_32_112", 32, 32, 112, 3, 1, 32},
    {"mnv2_pw_32x16_112", 32, 16, 112, 1, 1, 1},
    {"mnv2_pw_16x96_112", 16, 96, 112, 1, 1, 1},
    {"mnv2_dw3x3s2_96_112", 96, 96, 112, 3, 2, 96},
    {"mnv2_pw_96x24_56", 96, 24, 56, 1, 1, 1},
    {"mnv2_pw_24x144_56", 24, 144, 56, 1, 1, 1},
    {"mnv2_dw3x3_144_56", 144, 144, 56, 3, 1, 144},
    {"mnv2_pw_144x24_56", 144, 24, 56, 1, 1, 1},
    {"mnv2_dw3x3s2_144_56", 144, 144, 56, 3, 2, 144},
    {"mnv2_pw_144x32_28", 144, 32, 28, 1, 1, 1},
    {"mnv2_pw_32x192_28", 32, 192, 28, 1, 1, 1},
    {"mnv2_dw3x3_192_28", 192, 192, 28, 3, 1, 192},
    {"mnv2_pw_192x32_28", 192, 32, 28, 1, 1, 1},
    {"mnv2_pw_64x384_14", 64, 384, 14, 1, 1, 1},
    {"mnv2_dw3x3_384_14", 384, 384, 14, 3, 1, 384},
    {"mnv2_pw_384x64_14", 384, 64, 14, 1, 1, 1},
    {"mnv2_pw_96x576_14", 96, 576, 14, 1, 1, 1},
    {"mnv2_dw3x3_576_14", 576, 576, 14, 3, 1, 576},
    {"mnv2_pw_576x96_14", 576, 96, 14, 1, 1, 1},
    {"mnv2_pw_160x960_7", 160, 960, 7, 1, 1, 1},
    {"mnv2_dw3x3_960_7", 960, 960, 7, 3, 1, 960},
    {"mnv2_pw_960x160_7", 960, 160, 7, 1, 1, 1},
    {"mnv2_pw_320x1280_7", 320, 1280, 7, 1, 1, 1},
};

void bm_conv(benchmark::State& state, ConvShape s, int64_t batch, int threads) {
  Graph g;
  ValueId x = g.add_value("x", DType::kF32, Shape{batch, s.cin, s.hw, s.hw}, true);
  g.add_input(x);
  ValueId w = g.add_constant("w", random_tensor(Shape{s.cout, s.cin / s.group, s.k, s.k}, 1));
  ValueId b = g.add_constant("b", random_tensor(Shape{s.cout}, 2));
  ValueId y = g.add_value("y");
  Attributes a;
  int64_t pad = s.k / 2;
  a.set("pads", std::vector<int64_t>{pad, pad, pad, pad});
  a.set("strides", std::vector<int64_t>{s.stride, s.stride});
  a.set("group", s.group);
  a.set("_act", std::string("Relu"));
  NodeId n = g.add_node(OpKind::kConv, "conv", {x, w, b}, {y}, a);
  g.add_output(y);
  if (!infer_node(g, n).is_ok()) {
    state.SkipWithError("shape inference failed");
    return;
  }
  auto bound = bind_kernel(g, n, threads);
  if (!bound.is_ok()) {
    state.SkipWithError(bound.status().to_string().c_str());
    return;
  }
  Tensor xt = random_tensor(g.value(x).shape, 3);
  Tensor yt(DType::kF32, g.value(y).shape);
  std::vector<TensorView> in = {xt.view(), g.value(w).constant.view(), g.value(b).constant.view()};
  std::vector<TensorView> out = {yt.view()};
  AlignedBuffer ws(bound->kernel->workspace_bytes());
  ThreadPool pool(threads);
  RunContext ctx{&pool, ws.data()};
  for (auto _ : state) {
    Status st = bound->kernel->run(ctx, in, out);
    benchmark::DoNotOptimize(st);
    benchmark::DoNotOptimize(yt.raw());
  }
  const Shape& ys = g.value(y).shape;
  double macs = static_cast<double>(ys.numel()) * static_cast<double>(s.cin / s.group * s.k * s.k);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * macs, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.SetLabel(bound->name);
}

int register_all() {
  for (const ConvShape& s : kShapes) {
    for (int64_t batch : {1, 8}) {
      for (int threads : {1, 2}) {
        std::string name = std::string("conv/") + s.name + "/b" + std::to_string(batch) + "/threads:" +
                           std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(), bm_conv, s, batch, threads)
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
    }
  }
  return 0;
}

const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
