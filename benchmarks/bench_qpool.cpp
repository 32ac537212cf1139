// Integer max pools and the region exit, one thread: qmax_pool at each ISA level and the scalar
// reference on the uint8 3x3 / stride-2 pools of ResNet18@224 (pad 1) and SqueezeNet 1.1
// (no padding, ceil mode), and dequantize_act against DequantizeLinear's reference on
// SqueezeNet's last activation (1000 x 13 x 13). Bytes per second count the input once.
//   bench_qpool --benchmark_filter='maxpool'
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "engine/core/cpu_features.h"
#include "kernels/int8/qpool.h"
#include "kernels/int8/quantize_act.h"
#include "kernels/quant/fake_quant.h"

using namespace qe;
using namespace qe::kernels;

namespace {

struct PoolShape {
  const char* name;
  int64_t channels, in, out, pad;
};

// 3x3 / stride-2 max pools, batch 1.
const PoolShape kPools[] = {
    {"resnet18_112", 64, 112, 56, 1},
    {"squeezenet_111", 64, 111, 55, 0},
    {"squeezenet_55", 128, 55, 27, 0},
    {"squeezenet_27", 256, 27, 13, 0},
};

std::vector<uint8_t> random_bytes(int64_t n) {
  std::vector<uint8_t> v(static_cast<size_t>(n));
  std::mt19937_64 rng(7);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

PoolParams pool_params(const PoolShape& s) {
  PoolParams p;
  p.planes = s.channels;
  p.in[1] = p.in[2] = s.in;
  p.out[1] = p.out[2] = s.out;
  p.kernel[1] = p.kernel[2] = 3;
  p.stride[1] = p.stride[2] = 2;
  p.pad[1] = p.pad[2] = s.pad;
  p.pad_end[1] = p.pad_end[2] = s.pad;
  return p;
}

// level < 0: the reference.
void bm_maxpool(benchmark::State& state, PoolShape s, int level) {
  if (level > static_cast<int>(cpu_features().level)) {
    state.SkipWithError("ISA level not available on this machine");
    return;
  }
  const PoolParams p = pool_params(s);
  const std::vector<uint8_t> x = random_bytes(p.planes * p.in_size());
  std::vector<uint8_t> y(static_cast<size_t>(p.planes * p.out_size()));
  for (auto _ : state) {
    if (level < 0) {
      qmax_pool_ref(p, false, x.data(), y.data(), 0, p.planes);
    } else {
      qmax_pool(p, false, x.data(), y.data(), 0, p.planes, static_cast<IsaLevel>(level));
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(x.size()));
  state.SetLabel(level < 0 ? "reference" : isa_level_name(static_cast<IsaLevel>(level)));
}

void bm_dequantize(benchmark::State& state, bool reference) {
  const int64_t n = 1000 * 13 * 13;
  const std::vector<uint8_t> q = random_bytes(n);
  std::vector<int32_t> qi(q.begin(), q.end());
  std::vector<float> y(static_cast<size_t>(n));
  QuantizeActArgs a;
  a.scale = 0.037f;
  a.zero_point = 3;
  for (auto _ : state) {
    if (reference) {
      dequantize_linear_ref(qi.data(), y.data(), &a.scale, &a.zero_point, 1, 1, n);
    } else {
      dequantize_act(q.data(), y.data(), n, a);
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * n);
  state.SetLabel(reference ? "dequantize_linear_ref (int32 codes)" : "dequantize_act");
}

const bool kRegistered = [] {
  for (const PoolShape& s : kPools) {
    for (int level : {-1, static_cast<int>(IsaLevel::kScalar), static_cast<int>(IsaLevel::kAvx2),
                      static_cast<int>(IsaLevel::kAvx512)}) {
      const std::string tag = level < 0 ? "ref" : isa_level_name(static_cast<IsaLevel>(level));
      benchmark::RegisterBenchmark(("maxpool/" + std::string(s.name) + "/" + tag).c_str(), bm_maxpool, s, level);
    }
  }
  benchmark::RegisterBenchmark("dequantize/squeezenet_1000x13x13/ref", bm_dequantize, true);
  benchmark::RegisterBenchmark("dequantize/squeezenet_1000x13x13/fast", bm_dequantize, false);
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
