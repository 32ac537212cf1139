// qgemm_avx512vnni: vpdpbusd (uint8 x int8, 4 products summed into each int32 lane, exact and
// without the int16 saturation of vpmaddubsw). Per quad of K the vector operand is one 64-byte
// load per 16 lanes and the broadcast operand one dword per row:
//   kConv: up to 8 weight rows x 48 pixels = 24 zmm accumulators, 11 loads per 24 vpdpbusd;
//   kFc:   up to 4 activation rows x 64 channels (GEMV: 1 row x 4 independent chains, 8 for
//          int4), the int4 weights split into their two nibble quads in registers.
// The epilogue requantizes in registers with the arithmetic of requantize.h.
#include <immintrin.h>

// GCC 12 flags _mm512_undefined_*() inside the intrinsics headers as (maybe-)uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/int8/qgemm.h"



namespace qe::kernels {

namespace {

// Keeps a product and a following add apart: requantize.h and qgemm_store_ref round twice.
inline __m512 no_contract(__m512 x) {
  asm("" : "+v"(x));
  return x;
}

// Per-lane channel parameters: broadcast (kConv, one channel per row) or per lane (kFc).
struct Chan {
  __m512i bias;  // bias - a_zp * wsum
  __m512i idx;   // channel index (kFc), for gathers
  int64_t ch;    // kConv channel
  bool lanes;
  __mmask16 mask;
};

inline Chan chan_row(const QEpilogue& ep, int64_t ch) {
  Chan c;
  c.lanes = false;
  c.ch = ch;
  c.idx = _mm512_setzero_si512();
  c.mask = 0xFFFF;
  c.bias = _mm512_set1_epi32((ep.bias ? ep.bias[ch] : 0) - ep.a_zp * ep.wsum[ch]);
  return c;
}

inline Chan chan_lanes(const QEpilogue& ep, int64_t ch0, __mmask16 mask) {
  Chan c;
  c.lanes = true;
  c.ch = ch0;
  c.mask = mask;
  c.idx = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(ch0)),
                           _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  __m512i b = ep.bias ? _mm512_maskz_loadu_epi32(mask, ep.bias + ch0) : _mm512_setzero_si512();
  __m512i ws = _mm512_maskz_loadu_epi32(mask, ep.wsum + ch0);
  c.bias = _mm512_sub_epi32(b, _mm512_mullo_epi32(ws, _mm512_set1_epi32(ep.a_zp)));
  return c;
}

inline __m512 chan_ps(const Chan& c, const float* v) {
  return c.lanes ? _mm512_maskz_loadu_ps(c.mask, v + c.ch) : _mm512_set1_ps(v[c.ch]);
}

// Field `f` (0: m, 1: fx_mult, 2: fx_shift) of each lane's RequantMultiplier.
inline __m512i mult_field(const Chan& c, const RequantParams& r, int f) {
  static_assert(sizeof(RequantMultiplier) == 12, "gather stride");
  const int32_t* base = reinterpret_cast<const int32_t*>(r.mult);
  if (!c.lanes || !r.per_channel) {
    const RequantMultiplier& m = r.channel(c.ch);
    int32_t v;
    if (f == 0) {
      __builtin_memcpy(&v, &m.m, 4);
    } else {
      v = f == 1 ? m.fx_mult : m.fx_shift;
    }
    return _mm512_set1_epi32(v);
  }
  __m512i idx = _mm512_add_epi32(_mm512_mullo_epi32(c.idx, _mm512_set1_epi32(3)), _mm512_set1_epi32(f));
  return _mm512_mask_i32gather_epi32(_mm512_set1_epi32(1), c.mask, idx, base, 4);
}

// round_shift_half_even of 64-bit lanes by per-lane n in [1, 62].
inline __m512i rshift_half_even(__m512i v, __m512i n) {
  const __m512i one = _mm512_set1_epi64(1);
  const __m512i half_m1 = _mm512_sub_epi64(_mm512_sllv_epi64(one, _mm512_sub_epi64(n, one)), one);
  const __m512i odd = _mm512_and_si512(_mm512_srav_epi64(v, n), one);
  return _mm512_srav_epi64(_mm512_add_epi64(_mm512_add_epi64(v, half_m1), odd), n);
}

inline void finish(__m512i acc, const QEpilogue& ep, const Chan& ch, void* dst) {
  const QOutput& o = *ep.out;
  acc = _mm512_add_epi32(acc, ch.bias);
  if (o.kind == QOutKind::kInt32) {
    _mm512_mask_storeu_epi32(dst, ch.mask, acc);
    return;
  }
  if (o.kind == QOutKind::kFloat) {
    __m512 f = no_contract(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), chan_ps(ch, o.dequant_scale)));
    if (o.float_bias) f = _mm512_add_ps(f, chan_ps(ch, o.float_bias));
    _mm512_mask_storeu_ps(dst, ch.mask, f);
    return;
  }
  const RequantParams& r = o.requant;
  const RequantOutput& ro = r.out;
  __m512i q;
  if (r.mode == RequantMode::kFloat) {
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_castsi512_ps(mult_field(ch, r, 0)));
    v = _mm512_max_ps(v, _mm512_set1_ps(static_cast<float>(ro.qmin - ro.zero_point)));
    v = _mm512_min_ps(v, _mm512_set1_ps(static_cast<float>(ro.qmax - ro.zero_point)));
    q = _mm512_add_epi32(_mm512_cvtps_epi32(v), _mm512_set1_epi32(ro.zero_point));
  } else {
    const __m512i m = mult_field(ch, r, 1), n = mult_field(ch, r, 2);
    const __m512i lo32 = _mm512_set1_epi64(0xFFFFFFFFLL);
    __m512i ev = _mm512_mul_epi32(acc, m);
    __m512i od = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), _mm512_srli_epi64(m, 32));
    ev = rshift_half_even(ev, _mm512_and_si512(n, lo32));
    od = rshift_half_even(od, _mm512_srli_epi64(n, 32));
    const __m512i zp = _mm512_set1_epi64(ro.zero_point), lo = _mm512_set1_epi64(ro.qmin),
                  hi = _mm512_set1_epi64(ro.qmax);
    ev = _mm512_min_epi64(_mm512_max_epi64(_mm512_add_epi64(ev, zp), lo), hi);
    od = _mm512_min_epi64(_mm512_max_epi64(_mm512_add_epi64(od, zp), lo), hi);
    q = _mm512_mask_blend_epi32(0xAAAA, ev, _mm512_slli_epi64(od, 32));
  }
  _mm512_mask_cvtepi32_storeu_epi8(dst, ch.mask, q);
}

