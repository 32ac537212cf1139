// HAWQ-V3 bit allocation (GLPK integer program) on a ResNet18-sized problem (21 layers with
// ResNet18/ImageNet parameters and MACs, choices {2, 4, 8}, first and last layer pinned at 8,
// downsample convs tied) under all three budgets or one, and on a 100-layer problem. HAWQ
// needs a solve well under a second for ResNet18.
//   bench_bit_allocation --benchmark_filter=resnet18
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "quant/mixed/bit_allocation.h"

using namespace qe;

namespace {

struct LayerShape {
  const char* name;
  double params, macs;
};

// torchvision resnet18 at 224×224 (1.814 GMACs), in the order ONNX export lists the layers.
const LayerShape kResNet18[] = {
    {"conv1", 9408, 118013952},
    {"layer1.0.conv1", 36864, 115605504},   {"layer1.0.conv2", 36864, 115605504},
    {"layer1.1.conv1", 36864, 115605504},   {"layer1.1.conv2", 36864, 115605504},
    {"layer2.0.conv1", 73728, 57802752},    {"layer2.0.conv2", 147456, 115605504},
    {"layer2.0.downsample", 8192, 6422528}, {"layer2.1.conv1", 147456, 115605504},
    {"layer2.1.conv2", 147456, 115605504},  {"layer3.0.conv1", 294912, 57802752},
    {"layer3.0.conv2", 589824, 115605504},  {"layer3.0.downsample", 32768, 6422528},
    {"layer3.1.conv1", 589824, 115605504},  {"layer3.1.conv2", 589824, 115605504},
    {"layer4.0.conv1", 1179648, 57802752},  {"layer4.0.conv2", 2359296, 115605504},
    {"layer4.0.downsample", 131072, 6422528}, {"layer4.1.conv1", 2359296, 115605504},
    {"layer4.1.conv2", 2359296, 115605504}, {"fc", 512000, 512000},
};

// Costs in the cost model's form: size = params·b/8, BOPS = MACs·b² (weights and the activation
// read at b), latency ∝ MACs with int4/int2 speed-ups and noise, and a HAWQ-like sensitivity
// (Hessian trace × quantization noise, which falls ~4× per extra bit).
LayerOptionCosts costs(double params, double macs, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  const double trace = std::exp(6 * u(rng) - 3);
  const double noise = 1 + 0.1 * u(rng);
  LayerOptionCosts c;
  for (int b : {2, 4, 8}) {
    c.bits.push_back(b);
    c.size_bytes.push_back(params * b / 8);
    c.bops.push_back(macs * b * b);
    c.latency.push_back(macs * 1e-9 * (b == 2 ? 0.4 : b == 4 ? 0.55 : 1.0) * noise);
    c.sensitivity.push_back(trace * params * std::pow(4.0, -b));
  }
  return c;
}

std::optional<Budget> half() { return Budget{0.5, std::nullopt}; }

AllocationProblem resnet18(bool all_budgets) {
  std::mt19937_64 rng(18);
  AllocationProblem p;
  for (const LayerShape& l : kResNet18) {
    p.names.push_back(l.name);
    p.layers.push_back(costs(l.params, l.macs, rng));
  }
  p.ties = {{5, 7}, {10, 12}, {15, 17}};  // downsample convs read their block's input
  p.pinned_bits = {{0, 8}, {20, 8}};
  p.size = half();
  if (all_budgets) {
    p.bops = half();
    p.latency = half();
  }
  return p;
}

AllocationProblem hundred_layers(bool all_budgets) {
  std::mt19937_64 rng(100);
  std::uniform_real_distribution<double> u(0, 1);
  AllocationProblem p;
  for (int i = 0; i < 100; ++i) {
    p.names.push_back("layer" + std::to_string(i));
    p.layers.push_back(costs(std::floor(1e4 * std::exp(5 * u(rng))), std::floor(1e6 * std::exp(5 * u(rng))), rng));
  }
  for (size_t i = 10; i + 2 < 100; i += 15) p.ties.push_back({i, i + 2});
  p.pinned_bits = {{0, 8}, {99, 8}};
  p.size = half();
  if (all_budgets) {
    p.bops = half();
    p.latency = half();
  }
  return p;
}

void solve(benchmark::State& state, const AllocationProblem& p) {
  Allocation last;
  for (auto _ : state) {
    Result<Allocation> a = solve_bit_allocation(p);
    if (!a.is_ok()) {
      state.SkipWithError(a.status().to_string().c_str());
      return;
    }
    last = std::move(a).value();
    benchmark::DoNotOptimize(last.sensitivity);
  }
  state.counters["sensitivity"] = last.sensitivity;
  state.counters["size_MB"] = last.size_bytes / 1e6;
  state.counters["GBOPs"] = last.bops / 1e9;
}

void random_baseline(benchmark::State& state, const AllocationProblem& p) {
  Allocation last;
  uint64_t seed = 0;
  for (auto _ : state) {
    Result<Allocation> a = random_allocation(p, ++seed);
    if (!a.is_ok()) {
      state.SkipWithError(a.status().to_string().c_str());
      return;
    }
    last = std::move(a).value();
    benchmark::DoNotOptimize(last.sensitivity);
  }
  state.counters["sensitivity"] = last.sensitivity;
}

void BM_resnet18_size_bops_latency(benchmark::State& s) { solve(s, resnet18(true)); }
void BM_resnet18_size_only(benchmark::State& s) { solve(s, resnet18(false)); }
void BM_resnet18_random_baseline(benchmark::State& s) { random_baseline(s, resnet18(true)); }
void BM_100_layers_size_bops_latency(benchmark::State& s) { solve(s, hundred_layers(true)); }
void BM_100_layers_size_only(benchmark::State& s) { solve(s, hundred_layers(false)); }

}  // namespace

BENCHMARK(BM_resnet18_size_bops_latency)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_resnet18_size_only)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_resnet18_random_baseline)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_100_layers_size_bops_latency)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_100_layers_size_only)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
