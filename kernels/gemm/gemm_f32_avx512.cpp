// gemm_f32_8x48_avx512: 8 rows x 3 zmm columns = 24 accumulators; per k one 8-float A row is
// broadcast element by element against three B vectors (11 loads per 24 FMAs, so the two FMA
// pipes stay the bottleneck). Narrower column counts (1 or 2 vectors) and fewer rows are
// separate instantiations so tails do not pay for the full tile.
#include <immintrin.h>

// GCC 12 flags _mm512_undefined_ps() inside _mm512_max_ps/_mm512_min_ps as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/gemm/act_vec_avx512.h"
#include "kernels/gemm/gemm_f32.h"

namespace qe::kernels {

namespace {

// No SLP vectorizer on the intrinsics: it reshuffles the epilogue into slower code (measured
// 106 -> 152 GFLOP/s at kc = 16, as in MobileNet's narrow pointwise layers).
template <int R, int NV>
[[gnu::optimize("no-tree-vectorize")]] void tile_impl(const GemmTileArgs& g) {
  __m512 acc[R][NV];
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  const float* a = g.a;
  const float* b = g.b;
  const int64_t as = g.a_stride, bs = g.b_stride;
#pragma GCC unroll 4
  for (int64_t k = 0; k < g.kc; ++k) {
    __m512 bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(b + 16 * v);
    for (int r = 0; r < R; ++r) {
      __m512 av = _mm512_set1_ps(a[r]);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
    a += as;
    b += bs;
  }
  int tail = g.nr - 16 * (NV - 1);
  __mmask16 masks[NV];
  for (int v = 0; v < NV; ++v) masks[v] = v == NV - 1 ? static_cast<__mmask16>((1u << tail) - 1) : __mmask16(0xFFFF);
  __m512 colb[NV];
  for (int v = 0; v < NV; ++v) colb[v] = _mm512_setzero_ps();
  if (g.last && g.col_bias) {
    for (int v = 0; v < NV; ++v) colb[v] = _mm512_maskz_loadu_ps(masks[v], g.col_bias + 16 * v);
  }
  avx512::VecAct act(*g.act);
  for (int r = 0; r < R; ++r) {
    float* c = g.c + r * g.ldc;
    __m512 rb = _mm512_set1_ps(g.last && g.row_bias ? g.row_bias[r] : 0.f);
    for (int v = 0; v < NV; ++v) {
      __m512 x = acc[r][v];
      if (g.load_c) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(masks[v], c + 16 * v));
      if (g.last) {
        if (g.row_bias) x = _mm512_add_ps(x, rb);
        if (g.col_bias) x = _mm512_add_ps(x, colb[v]);
        x = act(x);
      }
      // Plain stores for whole vectors: masked ones always read the line first, which costs
      // a DRAM round trip per line when the output does not fit the caches.
      if (masks[v] == 0xFFFF) {
        _mm512_storeu_ps(c + 16 * v, x);
      } else {
        _mm512_mask_storeu_ps(c + 16 * v, masks[v], x);
      }
    }
  }
}

using TileFn = void (*)(const GemmTileArgs&);

template <int R>
constexpr TileFn pick(int nv) {
  return nv == 1 ? &tile_impl<R, 1> : nv == 2 ? &tile_impl<R, 2> : &tile_impl<R, 3>;
}

void tile(const GemmTileArgs& g) {
  static constexpr TileFn table[8][3] = {
      {pick<1>(1), pick<1>(2), pick<1>(3)}, {pick<2>(1), pick<2>(2), pick<2>(3)},
      {pick<3>(1), pick<3>(2), pick<3>(3)}, {pick<4>(1), pick<4>(2), pick<4>(3)},
      {pick<5>(1), pick<5>(2), pick<5>(3)}, {pick<6>(1), pick<6>(2), pick<6>(3)},
      {pick<7>(1), pick<7>(2), pick<7>(3)}, {pick<8>(1), pick<8>(2), pick<8>(3)},
  };
  int nv = (g.nr + 15) / 16;
  table[g.mr - 1][nv - 1](g);
}

bool vector_act(ActKind kind) { return avx512::has_vector_act(kind); }

}  // namespace

const GemmF32Ukernel gemm_f32_8x48_avx512 = {&tile, &vector_act};

}  // namespace qe::kernels
