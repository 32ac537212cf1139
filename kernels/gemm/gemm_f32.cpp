#include "kernels/gemm/gemm_f32.h"

#include <algorithm>
#include <cstring>

#include "engine/core/thread_pool.h"
#include "kernels/gemm/task_phases.h"

namespace qe::kernels {

void gemm_f32_ref(const GemmF32Args& g) {
  for (int64_t m = 0; m < g.M; ++m) {
    for (int64_t n = 0; n < g.N; ++n) {
      float sum = 0.f;
      for (int64_t k = 0; k < g.K; ++k) {
        float a = g.trans_a ? g.A[k * g.lda + m] : g.A[m * g.lda + k];
        float b = g.trans_b ? g.B[n * g.ldb + k] : g.B[k * g.ldb + n];
        sum += a * b;
      }
      float& c = g.C[m * g.ldc + n];
      float v = g.alpha * sum;
      if (g.ep.accumulate) v += c;
      if (g.ep.row_bias) v += g.ep.row_bias[m];
      if (g.ep.col_bias) v += g.ep.col_bias[n];
      c = apply_activation(v, g.ep.act);
    }
  }
}

namespace {

const GemmF32Config kAvx512Config = {"gemm_f32_8x48_avx512", 8, 48, 16, &gemm_f32_8x48_avx512};
const GemmF32Config kAvx2Config = {"gemm_f32_4x16_avx2", 4, 16, 8, &gemm_f32_4x16_avx2};

// Splits `n` into the fewest tiles of at most `max_tile` (a multiple of `unit`), evened out.
void even_tiles(int64_t n, int64_t max_tile, int64_t unit, int64_t& tile, int64_t& count) {
  count = (n + max_tile - 1) / max_tile;
  tile = round_up((n + count - 1) / count, unit);
  count = (n + tile - 1) / tile;
}

}  // namespace

const GemmF32Config* gemm_f32_config(IsaLevel level) {
  if (level >= IsaLevel::kAvx512) return &kAvx512Config;
  if (level >= IsaLevel::kAvx2) return &kAvx2Config;
  return nullptr;
}

void pack_panels(const float* x, int64_t ldx, bool k_major, int64_t r0, int64_t rc, int64_t k0, int64_t kc,
                 int width, float scale, float* dst) {
  const int64_t r1 = r0 + rc;
  for (int64_t p0 = r0; p0 < r1; p0 += width) {
    const int64_t valid = std::min<int64_t>(width, r1 - p0);
    for (int64_t k = 0; k < kc; ++k) {
      float* out = dst + k * width;
      if (k_major) {
        const float* src = x + (k0 + k) * ldx + p0;
        if (scale == 1.f) {
          std::memcpy(out, src, static_cast<size_t>(valid) * sizeof(float));
        } else {
          for (int64_t i = 0; i < valid; ++i) out[i] = src[i] * scale;
        }
      } else {
        const float* src = x + p0 * ldx + k0 + k;
        for (int64_t i = 0; i < valid; ++i) out[i] = src[i * ldx] * scale;
      }
      for (int64_t i = valid; i < width; ++i) out[i] = 0.f;
    }
    dst += kc * width;
  }
}

void pack_operand(const float* x, int64_t ldx, bool k_major, int64_t rows, int64_t K, int width, int64_t kc,
                  float scale, float* dst) {
  for (int64_t k0 = 0; k0 < K; k0 += kc) {
    int64_t kb = std::min(kc, K - k0);
    pack_panels(x, ldx, k_major, 0, rows, k0, kb, width, scale, dst + packed_offset(rows, width, k0, kb, 0));
  }
}

GemmTiling plan_gemm_tiling(const GemmF32Config& cfg, int64_t M, int64_t N, int64_t K, int64_t batch,
                            int num_threads, GemmSplit split) {
  GemmTiling t;
  // K blocks up to 640 deep: one block for most conv layers (C is then written once), and a
  // B block of kc x nc floats stays within half of a 1 MB L2.
  int64_t kblocks = std::max<int64_t>(1, (K + 639) / 640);
  t.kc = std::max<int64_t>(1, (K + kblocks - 1) / kblocks);
  if (M <= 0 || N <= 0 || batch <= 0) {
    t.mc = cfg.mr;
    t.nc = cfg.nr;
    return t;
  }
  const int64_t budget = 128 * 1024;  // floats
  // Short K (MobileNet's expand layers, K = 16..32) allows wide tiles: long runs of C per row
  // stream to memory far better than many short ones when the output exceeds the caches.
  int64_t nc_max = std::clamp<int64_t>(budget / t.kc / cfg.nr * cfg.nr, cfg.nr, 64 * cfg.nr);
  int64_t mc_max = std::clamp<int64_t>(budget / t.kc / cfg.mr * cfg.mr, cfg.mr, 512);
  even_tiles(M, mc_max, cfg.mr, t.mc, t.tiles_m);
  even_tiles(N, nc_max, cfg.nr, t.nc, t.tiles_n);
  // A few tiles per thread balance uneven progress.
  const int64_t want = num_threads > 1 ? int64_t{4} * num_threads : 1;
  bool prefer_n = split == GemmSplit::kPreferN || (split == GemmSplit::kBySize && M <= N);
  while (batch * t.tasks() < want) {
    int64_t n_panels = (N + cfg.nr - 1) / cfg.nr, m_panels = (M + cfg.mr - 1) / cfg.mr;
    bool can_n = t.tiles_n < n_panels, can_m = t.tiles_m < m_panels;
    if (can_n && (prefer_n || !can_m)) {
      even_tiles(N, std::max<int64_t>(cfg.nr, t.nc / 2), cfg.nr, t.nc, t.tiles_n);
    } else if (can_m) {
      even_tiles(M, std::max<int64_t>(cfg.mr, t.mc / 2), cfg.mr, t.mc, t.tiles_m);
    } else {
      break;
    }
  }
  return t;
}

TaskPhase pack_operand_phase(const PanelPacker& packer, int64_t items, int64_t rows, int64_t K, int width,
                             int64_t kc, float* dst) {
  // Tasks of up to 8 panels of one K block.
  const int64_t kblocks = (K + kc - 1) / kc, rjob = int64_t{8} * width;
  const int64_t rjobs = (rows + rjob - 1) / rjob;
  const int64_t per_item = packed_size(rows, K, width);
  TaskPhase ph;
  ph.tasks = items * kblocks * rjobs;
  ph.run = [&packer, kblocks, rjobs, rjob, rows, K, width, kc, dst, per_item](int64_t j, float*) {
    const int64_t item = j / (kblocks * rjobs), rest = j % (kblocks * rjobs);
    const int64_t k0 = (rest / rjobs) * kc, r0 = (rest % rjobs) * rjob;
    const int64_t kb = std::min(kc, K - k0), rc = std::min(rjob, rows - r0);
    packer.pack(item, k0, kb, r0, rc, width, dst + item * per_item + packed_offset(rows, width, k0, kb, r0 / width));
  };
  return ph;
}

int64_t gemm_tile_scratch_floats(const GemmTiling& t, bool pack_a, bool pack_b) {
  int64_t n = 0;
  if (pack_a) n += round_up(t.mc * t.kc, 16);
  if (pack_b) n += round_up(t.nc * t.kc, 16);
  return n;
}

void gemm_f32_tile(const PackedGemm& g, const GemmTiling& t, int64_t tile, float* scratch) {
  const GemmF32Config& cfg = *g.cfg;
  const int MR = cfg.mr, NR = cfg.nr;
  int64_t m0 = (tile / t.tiles_n) * t.mc, n0 = (tile % t.tiles_n) * t.nc;
  int64_t m1 = std::min(g.M, m0 + t.mc), n1 = std::min(g.N, n0 + t.nc);
  if (m0 >= m1 || n0 >= n1) return;
  float* a_buf = scratch;
  float* b_buf = scratch + (g.a_packed ? 0 : round_up(t.mc * t.kc, 16));
  const Activation& act = g.ep.act;
  bool post_act = act.kind != ActKind::kNone && !cfg.ukernel->vector_act(act.kind);
  Activation none;
  for (int64_t k0 = 0; k0 < g.K; k0 += t.kc) {
    int64_t kc = std::min(t.kc, g.K - k0);
    const float* ablk;
    if (g.a_packed) {
      ablk = g.a_packed + packed_offset(g.M, MR, k0, kc, m0 / MR);
    } else {
      g.a_packer->pack(g.a_item, k0, kc, m0, m1 - m0, MR, a_buf);
      ablk = a_buf;
    }
    const float* bblk = nullptr;
    int64_t tail_n = n1;  // columns from here on come from the packed tail panel (direct B)
    if (g.b_packed) {
      bblk = g.b_packed + packed_offset(g.N, NR, k0, kc, n0 / NR);
    } else if (g.b_direct) {
      tail_n = n0 + (n1 - n0) / NR * NR;
      if (tail_n < n1) pack_panels(g.b_direct, g.ldb, true, tail_n, n1 - tail_n, k0, kc, NR, 1.f, b_buf);
    } else {
      g.b_packer->pack(g.b_item, k0, kc, n0, n1 - n0, NR, b_buf);
      bblk = b_buf;
    }
    bool first = k0 == 0, last = k0 + kc == g.K;
    GemmTileArgs args;
    args.kc = kc;
    args.a_stride = MR;
    args.ldc = g.ldc;
    args.load_c = !first || g.ep.accumulate;
    args.last = last;
    args.act = post_act ? &none : &act;
    // One A panel (kc x MR) stays in L1 while the B panels of the tile stream from L2.
    for (int64_t m = m0; m < m1; m += MR) {
      args.a = ablk + (m - m0) / MR * kc * MR;
      args.mr = static_cast<int>(std::min<int64_t>(MR, m1 - m));
      args.row_bias = g.ep.row_bias ? g.ep.row_bias + m : nullptr;
      for (int64_t n = n0; n < n1; n += NR) {
        if (!g.b_direct) {
          args.b = bblk + (n - n0) / NR * kc * NR;
          args.b_stride = NR;
        } else if (n < tail_n) {
          args.b = g.b_direct + k0 * g.ldb + n;
          args.b_stride = g.ldb;
        } else {
          args.b = b_buf;
          args.b_stride = NR;
        }
        args.nr = static_cast<int>(std::min<int64_t>(NR, n1 - n));
        args.col_bias = g.ep.col_bias ? g.ep.col_bias + n : nullptr;
        args.c = g.c + m * g.ldc + n;
        cfg.ukernel->tile(args);
        if (last && post_act) {
          for (int i = 0; i < args.mr; ++i) apply_activation_inplace(args.c + i * g.ldc, args.nr, act);
        }
      }
    }
  }
  // K == 0: the product is empty, only the epilogue remains.
  if (g.K == 0) {
    for (int64_t m = m0; m < m1; ++m) {
      for (int64_t n = n0; n < n1; ++n) {
        float& c = g.c[m * g.ldc + n];
        float v = g.ep.accumulate ? c : 0.f;
        if (g.ep.row_bias) v += g.ep.row_bias[m];
        if (g.ep.col_bias) v += g.ep.col_bias[n];
        c = apply_activation(v, act);
      }
    }
  }
}

TaskPhase gemm_f32_phase(const GemmTiling& t, int64_t batch, const std::function<void(int64_t, PackedGemm&)>& get) {
  TaskPhase ph;
  const int64_t tasks = t.tasks();
  ph.tasks = batch * tasks;
  ph.run = [&t, tasks, get](int64_t i, float* scratch) {
    PackedGemm g;
    get(i / tasks, g);
    gemm_f32_tile(g, t, i % tasks, scratch);
  };
  return ph;
}

void gemm_f32_batched(ThreadPool& pool, const GemmTiling& t, int64_t batch,
                      const std::function<void(int64_t, PackedGemm&)>& get, float* scratch, int64_t scratch_stride,
                      int num_slots) {
  TaskPhase ph = gemm_f32_phase(t, batch, get);
  run_task_phases(pool, std::span<const TaskPhase>(&ph, 1), scratch, scratch_stride, num_slots);
}

void gemm_f32_run(ThreadPool& pool, const PackedGemm& g, const GemmTiling& t, float* scratch, int64_t scratch_stride,
                  int num_slots) {
  gemm_f32_batched(pool, t, 1, [&](int64_t, PackedGemm& out) { out = g; }, scratch, scratch_stride, num_slots);
}

}  // namespace qe::kernels
