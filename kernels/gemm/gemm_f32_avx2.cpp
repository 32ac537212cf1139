// gemm_f32_4x16_avx2: 4 rows x 2 ymm columns = 8 accumulators (the FMA latency x 2 pipes).
// Measured: 4x24 (12 accumulators + 3 B + 1 broadcast = all 16 ymm) spills and runs at 66
// GFLOP/s, 4x16 at 90 (peak about 120). Fewer rows / columns are separate instantiations.
#include <immintrin.h>

#include "kernels/gemm/act_vec_avx2.h"
#include "kernels/gemm/gemm_f32.h"

namespace qe::kernels {

namespace {

template <int R, int NV>
[[gnu::noinline]] void epilogue(const GemmTileArgs& g, const float* acc_out) {
  __m256i masks[NV];
  for (int v = 0; v < NV; ++v) masks[v] = avx2::tail_mask(v == NV - 1 ? g.nr - 8 * (NV - 1) : 8);
  __m256 colb[NV];
  for (int v = 0; v < NV; ++v) colb[v] = _mm256_setzero_ps();
  if (g.last && g.col_bias) {
    for (int v = 0; v < NV; ++v) colb[v] = _mm256_maskload_ps(g.col_bias + 8 * v, masks[v]);
  }
  avx2::VecAct act(*g.act);
  for (int r = 0; r < R; ++r) {
    float* c = g.c + r * g.ldc;
    __m256 rb = _mm256_set1_ps(g.last && g.row_bias ? g.row_bias[r] : 0.f);
    for (int v = 0; v < NV; ++v) {
      __m256 x = _mm256_load_ps(acc_out + r * NV * 8 + 8 * v);
      if (g.load_c) {
        x = _mm256_add_ps(x, v < NV - 1 || g.nr == 8 * NV ? _mm256_loadu_ps(c + 8 * v)
                                                          : _mm256_maskload_ps(c + 8 * v, masks[v]));
      }
      if (g.last) {
        if (g.row_bias) x = _mm256_add_ps(x, rb);
        if (g.col_bias) x = _mm256_add_ps(x, colb[v]);
        x = act(x);
      }
      // Plain stores for whole vectors: vmaskmovps is slow, and masked stores read the line.
      if (v < NV - 1 || g.nr == 8 * NV) {
        _mm256_storeu_ps(c + 8 * v, x);
      } else {
        _mm256_maskstore_ps(c + 8 * v, masks[v], x);
      }
    }
  }
}

// GCC's SLP vectorizer turns the accumulator array into stack traffic in this translation
// unit (58 vs 90 GFLOP/s); the intrinsics are the vectorisation already.
template <int R, int NV>
[[gnu::optimize("no-tree-vectorize")]] void tile_impl(const GemmTileArgs& g) {
  __m256 acc[R][NV];
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  }
  const float* a = g.a;
  const float* b = g.b;
  const int64_t as = g.a_stride, bs = g.b_stride;
#pragma GCC unroll 4
  for (int64_t k = 0; k < g.kc; ++k) {
    __m256 bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_loadu_ps(b + 8 * v);
    for (int r = 0; r < R; ++r) {
      __m256 av = _mm256_broadcast_ss(a + r);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
    a += as;
    b += bs;
  }
  // The epilogue runs on a copy: with its masks and activation constants live next to the 12
  // accumulators, the 16 ymm registers would not hold the K loop's working set otherwise.
  alignas(32) float out[R][NV * 8];
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < NV; ++v) _mm256_store_ps(&out[r][8 * v], acc[r][v]);
  }
  epilogue<R, NV>(g, &out[0][0]);
}

using TileFn = void (*)(const GemmTileArgs&);

template <int R>
constexpr TileFn pick(int nv) {
  return nv == 1 ? &tile_impl<R, 1> : &tile_impl<R, 2>;
}

void tile(const GemmTileArgs& g) {
  static constexpr TileFn table[4][2] = {
      {pick<1>(1), pick<1>(2)},
      {pick<2>(1), pick<2>(2)},
      {pick<3>(1), pick<3>(2)},
      {pick<4>(1), pick<4>(2)},
  };
  int nv = (g.nr + 7) / 8;
  table[g.mr - 1][nv - 1](g);
}

bool vector_act(ActKind kind) { return avx2::has_vector_act(kind); }

}  // namespace

const GemmF32Ukernel gemm_f32_4x16_avx2 = {&tile, &vector_act};

}  // namespace qe::kernels
