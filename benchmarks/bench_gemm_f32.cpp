// Float GEMM throughput on the GEMM shapes of ResNet18@224 and MobileNetV2@224 convolutions
// (M = output channels, K = Cin * kh * kw, N = output positions of one image) and on fully
// connected shapes. Counters report GFLOP/s. Run with QENGINE_ISA=avx2 to time the AVX2 family.
//   bench_gemm_f32 --benchmark_filter=resnet
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "engine/core/cpu_features.h"
#include "engine/core/thread_pool.h"
#include "kernels/gemm/gemm_f32.h"


using namespace qe;
using namespace qe::kernels;

namespace {

struct GemmShape {
  const char* name;
  int64_t M, N, K;
};

// Conv-like shapes: weights A (M x K) prepacked, activations B (K x N) read in place (full
// panels) as the pointwise conv path does. FC shapes (M = batch): weights B prepacked, A packed
// per call.
const std::vector<GemmShape> kShapes = {
    {"resnet18_conv1_7x7s2", 64, 12544, 147},
    {"resnet18_l1_3x3", 64, 3136, 576},
    {"resnet18_l2_3x3s2", 128, 784, 576},
    {"resnet18_l2_3x3", 128, 784, 1152},
    {"resnet18_l2_ds1x1", 128, 784, 64},
    {"resnet18_l3_3x3", 256, 196, 2304},
    {"resnet18_l4_3x3", 512, 49, 4608},
    {"mnv2_expand_24x144_56", 144, 3136, 24},
    {"mnv2_project_144x24_56", 24, 3136, 144},
    {"mnv2_expand_64x384_14", 384, 196, 64},
    {"mnv2_project_960x160_7", 160, 49, 960},
    {"mnv2_last_320x1280_7", 1280, 49, 320},
    {"fc_1280x1000_b1", 1, 1000, 1280},
    {"fc_512x10_b8", 8, 10, 512},
};

void bm_packed_gemm(benchmark::State& state, GemmShape s, int threads) {
  const GemmF32Config* cfg = gemm_f32_config();
  if (!cfg) {
    state.SkipWithError("no SIMD GEMM at this ISA level");
    return;
  }
  std::vector<float> a(static_cast<size_t>(s.M * s.K), 0.5f), b(static_cast<size_t>(s.K * s.N), 0.25f);
  std::vector<float> c(static_cast<size_t>(s.M * s.N)), bias(static_cast<size_t>(s.M), 0.1f);
  ThreadPool pool(threads);
  GemmTiling t = plan_gemm_tiling(*cfg, s.M, s.N, s.K, 1, threads);
  const bool fc = s.M <= 8;
  std::vector<float> a_packed(static_cast<size_t>(packed_size(s.M, s.K, cfg->mr)));
  std::vector<float> b_packed(static_cast<size_t>(packed_size(s.N, s.K, cfg->nr)));
  MatrixPacker a_packer(a.data(), s.K, false);
  PackedGemm g;
  g.cfg = cfg;
  g.M = s.M;
  g.N = s.N;
  g.K = s.K;
  if (fc) {
    pack_operand(b.data(), s.N, true, s.N, s.K, cfg->nr, t.kc, 1.f, b_packed.data());
    g.a_packer = &a_packer;
    g.b_packed = b_packed.data();
  } else {
    pack_operand(a.data(), s.K, false, s.M, s.K, cfg->mr, t.kc, 1.f, a_packed.data());
    g.a_packed = a_packed.data();
    g.b_direct = b.data();
    g.ldb = s.N;
  }
  int64_t per = round_up(gemm_tile_scratch_floats(t, fc, !fc), 16);
  std::vector<float> scratch(static_cast<size_t>(per * threads));
  g.c = c.data();
  g.ldc = s.N;
  g.ep.row_bias = fc ? nullptr : bias.data();
  g.ep.act.kind = ActKind::kRelu;
  for (auto _ : state) {
    gemm_f32_run(pool, g, t, scratch.data(), per, threads);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * s.M * s.N * s.K, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.SetLabel(cfg->name);
}

// The microkernel alone on L1-resident panels (its ceiling; machine peak is 2 FMA x 16 lanes
// per cycle and core with AVX-512).
void bm_ukernel(benchmark::State& state, IsaLevel level) {
  const GemmF32Config* cfg = cpu_features().level >= level ? gemm_f32_config(level) : nullptr;
  if (!cfg) {
    state.SkipWithError("ISA level not available");
    return;
  }
  const int64_t kc = state.range(0);
  std::vector<float> a(static_cast<size_t>(kc * cfg->mr), 0.01f), b(static_cast<size_t>(kc * cfg->nr), 0.02f);
  std::vector<float> c(static_cast<size_t>(cfg->mr * cfg->nr));
  Activation act;
  GemmTileArgs args{kc, a.data(), cfg->mr, b.data(), cfg->nr, c.data(), cfg->nr, cfg->mr, cfg->nr, false, true,
                    nullptr, nullptr, &act};
  for (auto _ : state) {
    cfg->ukernel->tile(args);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * kc * cfg->mr * cfg->nr,
                                                 benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.SetLabel(cfg->name);
}

int register_all() {
  for (IsaLevel level : {IsaLevel::kAvx2, IsaLevel::kAvx512}) {
    benchmark::RegisterBenchmark((std::string("gemm_f32_ukernel/") + isa_level_name(level)).c_str(), bm_ukernel, level)
        ->Arg(64)
        ->Arg(256)
        ->Arg(576);
  }
  for (const GemmShape& s : kShapes) {
    for (int threads : {1, 2}) {
      benchmark::RegisterBenchmark((std::string("gemm_f32/") + s.name + "/threads:" + std::to_string(threads)).c_str(),
                                   bm_packed_gemm, s, threads)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
  }
  return 0;
}

const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
