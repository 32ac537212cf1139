// Integer GEMM throughput against this machine's measured int8 peak, on the GEMM shapes of
// ResNet18@224 and MobileNetV2@224 (test/data/shapes/qgemm_shapes.txt), with the float GEMM on
// the same shapes for the ratio.
//   vnni_peak:   a register-only loop of independent vpdpbusd; 1 op = 1 multiply or 1 add, so
//                one 512-bit vpdpbusd = 64 multiplies + 64 adds = 128 ops.
//   qgemm_int8 / qgemm_int4: kConv shapes read B [K x N] through the matrix packer (as a
//                pointwise conv does; im2col not included), kFc shapes X [M x K]; uint8 out.
//   gemm_f32:    the packed float GEMM as the float conv uses it (weights prepacked, B in place).
//   qconv:       the int8 conv with its real geometry (im2col packing included) on the k x k and
//                strided 1x1 convs of ResNet18@224 and MobileNetV2@224's stem, int8 weights.
//   qim2col:     the im2col packer alone on the qconv shapes, AVX-512 interleave vs VBMI permute.
//   gemv_int4_vs_int8: kFc at M = 1, K = N = 4096 on one thread, both weight types in turn;
//                int4_speedup = int8 time / int4 time (int4 reads half the weight bytes). /warm:
//                each call timed after two untimed ones (weights in L3); /cold: the caches
//                are flushed by streaming 96 MB before each timed call (weights from DRAM, as in
//                a model too large for the cache).
// Counters: GOPS, and frac_peak = GOPS / (peak per core x threads).
//   bench_qgemm [--shapes=FILE] [google benchmark flags]   (QENGINE_ISA caps the qgemm family)
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/core/cpu_features.h"
#include "engine/core/tensor.h"
#include "engine/core/thread_pool.h"
#include "kernels/gemm/gemm_f32.h"
#include "kernels/int8/qconv.h"
#include "kernels/int8/qgemm.h"

using namespace qe;
using namespace qe::kernels;

namespace {

double g_peak_gops = 0.0;  // per core

// 24 independent accumulators (more than latency x throughput), written in asm so that the
// compiler can neither spill them nor drop the work.
#define QE_DP(i) "vpdpbusd %%zmm31, %%zmm30, %%zmm" #i "\n\t"
__attribute__((target("avx512f,avx512vnni"), noinline)) int64_t vnni_loop(int64_t iters) {
  int64_t n = iters;
  asm volatile(
      "vpternlogd $0xff, %%zmm30, %%zmm30, %%zmm30\n\t"
      "vpternlogd $0xff, %%zmm31, %%zmm31, %%zmm31\n\t"
      "1:\n\t" QE_DP(0) QE_DP(1) QE_DP(2) QE_DP(3) QE_DP(4) QE_DP(5) QE_DP(6) QE_DP(7) QE_DP(8) QE_DP(9)
          QE_DP(10) QE_DP(11) QE_DP(12) QE_DP(13) QE_DP(14) QE_DP(15) QE_DP(16) QE_DP(17) QE_DP(18) QE_DP(19)
              QE_DP(20) QE_DP(21) QE_DP(22) QE_DP(23) "dec %0\n\t"
                                                       "jnz 1b\n\t"
      : "+r"(n)
      :
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
        "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm30",
        "xmm31", "cc");
  return n;
}
#undef QE_DP

double measure_peak() {
  if (!cpu_features().avx512_vnni) return 0.0;
  double best = 0.0;
  // Best of several short runs: the machine is shared, the peak is what one core can do.
  const int64_t iters = 400000;
  for (int rep = 0; rep < 15; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(vnni_loop(iters));
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(iters) * 24 * 128 / s * 1e-9);
  }
  return best;
}

