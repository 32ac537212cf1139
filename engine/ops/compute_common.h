// Pieces shared by the compute-family bindings (engine/ops/compute.cpp, engine/ops/conv.cpp).
#pragma once

#include "engine/core/cpu_features.h"
#include "engine/op_kernel.h"
#include "kernels/gemm/gemm_f32.h"

namespace qe {

void register_conv_kernels(KernelRegistry& r);  // Conv, ConvTranspose (engine/ops/conv.cpp)

// The GEMM microkernel family of ISA `level`, or a decline naming why it cannot run here.
inline Result<const kernels::GemmF32Config*> gemm_config_for(IsaLevel level) {
  if (cpu_features().level < level) {
    return decline("needs ", isa_level_name(level), ", this machine runs at ", isa_level_name(cpu_features().level));
  }
  const kernels::GemmF32Config* cfg = kernels::gemm_f32_config(level);
  if (!cfg) return decline("no GEMM microkernel for ", isa_level_name(level));
  return cfg;
}

// Threads worth using for `macs` multiply-adds. Joining a parallel region waits for every
// worker to check in, and a worker that went to sleep between ops (ThreadPool spins only ~20
// us) takes ~50 us to wake on the KVM test machine: more than the whole of a layer below ~1M
// MACs (MobileNet's squeeze-excite convs, FC layers at batch 1), so those run serially.
inline int threads_for_work(int64_t macs, int available) {
  constexpr int64_t kSerialMacs = int64_t{1} << 20;
  return macs < kSerialMacs ? 1 : available;
}

// Workspace of a packed GEMM run: one scratch slot per thread.
struct GemmWorkspace {
  int64_t floats_per_slot = 0;
  int slots = 1;
  size_t bytes() const {
    return static_cast<size_t>(kernels::round_up(floats_per_slot, 16) * slots) * sizeof(float);
  }
  int64_t stride() const { return kernels::round_up(floats_per_slot, 16); }
};

}  // namespace qe