inline __mmask16 lane_mask(int valid) {
  return valid >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (valid > 0 ? valid : 0)) - 1);
}

inline int32_t dword(const uint8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

inline size_t out_size(const QEpilogue& ep) { return ep.out->kind == QOutKind::kRequant ? 1 : 4; }

// kConv: rows are weight channels (int8, prepared), lanes pixels (uint8).
template <int R, int NV>
[[gnu::optimize("no-tree-vectorize")]] void conv_tile(const QTileArgs& t) {
  __m512i acc[R][NV];
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_si512();
  }
  const uint8_t* a = static_cast<const uint8_t*>(t.a);
  const uint8_t* b = t.b;
  const int64_t bp = t.b_panel;
#pragma GCC unroll 2
  for (int64_t q = 0; q < t.quads; ++q) {
    __m512i bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_si512(b + v * bp);
    for (int r = 0; r < R; ++r) {
      const __m512i w = _mm512_set1_epi32(dword(a + r * 4));
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], bv[v], w);
    }
    a += t.a_stride;
    b += 64;
  }
  const size_t oe = out_size(t.ep);
  for (int r = 0; r < R; ++r) {
    Chan ch = chan_row(t.ep, t.ch0 + r);
    for (int v = 0; v < NV; ++v) {
      ch.mask = lane_mask(t.nr - 16 * v);
      finish(acc[r][v], t.ep, ch, static_cast<uint8_t*>(t.c) + (r * t.ldc + 16 * v) * oe);
    }
  }
}