void bm_vnni_peak(benchmark::State& state) {
  if (!cpu_features().avx512_vnni) {
    state.SkipWithError("no AVX-512 VNNI");
    return;
  }
  const int64_t iters = 100000;
  for (auto _ : state) benchmark::DoNotOptimize(vnni_loop(iters));
  state.counters["GOPS"] =
      benchmark::Counter(static_cast<double>(iters) * 24 * 128 * 1e-9 * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

struct GemmShape {
  bool fc;
  int64_t M, N, K;
  std::string name;
};

std::vector<GemmShape> read_shapes(const std::string& path) {
  std::ifstream f(path);
  std::vector<GemmShape> v;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream is(line);
    std::string form;
    GemmShape s;
    if (is >> form >> s.M >> s.N >> s.K >> s.name) {
      s.fc = form == "fc";
      v.push_back(s);
    }
  }
  return v;
}

void set_counters(benchmark::State& state, const GemmShape& s, int threads) {
  const double ops = 2.0 * static_cast<double>(s.M) * static_cast<double>(s.N) * static_cast<double>(s.K);
  state.counters["GOPS"] = benchmark::Counter(ops * 1e-9 * static_cast<double>(state.iterations()),
                                              benchmark::Counter::kIsRate);
  if (g_peak_gops > 0) {
    state.counters["frac_peak"] = benchmark::Counter(
        ops * 1e-9 * static_cast<double>(state.iterations()) / (g_peak_gops * threads), benchmark::Counter::kIsRate);
  }
}

void bm_qgemm(benchmark::State& state, GemmShape s, QWeightType wt, int threads) {
  const QGemmIsa* isa = qgemm_isa();
  const QForm form = s.fc ? QForm::kFc : QForm::kConv;
  const int64_t channels = s.fc ? s.N : s.M;
  std::vector<uint8_t> wbytes(static_cast<size_t>(wt == QWeightType::kInt8 ? channels * s.K : (channels * s.K + 1) / 2));
  for (size_t i = 0; i < wbytes.size(); ++i) wbytes[i] = static_cast<uint8_t>(i * 2654435761u >> 13);
  QWeightsSrc src;
  src.type = wt;
  src.data = wbytes.data();
  src.ld = s.fc ? s.N : s.K;
  src.k_major = s.fc;
  PackedQWeights pw = pack_qweights(form, channels, s.K, src);
  std::vector<uint8_t> act(static_cast<size_t>(s.fc ? s.M * s.K : s.K * s.N));
  for (size_t i = 0; i < act.size(); ++i) act[i] = static_cast<uint8_t>(i * 40503u >> 7);
  std::vector<uint8_t> c(static_cast<size_t>(s.M * s.N));
  std::vector<int32_t> bias(static_cast<size_t>(channels), 100);
  std::vector<RequantMultiplier> mult(static_cast<size_t>(channels), make_requant_multiplier(1.0 / 4096));
  QGemmArgs g;
  g.form = form;
  g.M = s.M;
  g.N = s.N;
  g.K = s.K;
  g.act = act.data();
  g.ld_act = s.fc ? s.K : s.N;
  g.act_zero_point = 128;
  g.bias = bias.data();
  g.out.kind = QOutKind::kRequant;
  g.out.requant.mode = RequantMode::kFixedPoint;
  g.out.requant.mult = mult.data();
  g.out.requant.per_channel = true;
  g.out.requant.out = {0, 0, 255};
  g.c = c.data();
  g.ldc = s.N;
  ThreadPool pool(threads);
  QGemmPlan plan = plan_qgemm(*isa, form, s.M, s.N, s.K, 1, threads, wt);
  AlignedBuffer scratch(static_cast<size_t>(plan.scratch_bytes()));
  for (auto _ : state) {
    qgemm_packed(pool, plan, pw, g, static_cast<uint8_t*>(scratch.data()));
    benchmark::DoNotOptimize(c.data());
  }
  set_counters(state, s, threads);
  state.SetLabel(isa->name);
}

void bm_gemm_f32(benchmark::State& state, GemmShape s, int threads) {
  const GemmF32Config* cfg = gemm_f32_config();
  if (!cfg) {
    state.SkipWithError("no SIMD float GEMM at this ISA level");
    return;
  }
  std::vector<float> a(static_cast<size_t>(s.M * s.K), 0.5f), b(static_cast<size_t>(s.K * s.N), 0.25f);
  std::vector<float> c(static_cast<size_t>(s.M * s.N)), bias(static_cast<size_t>(s.M), 0.1f);
  ThreadPool pool(threads);
  GemmTiling t = plan_gemm_tiling(*cfg, s.M, s.N, s.K, 1, threads);
  std::vector<float> a_packed(static_cast<size_t>(packed_size(s.M, s.K, cfg->mr)));
  std::vector<float> b_packed(static_cast<size_t>(packed_size(s.N, s.K, cfg->nr)));
  MatrixPacker a_packer(a.data(), s.K, false);
  PackedGemm g;
  g.cfg = cfg;
  g.M = s.M;
  g.N = s.N;
  g.K = s.K;
  if (s.fc) {
    pack_operand(b.data(), s.N, true, s.N, s.K, cfg->nr, t.kc, 1.f, b_packed.data());
    g.a_packer = &a_packer;
    g.b_packed = b_packed.data();
  } else {
    pack_operand(a.data(), s.K, false, s.M, s.K, cfg->mr, t.kc, 1.f, a_packed.data());
    g.a_packed = a_packed.data();
    g.b_direct = b.data();
    g.ldb = s.N;
  }
  const int64_t per = round_up(gemm_tile_scratch_floats(t, s.fc, !s.fc), 16);
  std::vector<float> scratch(static_cast<size_t>(per * threads));
  g.c = c.data();
  g.ldc = s.N;
  g.ep.row_bias = s.fc ? nullptr : bias.data();
  for (auto _ : state) {
    gemm_f32_run(pool, g, t, scratch.data(), per, threads);
    benchmark::DoNotOptimize(c.data());
  }
  set_counters(state, s, threads);
  state.SetLabel(cfg->name);
}

struct ConvShape {
  std::string name;
  int64_t cin, cout, hw, k, stride, pad;
};

const ConvShape kConvShapes[] = {
    {"resnet18_conv1_7x7s2", 3, 64, 224, 7, 2, 3},    {"resnet18_l1_3x3", 64, 64, 56, 3, 1, 1},
    {"resnet18_l2_3x3s2", 64, 128, 56, 3, 2, 1},      {"resnet18_l2_3x3", 128, 128, 28, 3, 1, 1},
    {"resnet18_l2_ds1x1s2", 64, 128, 56, 1, 2, 0},    {"resnet18_l3_3x3s2", 128, 256, 28, 3, 2, 1},
    {"resnet18_l3_3x3", 256, 256, 14, 3, 1, 1},       {"resnet18_l3_ds1x1s2", 128, 256, 28, 1, 2, 0},
    {"resnet18_l4_3x3s2", 256, 512, 14, 3, 2, 1},     {"resnet18_l4_3x3", 512, 512, 7, 3, 1, 1},
    {"resnet18_l4_ds1x1s2", 256, 512, 14, 1, 2, 0},   {"mnv2_stem_3x3s2", 3, 32, 224, 3, 2, 1},
};

QConvParams conv_params(const ConvShape& s) {
  QConvParams p;
  p.in_channels = s.cin;
  p.out_channels = s.cout;
  p.in[1] = p.in[2] = s.hw;
  p.kernel[1] = p.kernel[2] = s.k;
  p.stride[1] = p.stride[2] = s.stride;
  p.pad[1] = p.pad[2] = s.pad;
  for (int i = 1; i < 3; ++i) p.out[i] = (p.in[i] + 2 * p.pad[i] - p.kernel[i]) / p.stride[i] + 1;
  return p;
}

void bm_qconv(benchmark::State& state, ConvShape s, int threads) {
  const QConvParams p = conv_params(s);
  const int64_t K = p.gemm_k();
  std::vector<uint8_t> wbytes(static_cast<size_t>(s.cout * K));
  for (size_t i = 0; i < wbytes.size(); ++i) wbytes[i] = static_cast<uint8_t>(i * 2654435761u >> 13);
  QWeightsSrc src;
  src.data = wbytes.data();
  src.ld = K;
  QConvWeights pw = pack_qconv_weights(p, src);
  std::vector<uint8_t> x(static_cast<size_t>(s.cin * p.in_size()));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint8_t>(i * 40503u >> 7);
  QConvInput in;
  in.x = x.data();
  in.zero_point = 7;
  std::vector<uint8_t> y(static_cast<size_t>(s.cout * p.out_size()));
  std::vector<int32_t> bias(static_cast<size_t>(s.cout), 100);
  std::vector<RequantMultiplier> mult(static_cast<size_t>(s.cout), make_requant_multiplier(1.0 / 4096));
  QOutput out;
  out.requant.mode = RequantMode::kFixedPoint;
  out.requant.mult = mult.data();
  out.requant.per_channel = true;
  out.requant.out = {0, 0, 255};
  ThreadPool pool(threads);
  QConvPlan plan = plan_qconv(p, threads);
  AlignedBuffer scratch(static_cast<size_t>(plan.scratch_bytes()));
  for (auto _ : state) {
    qconv(plan, pool, pw, in, bias.data(), out, y.data(), static_cast<uint8_t*>(scratch.data()));
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, GemmShape{false, s.cout, p.out_size(), K, s.name}, threads);
  state.SetLabel(qgemm_isa()->name);
}

// The im2col packer alone, over one image in the pixel ranges of the conv's GEMM tasks (1 thread),
// in its AVX-512 interleave form or its VBMI byte-permute form. GB/s = packed bytes per second.
void bm_qim2col(benchmark::State& state, ConvShape s, bool permute) {
  if (permute && !(cpu_features().avx512 && cpu_features().avx512_vbmi)) {
    state.SkipWithError("no AVX-512 VBMI");
    return;
  }
  const QConvParams p = conv_params(s);
  std::vector<uint8_t> x(static_cast<size_t>(s.cin * p.in_size()));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint8_t>(i * 40503u >> 7);
  QConvInput in;
  in.x = x.data();
  in.zero_point = 7;
  QConvPlan plan = plan_qconv(p, 1);
  plan.pack_permute = permute;
  const QIm2colPacker packer(plan, in);
  const int64_t quads = plan.gemm.quads, P = p.out_size(), nc = plan.gemm.nc;
  AlignedBuffer buf(static_cast<size_t>((nc + 15) / 16 * quads * 64));
  for (auto _ : state) {
    for (int64_t r0 = 0; r0 < P; r0 += nc) packer.pack(0, r0, std::min(nc, P - r0), quads, static_cast<uint8_t*>(buf.data()));
    benchmark::DoNotOptimize(buf.data());
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>((P + 15) / 16 * 16 * quads * 4) * 1e-9 *
                                                  static_cast<double>(state.iterations()),
                                              benchmark::Counter::kIsRate);
}

// One kFc GEMV setup per weight type.
struct Gemv {
  PackedQWeights w;
  QGemmPlan plan;
  AlignedBuffer scratch;
  std::vector<uint8_t> bytes;
};

void bm_gemv_int4_vs_int8(benchmark::State& state, bool cold) {
  const int64_t K = 4096, N = 4096;
  const QGemmIsa* isa = qgemm_isa();
  std::vector<uint8_t> x(static_cast<size_t>(K));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint8_t>(i * 40503u >> 7);
  std::vector<int32_t> bias(static_cast<size_t>(N), 100);
  std::vector<RequantMultiplier> mult(static_cast<size_t>(N), make_requant_multiplier(1.0 / 4096));
  std::vector<uint8_t> c(static_cast<size_t>(N));
  QGemmArgs g;
  g.form = QForm::kFc;
  g.M = 1;
  g.N = N;
  g.K = K;
  g.act = x.data();
  g.ld_act = K;
  g.act_zero_point = 128;
  g.bias = bias.data();
  g.out.requant.mode = RequantMode::kFixedPoint;
  g.out.requant.mult = mult.data();
  g.out.requant.per_channel = true;
  g.out.requant.out = {0, 0, 255};
  g.c = c.data();
  g.ldc = N;
  Gemv v[2];
  for (int t = 0; t < 2; ++t) {
    const QWeightType wt = t == 0 ? QWeightType::kInt8 : QWeightType::kInt4;
    v[t].bytes.resize(static_cast<size_t>(wt == QWeightType::kInt8 ? N * K : N * K / 2));
    for (size_t i = 0; i < v[t].bytes.size(); ++i) v[t].bytes[i] = static_cast<uint8_t>(i * 2654435761u >> 13);
    QWeightsSrc src;
    src.type = wt;
    src.data = v[t].bytes.data();
    src.ld = N;
    src.k_major = true;
    v[t].w = pack_qweights(QForm::kFc, N, K, src);
    v[t].plan = plan_qgemm(*isa, QForm::kFc, 1, N, K, 1, 1, wt);
    v[t].scratch = AlignedBuffer(static_cast<size_t>(v[t].plan.scratch_bytes()));
  }
  ThreadPool pool(1);
  std::vector<uint8_t> flush(cold ? size_t{96} << 20 : 0, 1);
  double sec[2] = {0, 0};
  for (auto _ : state) {
    double both = 0;
    for (int t = 0; t < 2; ++t) {
      if (cold) {
        uint64_t sum = 0;
        for (size_t i = 0; i < flush.size(); i += 64) sum += flush[i]++;
        benchmark::DoNotOptimize(sum);
      } else {
        for (int rep = 0; rep < 2; ++rep) {
          qgemm_packed(pool, v[t].plan, v[t].w, g, static_cast<uint8_t*>(v[t].scratch.data()));
        }
      }
      auto t0 = std::chrono::steady_clock::now();
      qgemm_packed(pool, v[t].plan, v[t].w, g, static_cast<uint8_t*>(v[t].scratch.data()));
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      sec[t] += dt;
      both += dt;
      benchmark::DoNotOptimize(c.data());
    }
    state.SetIterationTime(both);
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["int8_us"] = sec[0] / it * 1e6;
  state.counters["int4_us"] = sec[1] / it * 1e6;
  state.counters["int4_speedup"] = sec[0] / sec[1];
  state.SetLabel(isa->name);
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = std::string(__FILE__);
  path = path.substr(0, path.rfind('/'));
  path = path.substr(0, path.rfind('/')) + "/test/data/shapes/qgemm_shapes.txt";
  if (const char* dir = std::getenv("QENGINE_SOURCE_DIR")) path = std::string(dir) + "/test/data/shapes/qgemm_shapes.txt";
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (!std::strncmp(argv[i], "--shapes=", 9)) {
      path = argv[i] + 9;
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  std::vector<GemmShape> shapes = read_shapes(path);
  if (shapes.empty()) {
    std::fprintf(stderr, "bench_qgemm: no shapes in %s\n", path.c_str());
    return 2;
  }
  g_peak_gops = measure_peak();
  std::printf("int8 VNNI peak per core: %.1f GOP/s (%s)\n", g_peak_gops, cpu_features_string().c_str());
  benchmark::RegisterBenchmark("vnni_peak", bm_vnni_peak)->Unit(benchmark::kMicrosecond);
  for (const GemmShape& s : shapes) {
    for (int threads : {1, 2}) {
      const std::string suffix = "/" + s.name + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(("qgemm_int8" + suffix).c_str(), bm_qgemm, s, QWeightType::kInt8, threads)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
      benchmark::RegisterBenchmark(("qgemm_int4" + suffix).c_str(), bm_qgemm, s, QWeightType::kInt4, threads)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
      benchmark::RegisterBenchmark(("gemm_f32" + suffix).c_str(), bm_gemm_f32, s, threads)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
  }
  for (const ConvShape& s : kConvShapes) {
    for (int threads : {1, 2}) {
      benchmark::RegisterBenchmark(("qconv/" + s.name + "/threads:" + std::to_string(threads)).c_str(), bm_qconv, s,
                                   threads)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
  }
  for (const ConvShape& s : kConvShapes) {
    for (bool permute : {false, true}) {
      benchmark::RegisterBenchmark(("qim2col/" + s.name + (permute ? "/permute" : "/interleave")).c_str(), bm_qim2col,
                                   s, permute)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  for (bool cold : {false, true}) {
    benchmark::RegisterBenchmark(cold ? "gemv_int4_vs_int8/M:1/K:4096/N:4096/cold" : "gemv_int4_vs_int8/M:1/K:4096/N:4096/warm",
                                 bm_gemv_int4_vs_int8, cold)
        ->Unit(benchmark::kMicrosecond)
        ->UseManualTime();
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
