// ConvTranspose through the packed GEMM and a col2im scatter (see conv_f32.h).
#include <algorithm>

#include "engine/core/thread_pool.h"
#include "kernels/conv/conv_f32.h"
#include "kernels/gemm/task_phases.h"

namespace qe::kernels {

ConvTransposeGemmPlan plan_conv_transpose_gemm(const GemmF32Config& cfg, const ConvF32Params& p, int num_threads) {
  ConvTransposeGemmPlan plan;
  plan.cfg = &cfg;
  plan.p = p;
  plan.M = p.out_channels / p.group * p.kernel_size();
  plan.N = p.in_size();
  plan.K = p.in_channels / p.group;
  plan.tiling = plan_gemm_tiling(cfg, plan.M, plan.N, plan.K, p.group, num_threads);
  plan.slots = std::max(1, num_threads);
  plan.slot_stride = round_up(gemm_tile_scratch_floats(plan.tiling, false, true), 16);
  plan.cols_floats = round_up(p.group * plan.M * plan.N, 16);
  return plan;
}

int64_t conv_transpose_packed_weights_floats(const ConvTransposeGemmPlan& plan) {
  return packed_size(plan.M, plan.K, plan.cfg->mr) * plan.p.group;
}

void conv_transpose_pack_weights(const ConvTransposeGemmPlan& plan, const float* w, float* dst) {
  // W is [Cin, Cout_g, k...]: group g's block is Cin_g rows of M floats, so element (m, k) of
  // W_g^T is at w_g[k * M + m] (k-major).
  const int64_t per_group = packed_size(plan.M, plan.K, plan.cfg->mr);
  for (int64_t g = 0; g < plan.p.group; ++g) {
    pack_operand(w + g * plan.K * plan.M, plan.M, true, plan.M, plan.K, plan.cfg->mr, plan.tiling.kc, 1.f,
                 dst + g * per_group);
  }
}

void conv_transpose_f32_gemm(const ConvTransposeGemmPlan& plan, ThreadPool& pool, const float* x, const float* w_packed,
                             const float* bias, float* y, float* scratch) {
  const ConvF32Params& p = plan.p;
  const int64_t cin_g = p.in_channels / p.group, cout_g = p.out_channels / p.group;
  const int64_t ks = p.kernel_size(), P = p.in_size(), Q = p.out_size();
  const int64_t per_group = packed_size(plan.M, plan.K, plan.cfg->mr);
  float* cols = scratch + plan.slot_stride * plan.slots;
  for (int64_t b = 0; b < p.batch; ++b) {
    const float* xb = x + b * p.in_channels * P;
    float* yb = y + b * p.out_channels * Q;
    TaskPhase phases[2];
    auto get = [&](int64_t g, PackedGemm& gm) {
      gm.cfg = plan.cfg;
      gm.M = plan.M;
      gm.N = plan.N;
      gm.K = plan.K;
      gm.a_packed = w_packed + g * per_group;
      gm.b_direct = xb + g * cin_g * P;
      gm.ldb = P;
      gm.c = cols + g * plan.M * plan.N;
      gm.ldc = plan.N;
    };
    phases[0] = gemm_f32_phase(plan.tiling, p.group, get);
    // col2im: one task per output channel (it alone writes its plane).
    phases[1].tasks = p.out_channels;
    phases[1].run = [&](int64_t co, float*) {
      const int64_t g = co / cout_g, oc = co % cout_g;
      float* yc = yb + co * Q;
      std::fill(yc, yc + Q, bias ? bias[co] : 0.f);
      const float* cg = cols + g * plan.M * plan.N + oc * ks * P;
      for (int64_t kd = 0; kd < p.kernel[0]; ++kd) {
        for (int64_t kh = 0; kh < p.kernel[1]; ++kh) {
          for (int64_t kw = 0; kw < p.kernel[2]; ++kw) {
            const float* src = cg + ((kd * p.kernel[1] + kh) * p.kernel[2] + kw) * P;
            for (int64_t id = 0; id < p.in[0]; ++id) {
              const int64_t od = id * p.stride[0] + kd * p.dilation[0] - p.pad[0];
              if (od < 0 || od >= p.out[0]) continue;
              for (int64_t ih = 0; ih < p.in[1]; ++ih) {
                const int64_t oh = ih * p.stride[1] + kh * p.dilation[1] - p.pad[1];
                if (oh < 0 || oh >= p.out[1]) continue;
                const float* s = src + (id * p.in[1] + ih) * p.in[2];
                float* o = yc + (od * p.out[1] + oh) * p.out[2];
                // Input columns whose output column lands inside [0, out W).
                const int64_t off = kw * p.dilation[2] - p.pad[2];
                int64_t lo = off >= 0 ? 0 : (-off + p.stride[2] - 1) / p.stride[2];
                int64_t hi = off >= p.out[2] ? 0 : (p.out[2] - 1 - off) / p.stride[2] + 1;
                hi = std::min(hi, p.in[2]);
                for (int64_t iw = lo; iw < hi; ++iw) o[iw * p.stride[2] + off] += s[iw];
              }
            }
          }
        }
      }
      if (p.act.kind != ActKind::kNone) apply_activation_inplace(yc, Q, p.act);
    };
    run_task_phases(pool, std::span<const TaskPhase>(phases, 2), scratch, plan.slot_stride, plan.slots);
  }
}

}  // namespace qe::kernels
