// Integer depthwise conv (u8 in, s8 weights, u8 out, per-channel float requantization) over the
// MobileNetV2@224 depthwise shapes of test/data/shapes/qdepthwise_shapes.txt, at 1 and 2
// threads, next to the float depthwise kernel on the same shapes (int8/... and f32/... rows;
// the ratio is f32 time / int8 time). GOPS counts 2 * MACs per output (padding taps included).
// The "all" rows run every shape of the network once per iteration. Kernels are called
// directly at the machine's level (QENGINE_ISA caps it).
//   bench_qdepthwise --benchmark_filter='all'
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/core/cpu_features.h"
#include "engine/core/thread_pool.h"
#include "kernels/conv/conv_f32.h"
#include "kernels/gemm/task_phases.h"
#include "kernels/int8/qdepthwise.h"

using namespace qe;
using namespace qe::kernels;

namespace {

struct DwShape {
  std::string name;
  int64_t c, h, w, k, s, pad;
  int64_t oh() const { return (h + 2 * pad - k) / s + 1; }
  int64_t ow() const { return (w + 2 * pad - k) / s + 1; }
  double macs() const { return static_cast<double>(c * oh() * ow() * k * k); }
};

std::vector<DwShape> load_shapes() {
  const char* env = std::getenv("QENGINE_SOURCE_DIR");
  const std::string file = __FILE__;
  const std::string root = env ? env : file.substr(0, file.rfind("/benchmarks/"));
  std::ifstream f(root + "/test/data/shapes/qdepthwise_shapes.txt");
  std::vector<DwShape> v;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    DwShape s;
    if (!(in >> s.c >> s.h >> s.w >> s.k >> s.s >> s.pad)) continue;
    s.name = "dw" + std::to_string(v.size()) + "_" + std::to_string(s.c) + "x" + std::to_string(s.h) + "_k" +
             std::to_string(s.k) + "s" + std::to_string(s.s);
    v.push_back(s);
  }
  return v;
}

// One int8 layer: data, parameters and workspace.
struct QLayer {
  QDepthwiseParams p;
  std::vector<uint8_t> x, y;
  std::vector<int8_t> w;
  std::vector<int32_t> bias;
  std::vector<RequantMultiplier> mult;
  QDepthwiseOutput o;
  AlignedBuffer ws;

  QLayer(const DwShape& s, int threads) {
    p.channels = s.c;
    p.in[0] = s.h;
    p.in[1] = s.w;
    p.out[0] = s.oh();
    p.out[1] = s.ow();
    p.kernel[0] = p.kernel[1] = s.k;
    p.stride[0] = p.stride[1] = s.s;
    p.pad[0] = p.pad[1] = s.pad;
    p.in_zero_point = 7;
    std::mt19937_64 rng(1);
    x.resize(static_cast<size_t>(p.planes() * p.in_size()));
    for (auto& v : x) v = static_cast<uint8_t>(rng());
    w.resize(static_cast<size_t>(s.c * s.k * s.k));
    for (auto& v : w) v = static_cast<int8_t>(rng());
    bias.assign(static_cast<size_t>(s.c), 100);
    mult.assign(static_cast<size_t>(s.c), make_requant_multiplier(0.0007));
    y.resize(static_cast<size_t>(p.planes() * p.out_size()));
    o.type = QOutType::kU8;
    o.requant.mult = mult.data();
    o.requant.per_channel = true;
    o.requant.out = RequantOutput{10, 10, 255};  // fused Relu
    ws = AlignedBuffer(static_cast<size_t>(qdepthwise_workspace_bytes(p, threads)));
  }
  void run(ThreadPool& pool, int threads) {
    qdepthwise_run(qdepthwise_ukernel(cpu_features().level), p, x.data(), w.data(), bias.data(), o, y.data(), &pool,
                   ws.data(), threads);
  }
};