// kFc: rows are activations (uint8), lanes weight channels (int8, or int4 nibbles unpacked here).
template <int R, int NV, QWeightType WT>
[[gnu::optimize("no-tree-vectorize")]] void fc_tile(const QTileArgs& t) {
  __m512i acc[R][NV];
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_si512();
  }
  const uint8_t* a = static_cast<const uint8_t*>(t.a);
  const uint8_t* b = t.b;
  const int64_t bp = t.b_panel;
  if constexpr (WT == QWeightType::kInt8) {
#pragma GCC unroll 2
    for (int64_t q = 0; q < t.quads; ++q) {
      __m512i bv[NV];
      for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_si512(b + v * bp);
      for (int r = 0; r < R; ++r) {
        const __m512i x = _mm512_set1_epi32(dword(a + r * 4));
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], x, bv[v]);
      }
      a += t.a_stride;
      b += 64;
    }
  } else {
    const __m512i low4 = _mm512_set1_epi8(0x0F), eight = _mm512_set1_epi8(8);
    __m512i zp[NV];
    for (int v = 0; v < NV; ++v) {
      zp[v] = _mm512_setzero_si512();
      // The zero point of each lane repeated in its 4 bytes.
      if constexpr (WT == QWeightType::kUint4) {
        zp[v] = _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t.b_zp + 16 * v))),
                                   _mm512_set1_epi32(0x01010101));
      }
    }
    // GEMV (one row): the high-nibble products go to their own accumulators so that each
    // dependency chain takes one vpdpbusd per 64 weight bytes, not two.
    constexpr bool kSplit = R == 1;
    __m512i acc_hi[NV];
    for (int v = 0; v < NV; ++v) acc_hi[v] = _mm512_setzero_si512();
    for (int64_t q = 0; q < t.quads; q += 2) {
      __m512i lo[NV], hi[NV];
      for (int v = 0; v < NV; ++v) {
        // Half the bytes per product as int8 leave the hardware prefetcher too few requests in
        // flight to keep up from DRAM; a software prefetch 2 KB ahead per panel stream restores
        // most of the bandwidth (measured 1.2x -> ~1.5x over int8 for a 4096 x 4096 GEMV).
        _mm_prefetch(reinterpret_cast<const char*>(b + v * bp + 2048), _MM_HINT_T0);
        const __m512i x = _mm512_loadu_si512(b + v * bp);
        lo[v] = _mm512_and_si512(x, low4);
        hi[v] = _mm512_and_si512(_mm512_srli_epi16(x, 4), low4);
        if constexpr (WT == QWeightType::kInt4) {
          lo[v] = _mm512_sub_epi8(_mm512_xor_si512(lo[v], eight), eight);
          hi[v] = _mm512_sub_epi8(_mm512_xor_si512(hi[v], eight), eight);
        } else {
          lo[v] = _mm512_sub_epi8(lo[v], zp[v]);
          hi[v] = _mm512_sub_epi8(hi[v], zp[v]);
        }
      }
      for (int r = 0; r < R; ++r) {
        const __m512i x0 = _mm512_set1_epi32(dword(a + r * 4));
        const __m512i x1 = _mm512_set1_epi32(dword(a + t.a_stride + r * 4));
        for (int v = 0; v < NV; ++v) {
          acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], x0, lo[v]);
          if constexpr (kSplit) {
            acc_hi[v] = _mm512_dpbusd_epi32(acc_hi[v], x1, hi[v]);
          } else {
            acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], x1, hi[v]);
          }
        }
      }
      a += 2 * t.a_stride;
      b += 64;
    }
    if constexpr (kSplit) {
      for (int v = 0; v < NV; ++v) acc[0][v] = _mm512_add_epi32(acc[0][v], acc_hi[v]);
    }
  }
  const size_t oe = out_size(t.ep);
  for (int v = 0; v < NV; ++v) {
    const Chan ch = chan_lanes(t.ep, t.ch0 + 16 * v, lane_mask(t.nr - 16 * v));
    for (int r = 0; r < R; ++r) finish(acc[r][v], t.ep, ch, static_cast<uint8_t*>(t.c) + (r * t.ldc + 16 * v) * oe);
  }
}

