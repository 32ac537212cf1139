// The part every single-op Google Benchmark shares: infer the node's shapes, bind the kernel
// qengine would choose, and time its run() with a given thread count.
#pragma once

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "engine/core/thread_pool.h"
#include "engine/op_kernel.h"
#include "graph/schema.h"

namespace qe::bench {

// Runs node `n` of `g` in the benchmark loop on `inputs` (one view per node input) and labels
// the run with the kernel's name. Returns the output tensors, or nothing after SkipWithError
// when the node cannot be bound.
inline std::vector<Tensor> time_node(benchmark::State& state, Graph& g, NodeId n, const std::vector<TensorView>& inputs,
                                     int threads) {
  Status st = infer_node(g, n);
  if (!st.is_ok()) {
    state.SkipWithError(st.to_string().c_str());
    return {};
  }
  auto bound = bind_kernel(g, n, threads);
  if (!bound.is_ok()) {
    state.SkipWithError(bound.status().to_string().c_str());
    return {};
  }
  std::vector<Tensor> ys;
  std::vector<TensorView> out;
  for (ValueId y : g.node(n).outputs) ys.emplace_back(g.value(y).dtype, g.value(y).shape);
  for (const Tensor& y : ys) out.push_back(y.view());
  AlignedBuffer ws(bound->kernel->workspace_bytes());
  ThreadPool pool(threads);
  RunContext ctx{&pool, ws.data()};
  for (auto _ : state) {
    Status s = bound->kernel->run(ctx, inputs, out);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(ys[0].raw());
  }
  state.SetLabel(bound->name);
  return ys;
}

// Registers `fn(state, c, threads)` as "<c.name>/threads:1" and ".../threads:2", real time, µs.
template <typename Case, typename Fn>
void register_thread_sweep(const std::vector<Case>& cases, Fn fn) {
  for (const Case& c : cases) {
    for (int threads : {1, 2}) {
      std::string name = c.name + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(name.c_str(), fn, c, threads)->Unit(benchmark::kMicrosecond)->UseRealTime();
    }
  }
}

}  // namespace qe::bench