// One float layer, run the way the engine's ConvDepthwiseKernel runs it.
struct FLayer {
  ConvF32Params p;
  DepthwiseGeometry g;
  std::vector<float> x, y, w, bias;
  AlignedBuffer ws;
  int64_t stride = 0, per_task = 1;
  DepthwiseFn fn;

  FLayer(const DwShape& s, int threads) {
    p.in_channels = p.out_channels = p.group = s.c;
    p.in[1] = s.h;
    p.in[2] = s.w;
    p.out[1] = s.oh();
    p.out[2] = s.ow();
    p.kernel[1] = p.kernel[2] = s.k;
    p.stride[1] = p.stride[2] = s.s;
    p.pad[1] = p.pad[2] = s.pad;
    p.act.kind = ActKind::kRelu;
    g = plan_depthwise(p);
    std::mt19937_64 rng(2);
    std::uniform_real_distribution<float> d(-1.f, 1.f);
    x.resize(static_cast<size_t>(s.c * s.h * s.w));
    for (auto& v : x) v = d(rng);
    w.resize(static_cast<size_t>(s.c * s.k * s.k));
    for (auto& v : w) v = d(rng);
    bias.assign(static_cast<size_t>(s.c), 0.1f);
    y.resize(static_cast<size_t>(s.c * p.out_size()));
    stride = round_up(g.scratch_floats, 16);
    ws = AlignedBuffer(static_cast<size_t>(stride * threads) * sizeof(float));
    per_task = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, p.out_size()));
    if (per_task >= 16) per_task = per_task / 16 * 16;
    fn = cpu_features().level >= IsaLevel::kAvx512 ? &conv_f32_depthwise_avx512 : &conv_f32_depthwise_avx2;
  }
  void run(ThreadPool& pool, int threads) {
    const int64_t planes = p.in_channels;
    TaskPhase ph;
    ph.tasks = (planes + per_task - 1) / per_task;
    ph.run = [&](int64_t t, float* scratch) {
      const int64_t b = t * per_task, e = std::min(planes, b + per_task);
      fn(p, g, x.data(), w.data(), bias.data(), y.data(), b, e, scratch);
    };
    run_task_phases(pool, std::span<const TaskPhase>(&ph, 1), static_cast<float*>(ws.data()), stride, threads);
  }
};

template <typename Layer>
void bench_layers(benchmark::State& state, std::vector<DwShape> shapes, int threads) {
  ThreadPool pool(threads);
  std::vector<std::unique_ptr<Layer>> layers;
  double macs = 0;
  for (const DwShape& s : shapes) {
    layers.push_back(std::make_unique<Layer>(s, threads));
    macs += s.macs();
  }
  for (auto _ : state) {
    for (auto& l : layers) l->run(pool, threads);
    benchmark::ClobberMemory();
  }
  state.counters["GOPS"] = benchmark::Counter(2.0 * macs * static_cast<double>(state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
  state.SetLabel(std::is_same_v<Layer, QLayer> ? qdepthwise_ukernel_name(cpu_features().level)
                                               : (cpu_features().level >= IsaLevel::kAvx512
                                                      ? "conv_f32_depthwise_avx512"
                                                      : "conv_f32_depthwise_avx2"));
}

const bool registered = [] {
  const std::vector<DwShape> shapes = load_shapes();
  if (shapes.empty()) return false;
  std::vector<std::pair<std::string, std::vector<DwShape>>> sets;
  sets.push_back({"all", shapes});
  for (const DwShape& s : shapes) sets.push_back({s.name, {s}});
  for (const auto& [name, set] : sets) {
    for (int threads : {1, 2}) {
      const std::string suffix = name + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(("int8/" + suffix).c_str(), &bench_layers<QLayer>, set, threads)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
      if (cpu_features().level >= IsaLevel::kAvx2) {
        benchmark::RegisterBenchmark(("f32/" + suffix).c_str(), &bench_layers<FLayer>, set, threads)
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
    }
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