using TileFn = void (*)(const QTileArgs&);

template <int R>
constexpr TileFn conv_pick(int nv) {
  return nv == 1 ? &conv_tile<R, 1> : nv == 2 ? &conv_tile<R, 2> : &conv_tile<R, 3>;
}

template <int R, QWeightType WT>
constexpr TileFn fc_pick(int nv) {
  return nv == 1 ? &fc_tile<R, 1, WT> : nv == 2 ? &fc_tile<R, 2, WT> : nv == 3 ? &fc_tile<R, 3, WT> : &fc_tile<R, 4, WT>;
}

template <QWeightType WT>
TileFn fc_lookup(int r, int nv) {
  static constexpr TileFn table[8][4] = {
      {fc_pick<1, WT>(1), fc_pick<1, WT>(2), fc_pick<1, WT>(3), fc_pick<1, WT>(4)},
      {fc_pick<2, WT>(1), fc_pick<2, WT>(2), fc_pick<2, WT>(3), fc_pick<2, WT>(4)},
      {fc_pick<3, WT>(1), fc_pick<3, WT>(2), fc_pick<3, WT>(3), fc_pick<3, WT>(4)},
      {fc_pick<4, WT>(1), fc_pick<4, WT>(2), fc_pick<4, WT>(3), fc_pick<4, WT>(4)},
      {fc_pick<5, WT>(1), fc_pick<5, WT>(2), fc_pick<5, WT>(2), fc_pick<5, WT>(2)},
      {fc_pick<6, WT>(1), fc_pick<6, WT>(2), fc_pick<6, WT>(2), fc_pick<6, WT>(2)},
      {fc_pick<7, WT>(1), fc_pick<7, WT>(2), fc_pick<7, WT>(2), fc_pick<7, WT>(2)},
      {fc_pick<8, WT>(1), fc_pick<8, WT>(2), fc_pick<8, WT>(2), fc_pick<8, WT>(2)},
  };
  return table[r - 1][nv - 1];
}

void tile(const QTileArgs& t) {
  const int nv = (t.nr + 15) / 16;
  if (t.form == QForm::kConv) {
    static constexpr TileFn table[8][3] = {
        {conv_pick<1>(1), conv_pick<1>(2), conv_pick<1>(3)}, {conv_pick<2>(1), conv_pick<2>(2), conv_pick<2>(3)},
        {conv_pick<3>(1), conv_pick<3>(2), conv_pick<3>(3)}, {conv_pick<4>(1), conv_pick<4>(2), conv_pick<4>(3)},
        {conv_pick<5>(1), conv_pick<5>(2), conv_pick<5>(3)}, {conv_pick<6>(1), conv_pick<6>(2), conv_pick<6>(3)},
        {conv_pick<7>(1), conv_pick<7>(2), conv_pick<7>(3)}, {conv_pick<8>(1), conv_pick<8>(2), conv_pick<8>(3)},
    };
    table[t.mr - 1][nv - 1](t);
    return;
  }
  switch (t.wtype) {
    case QWeightType::kInt8: fc_lookup<QWeightType::kInt8>(t.mr, nv)(t); break;
    case QWeightType::kInt4: fc_lookup<QWeightType::kInt4>(t.mr, nv)(t); break;
    case QWeightType::kUint4: fc_lookup<QWeightType::kUint4>(t.mr, nv)(t); break;
  }
}

int max_nr(QForm form, int mr) {
  if (form == QForm::kConv) return 48;
  return mr <= 4 ? 64 : 32;
}

}  // namespace

const QGemmIsa qgemm_isa_avx512vnni = {"qgemm_avx512vnni", 1, &tile, &max_nr};

}  // namespace qe::kernels
