// Range observers on a ResNet-sized activation (1×64×56×56, ReLU-like and signed data): the
// cost per calibration batch of each method. GB/s counts the observed tensor's bytes once.
//   bench_observers --benchmark_filter=percentile
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "quant/observer.h"

using namespace qe;

namespace {

Tensor activation(bool relu, uint64_t seed) {
  Tensor t(DType::kF32, Shape{1, 64, 56, 56});
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const float v = d(rng);
    t.data<float>()[i] = relu ? std::max(v, 0.0f) : v;
  }
  return t;
}

void run(benchmark::State& state, RangeMethod method, Signedness sign, bool symmetric, int axis) {
  QuantSpec spec;
  spec.method = method;
  spec.sign = sign;
  spec.symmetric = symmetric;
  const Tensor x = activation(sign == Signedness::kUnsigned, 1);
  auto obs = make_range_observer(spec, axis);
  if (!obs.is_ok()) {
    state.SkipWithError(obs.status().to_string().c_str());
    return;
  }
  for (auto _ : state) {
    Status s = (*obs)->observe(x.view());
    if (!s.is_ok()) {
      state.SkipWithError(s.to_string().c_str());
      return;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(x.bytes()));
  // The once-per-calibration cost of turning the statistics into ranges (MSE and entropy
  // searches) is reported as a counter, in milliseconds.
  const auto t0 = std::chrono::steady_clock::now();
  auto r = (*obs)->ranges();
  const auto t1 = std::chrono::steady_clock::now();
  if (!r.is_ok()) state.SkipWithError(r.status().to_string().c_str());
  state.counters["ranges_ms"] = std::chrono::duration<double, std::milli>(t1 - t0).count();
}

// One calibration batch of ResNet-18 at 64×64 (batch 8): the activations a full-graph plan
// observes (input, stem, every block's ReLU / residual inputs / outputs, head), each with its
// own observer. items/s = images/s, to set against the model's inference rate.
void resnet18_batch(benchmark::State& state, RangeMethod method) {
  const int64_t batch = 8;
  std::vector<Shape> shapes = {Shape{batch, 3, 64, 64}, Shape{batch, 64, 32, 32}};
  const int64_t stages[4][2] = {{64, 16}, {128, 8}, {256, 4}, {512, 2}};
  for (const auto& st : stages) {
    for (int i = 0; i < 7; ++i) shapes.push_back(Shape{batch, st[0], st[1], st[1]});
  }
  shapes.push_back(Shape{batch, 512});
  shapes.push_back(Shape{batch, 10});
  std::vector<Tensor> acts;
  std::vector<std::unique_ptr<RangeObserver>> observers;
  int64_t bytes = 0;
  uint64_t seed = 1;
  for (const Shape& s : shapes) {
    Tensor t(DType::kF32, s);
    std::mt19937_64 rng(seed++);
    std::normal_distribution<float> d(0.0f, 1.0f);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = std::max(d(rng), 0.0f);
    bytes += static_cast<int64_t>(t.bytes());
    acts.push_back(t);
    QuantSpec spec;
    spec.method = method;
    spec.sign = Signedness::kUnsigned;
    auto o = make_range_observer(spec, -1);
    if (!o.is_ok()) {
      state.SkipWithError(o.status().to_string().c_str());
      return;
    }
    observers.push_back(std::move(o).value());
  }
  for (auto _ : state) {
    for (size_t i = 0; i < acts.size(); ++i) {
      if (!observers[i]->observe(acts[i].view()).is_ok()) {
        state.SkipWithError("observe failed");
        return;
      }
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * batch);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * bytes);
}

void register_all() {
  for (RangeMethod m : {RangeMethod::kMinMax, RangeMethod::kPercentile, RangeMethod::kMse, RangeMethod::kEntropy}) {
    benchmark::RegisterBenchmark((std::string("resnet18_64x64_batch8/") + std::string(range_method_name(m))).c_str(),
                                 [m](benchmark::State& s) { resnet18_batch(s, m); })
        ->Unit(benchmark::kMillisecond);
  }

  struct Case {
    const char* name;
    RangeMethod m;
    Signedness sign;
    bool symmetric;
    int axis;
  };
  const Case cases[] = {
      {"minmax", RangeMethod::kMinMax, Signedness::kSigned, true, -1},
      {"absmax", RangeMethod::kAbsMax, Signedness::kSigned, true, -1},
      {"percentile/unsigned", RangeMethod::kPercentile, Signedness::kUnsigned, true, -1},
      {"percentile/signed", RangeMethod::kPercentile, Signedness::kSigned, true, -1},
      {"percentile/asymmetric", RangeMethod::kPercentile, Signedness::kSigned, false, -1},
      {"mse/signed", RangeMethod::kMse, Signedness::kSigned, true, -1},
      {"mse/unsigned", RangeMethod::kMse, Signedness::kUnsigned, true, -1},
      {"entropy/signed", RangeMethod::kEntropy, Signedness::kSigned, true, -1},
      {"minmax/per_channel", RangeMethod::kMinMax, Signedness::kSigned, true, 1},
      {"percentile/per_channel", RangeMethod::kPercentile, Signedness::kUnsigned, true, 1},
  };
  for (const Case& c : cases) {
    benchmark::RegisterBenchmark((std::string("observe/") + c.name).c_str(),
                                 [c](benchmark::State& s) { run(s, c.m, c.sign, c.symmetric, c.axis); })
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
