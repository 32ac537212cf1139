// Winograd F(4x4, 3x3) conv: plan, weight transform, and the driver that runs, per chunk of
// images, input transform -> 36 GEMMs -> output transform as phases of one parallel region.
#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/core/thread_pool.h"
#include "kernels/conv/conv_f32.h"
#include "kernels/gemm/task_phases.h"

namespace qe::kernels {

namespace {

constexpr int kAlpha = 6;  // input tile (4 outputs + 2 taps)
constexpr int kXi = kAlpha * kAlpha;

// G of F(4x4, 3x3) with interpolation points 0, +-1, +-2, inf.
constexpr double kG[kAlpha][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};

}  // namespace

bool winograd_supported(const ConvF32Params& p) {
  return p.group == 1 && p.kernel[0] == 1 && p.in[0] == 1 && p.kernel[1] == 3 && p.kernel[2] == 3 &&
         p.stride[1] == 1 && p.stride[2] == 1 && p.dilation[1] == 1 && p.dilation[2] == 1;
}

WinogradPlan plan_conv_winograd(const GemmF32Config& cfg, const ConvF32Params& p, int num_threads) {
  WinogradPlan plan;
  plan.cfg = &cfg;
  plan.p = p;
  plan.tiles_h = (p.out[1] + 3) / 4;
  plan.tiles_w = (p.out[2] + 3) / 4;
  const int64_t per_image = plan.tiles_h * plan.tiles_w;
  // Keep the transformed input and the GEMM results of a chunk within about 3 MB (they are
  // written and read back at once: far past L2 the transforms stall on cache misses).
  const int64_t floats_per_image = kXi * per_image * (p.in_channels + p.out_channels);
  plan.chunk_images = std::clamp<int64_t>((int64_t{3} << 18) / std::max<int64_t>(1, floats_per_image), 1, p.batch);
  plan.chunk_tiles = plan.chunk_images * per_image;
  plan.tiling = plan_gemm_tiling(cfg, p.out_channels, plan.chunk_tiles, p.in_channels, kXi, num_threads);
  plan.slots = std::max(1, num_threads);
  plan.slot_floats = round_up(gemm_tile_scratch_floats(plan.tiling, false, true), 16);
  plan.v_floats = round_up(kXi * p.in_channels * plan.chunk_tiles, 16);
  plan.m_floats = round_up(kXi * p.out_channels * plan.chunk_tiles, 16);
  return plan;
}

int64_t winograd_packed_weights_floats(const WinogradPlan& plan) {
  return kXi * packed_size(plan.p.out_channels, plan.p.in_channels, plan.cfg->mr);
}

void winograd_pack_weights(const WinogradPlan& plan, const float* w, float* dst) {
  const int64_t M = plan.p.out_channels, K = plan.p.in_channels;
  std::vector<float> u(static_cast<size_t>(kXi * M * K));  // [xi][co][ci]
  for (int64_t co = 0; co < M; ++co) {
    for (int64_t ci = 0; ci < K; ++ci) {
      const float* g = w + (co * K + ci) * 9;
      double gg[kAlpha][3];  // G g
      for (int i = 0; i < kAlpha; ++i) {
        for (int j = 0; j < 3; ++j) {
          gg[i][j] = kG[i][0] * g[0 * 3 + j] + kG[i][1] * g[1 * 3 + j] + kG[i][2] * g[2 * 3 + j];
        }
      }
      for (int i = 0; i < kAlpha; ++i) {
        for (int j = 0; j < kAlpha; ++j) {
          double v = gg[i][0] * kG[j][0] + gg[i][1] * kG[j][1] + gg[i][2] * kG[j][2];
          u[static_cast<size_t>(((i * kAlpha + j) * M + co) * K + ci)] = static_cast<float>(v);
        }
      }
    }
  }
  const int64_t per_xi = packed_size(M, K, plan.cfg->mr);
  for (int xi = 0; xi < kXi; ++xi) {
    pack_operand(u.data() + xi * M * K, K, false, M, K, plan.cfg->mr, plan.tiling.kc, 1.f, dst + xi * per_xi);
  }
}

void conv_f32_winograd(const WinogradPlan& plan, ThreadPool& pool, const float* x, const float* u_packed,
                       const float* bias, float* y, float* scratch) {
  const ConvF32Params& p = plan.p;
  const GemmF32Config& cfg = *plan.cfg;
  const int64_t Cin = p.in_channels, Cout = p.out_channels;
  const int64_t per_image = plan.tiles_h * plan.tiles_w;
  const int64_t groups_w = (plan.tiles_w + 15) / 16;  // 16-tile groups per tile row
  const int64_t u_per_xi = packed_size(Cout, Cin, cfg.mr);
  float* v = scratch;
  float* m = scratch + plan.v_floats;

  for (int64_t b0 = 0; b0 < p.batch; b0 += plan.chunk_images) {
    const int64_t images = std::min(plan.chunk_images, p.batch - b0);
    const int64_t T = images * per_image;  // tiles of this chunk; tile t = (image, th, tw)
    const int64_t v_per_xi = Cin * T;  // V[xi] is Cin x T, row-major

    TaskPhase phases[3];
    // 1. Input transform: one task per (image, channel) so that every cache line of the
    //    channel's packed rows is written by one task, close in time.
    phases[0].tasks = images * Cin;
    phases[0].run = [&](int64_t task, float*) {
      const int64_t c = task % Cin, bi = task / Cin;
      const float* xc = x + ((b0 + bi) * Cin + c) * p.in_size();
      for (int64_t th = 0; th < plan.tiles_h; ++th) {
        for (int64_t g = 0; g < groups_w; ++g) {
          const int64_t tw0 = g * 16;
          const int n = static_cast<int>(std::min<int64_t>(16, plan.tiles_w - tw0));
          const int64_t t = (bi * plan.tiles_h + th) * plan.tiles_w + tw0;
          float* dst[kXi];
          for (int xi = 0; xi < kXi; ++xi) dst[xi] = v + xi * v_per_xi + c * T + t;
          winograd_input_tiles_avx512(p, xc, th, tw0, n, dst);
        }
      }
    };
    MatrixPacker v_packer(v, T, true, v_per_xi);  // item = xi
    // 2. The 36 GEMMs: M[xi] (Cout x T) = U[xi] (Cout x Cin) x V[xi] (Cin x T).
    auto get = [&](int64_t xi, PackedGemm& g) {
      g.cfg = &cfg;
      g.M = Cout;
      g.N = T;
      g.K = Cin;
      g.a_packed = u_packed + xi * u_per_xi;
      g.b_packer = &v_packer;
      g.b_item = xi;
      g.c = m + xi * Cout * T;
      g.ldc = T;
    };
    GemmTiling tiling = plan.tiling;
    if (T != plan.chunk_tiles) tiling = plan_gemm_tiling(cfg, Cout, T, Cin, kXi, plan.slots);
    phases[1] = gemm_f32_phase(tiling, kXi, get);
    // 3. Output transform: one task per (image, output channel): sequential reads of the 36
    //    result rows, one output plane written.
    phases[2].tasks = images * Cout;
    phases[2].run = [&](int64_t task, float*) {
      const int64_t co = task % Cout, bi = task / Cout;
      float* yc = y + ((b0 + bi) * Cout + co) * p.out_size();
      const float bv = bias ? bias[co] : 0.f;
      for (int64_t th = 0; th < plan.tiles_h; ++th) {
        for (int64_t g = 0; g < groups_w; ++g) {
          const int64_t tw0 = g * 16;
          const int n = static_cast<int>(std::min<int64_t>(16, plan.tiles_w - tw0));
          const int64_t t = (bi * plan.tiles_h + th) * plan.tiles_w + tw0;
          const float* src[kXi];
          for (int xi = 0; xi < kXi; ++xi) src[xi] = m + (xi * Cout + co) * T + t;
          winograd_output_tiles_avx512(p, src, bv, th, tw0, n, yc);
        }
      }
    };
    run_task_phases(pool, std::span<const TaskPhase>(phases, 3), scratch + plan.v_floats + plan.m_floats,
                    plan.slot_floats, plan.slots);
  }
}

}  // namespace qe::kernels
