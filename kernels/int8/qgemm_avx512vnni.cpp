// qgemm_avx512vnni: vpdpbusd (uint8 x int8, 4 products summed into each int32 lane, exact and
// without the int16 saturation of vpmaddubsw). Per quad of K the vector operand is one 64-byte
// load per 16 lanes and the broadcast operand one dword per row:
//   kConv: blocks of 4 weight rows x 64 pixels (16 accumulators), or 8 x 48 (24) for a very
//          long K over few pixels; one call walks all pixels of the task (see conv_tile);
//   kFc:   up to 4 activation rows x 64 channels (GEMV: 1 row x 4 independent chains, 8 for
//          int4), the int4 weights split into their two nibble quads in registers.
// The epilogue requantizes in registers with the arithmetic of requantize.h.
#include <immintrin.h>

// GCC 12 flags _mm512_undefined_*() inside the intrinsics headers as (maybe-)uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/int8/qgemm.h"
#include "kernels/int8/requant_vec_avx512.h"



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
    const __m512 m = _mm512_castsi512_ps(mult_field(ch, r, 0));
    const __m512 lo = _mm512_set1_ps(static_cast<float>(ro.qmin - ro.zero_point));
    const __m512 hi = _mm512_set1_ps(static_cast<float>(ro.qmax - ro.zero_point));
    const __m512 v = avx512::requant_float(_mm512_cvtepi32_ps(acc), m, _mm512_set1_ps(ro.divisor),
                                           ro.divisor != 1.f, lo, hi);
    q = _mm512_add_epi32(avx512::round_with_zero_point(v, (ro.zero_point & 1) != 0), _mm512_set1_epi32(ro.zero_point));
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

// ---------------------------------------------------------------------------------------------
// kConv: rows are weight channels (int8, prepared), lanes pixels (uint8). One call covers up to
// 8 channels and every pixel of the task, so the per-channel epilogue constants are set up once
// per call instead of once per 48 pixels.
//
// With 8-bit output whose clamp range fits the byte type (always, in practice) the epilogue
// works on whole rows of 64 pixels: requantize to int32 (float form: cvtdq2ps, one mulps, one
// minps, cvtps2dq; fixed form: two vpmuldq and the half-even shift of requantize.h), then
// vpackssdw / add zp with saturation / vpackuswb (or vpacksswb) and one vpermd restore the pixel
// order, so 4 vectors leave in one 64-byte store. Saturation is monotone and every saturation
// bound lies far outside [qmin, qmax] (|zp| is limited so that holds), so it acts as part of the
// clamp; a narrower range (fused Relu6) is finished with byte min/max. The float form needs the
// upper clamp before cvtps2dq (vcvtps2dq turns overflow into INT_MIN, which the saturation
// reads as "very negative"; that is right for the lower side only).
//
// Epilogue kinds of the block kernels.
enum ConvEp { kEpGeneric = 0, kEpFloatBytes = 1, kEpFixedBytes = 2 };

// One channel's constants.
struct RowEp {
  int64_t ch;
  int32_t bias;          // bias - a_zp * wsum: the accumulators start from it
  float m, d, hi;        // float form: multiplier, divisor, qmax - zp
  bool odd_zp;           // float form: ties follow the zero point's parity
  int32_t fx_mult;       // fixed form
  int64_t hm1, half, bit_n;  // 2^(n-1) - 1, 2^(n-1), 2^n
  int sh, sh_odd;        // n; |n - 32|
  bool odd_left;         // n < 32: the odd lanes' result moves up by 32 - n
};

struct ByteOut {
  bool is_unsigned;      // vpackuswb (u8 range) or vpacksswb (s8 range)
  bool clamp_lo, clamp_hi;
  int8_t qmin, qmax;     // as bytes
  int16_t zp;
};

// Which epilogue a call uses and its byte parameters.
inline int conv_ep_kind(const QOutput& o, ByteOut& bo) {
  if (o.kind != QOutKind::kRequant) return kEpGeneric;
  const RequantOutput& ro = o.requant.out;
  if (ro.qmin > ro.qmax || ro.zero_point < -1024 || ro.zero_point > 1024) return kEpGeneric;
  if (ro.qmin >= 0 && ro.qmax <= 255) {
    bo.is_unsigned = true;
    bo.clamp_lo = ro.qmin > 0;
    bo.clamp_hi = ro.qmax < 255;
  } else if (ro.qmin >= -128 && ro.qmax <= 127) {
    bo.is_unsigned = false;
    bo.clamp_lo = ro.qmin > -128;
    bo.clamp_hi = ro.qmax < 127;
  } else {
    return kEpGeneric;
  }
  bo.qmin = static_cast<int8_t>(static_cast<uint8_t>(ro.qmin));
  bo.qmax = static_cast<int8_t>(static_cast<uint8_t>(ro.qmax));
  bo.zp = static_cast<int16_t>(ro.zero_point);
  return o.requant.mode == RequantMode::kFloat ? kEpFloatBytes : kEpFixedBytes;
}

inline RowEp row_ep(const QEpilogue& ep, int64_t ch) {
  RowEp e{};
  e.ch = ch;
  // Wrapping int32 arithmetic, as the accumulation itself.
  e.bias = static_cast<int32_t>(static_cast<uint32_t>(ep.bias ? ep.bias[ch] : 0) -
                                static_cast<uint32_t>(ep.a_zp) * static_cast<uint32_t>(ep.wsum[ch]));
  const QOutput& o = *ep.out;
  if (o.kind != QOutKind::kRequant) return e;
  const RequantMultiplier& rm = o.requant.channel(ch);
  const RequantOutput& ro = o.requant.out;
  e.m = rm.m;
  e.d = ro.divisor;
  e.odd_zp = (ro.zero_point & 1) != 0;
  e.hi = static_cast<float>(ro.qmax - ro.zero_point);
  e.fx_mult = rm.fx_mult;
  const int n = rm.fx_shift;
  e.sh = n;
  e.half = int64_t{1} << (n - 1);
  e.hm1 = e.half - 1;
  e.bit_n = int64_t{1} << n;
  e.odd_left = n < 32;
  e.sh_odd = n < 32 ? 32 - n : n - 32;
  return e;
}

// round_shift_half_even(v, n) before the shift: floor((v + 2^(n-1) - 1 + bit_n(v)) / 2^n), the
// form of requant_vec_avx512.h, with the parity bit as a mask test.
inline __m512i half_even_pre(__m512i v, const RowEp& e) {
  const __m512i t = _mm512_add_epi64(v, _mm512_set1_epi64(e.hm1));
  const __mmask8 odd = _mm512_test_epi64_mask(v, _mm512_set1_epi64(e.bit_n));
  return _mm512_mask_add_epi64(t, odd, v, _mm512_set1_epi64(e.half));
}

// requantize_ref without the zero point and the lower clamp (the packing does those).
template <int E>
inline __m512i requant_i32(__m512i acc, const RowEp& e) {
  if constexpr (E == kEpFloatBytes) {
    const __m512 v = avx512::requant_float<false>(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(e.m), _mm512_set1_ps(e.d),
                                                  e.d != 1.f, _mm512_setzero_ps(), _mm512_set1_ps(e.hi));
    return avx512::round_with_zero_point(v, e.odd_zp);
  } else {
    // The low 32 bits of each lane's rounded product, as requantize_fixed_ref keeps them: even
    // lanes shifted down by n, odd ones so that bits [n, n + 32) land in the high half.
    const __m512i m = _mm512_set1_epi32(e.fx_mult);
    const __m512i ev = half_even_pre(_mm512_mul_epi32(acc, m), e);
    const __m512i od = half_even_pre(_mm512_mul_epi32(_mm512_srli_epi64(acc, 32), m), e);
    const __m512i re = _mm512_sra_epi64(ev, _mm_cvtsi32_si128(e.sh));
    const __m128i so = _mm_cvtsi32_si128(e.sh_odd);
    const __m512i ro = e.odd_left ? _mm512_sll_epi64(od, so) : _mm512_sra_epi64(od, so);
    return _mm512_mask_blend_epi32(0xAAAA, re, ro);
  }
}

// Up to 64 pixels of one channel: NV accumulators to bytes, `valid` of them stored.
// The accumulators come by value: taking the address of the accumulator array makes GCC keep
// a copy of it in memory, stored on every iteration of the K loop.
template <int NV, int E>
inline void store_row_bytes(__m512i a0, __m512i a1, __m512i a2, __m512i a3, const RowEp& e, const ByteOut& bo,
                            uint8_t* dst, int valid) {
  const __m512i q[4] = {requant_i32<E>(a0, e), NV > 1 ? requant_i32<E>(a1, e) : _mm512_setzero_si512(),
                        NV > 2 ? requant_i32<E>(a2, e) : _mm512_setzero_si512(),
                        NV > 3 ? requant_i32<E>(a3, e) : _mm512_setzero_si512()};
  const __m512i zp = _mm512_set1_epi16(bo.zp);
  // Within each 128-bit lane i: 4 dwords of each q[v], in v order; vpermd below transposes.
  const __m512i w0 = _mm512_adds_epi16(_mm512_packs_epi32(q[0], q[1]), zp);
  const __m512i w1 = NV > 2 ? _mm512_adds_epi16(_mm512_packs_epi32(q[2], q[3]), zp) : w0;
  __m512i b = bo.is_unsigned ? _mm512_packus_epi16(w0, w1) : _mm512_packs_epi16(w0, w1);
  b = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), b);
  if (bo.is_unsigned) {
    if (bo.clamp_lo) b = _mm512_max_epu8(b, _mm512_set1_epi8(bo.qmin));
    if (bo.clamp_hi) b = _mm512_min_epu8(b, _mm512_set1_epi8(bo.qmax));
  } else {
    if (bo.clamp_lo) b = _mm512_max_epi8(b, _mm512_set1_epi8(bo.qmin));
    if (bo.clamp_hi) b = _mm512_min_epi8(b, _mm512_set1_epi8(bo.qmax));
  }
  if (valid >= 64) {
    _mm512_storeu_si512(dst, b);
  } else {
    _mm512_mask_storeu_epi8(dst, (uint64_t{1} << valid) - 1, b);
  }
}

// R rows x NV vectors of 16 pixels; ep[r] for row r; nr valid pixels.
template <int R, int NV, int E>
[[gnu::optimize("no-tree-vectorize")]] void conv_block(const QTileArgs& t, const RowEp* ep, const ByteOut& bo,
                                                       const uint8_t* a, const uint8_t* b, uint8_t* c, int nr) {
  __m512i acc[R][NV];
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_set1_epi32(ep[r].bias);
  }
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
  if constexpr (E == kEpGeneric) {
    const size_t oe = out_size(t.ep);
    for (int r = 0; r < R; ++r) {
      Chan ch = chan_row(t.ep, ep[r].ch);
      ch.bias = _mm512_setzero_si512();  // already in the accumulators
      for (int v = 0; v < NV; ++v) {
        ch.mask = lane_mask(nr - 16 * v);
        finish(acc[r][v], t.ep, ch, c + (r * t.ldc + 16 * v) * oe);
      }
    }
  } else {
    const __m512i z = _mm512_setzero_si512();
    for (int r = 0; r < R; ++r) {
      store_row_bytes<NV, E>(acc[r][0], NV > 1 ? acc[r][NV > 1 ? 1 : 0] : z, NV > 2 ? acc[r][NV > 2 ? 2 : 0] : z,
                             NV > 3 ? acc[r][NV > 3 ? 3 : 0] : z, ep[r], bo, c + r * t.ldc, nr);
    }
  }
}

using BlockFn = void (*)(const QTileArgs&, const RowEp*, const ByteOut&, const uint8_t*, const uint8_t*, uint8_t*, int);

template <int E>
struct BlockTable {
  // [rows - 1][vectors - 1]: 4 x 64 (rows 1..4) or 8 x 48.
  static constexpr BlockFn fns[8][4] = {
      {&conv_block<1, 1, E>, &conv_block<1, 2, E>, &conv_block<1, 3, E>, &conv_block<1, 4, E>},
      {&conv_block<2, 1, E>, &conv_block<2, 2, E>, &conv_block<2, 3, E>, &conv_block<2, 4, E>},
      {&conv_block<3, 1, E>, &conv_block<3, 2, E>, &conv_block<3, 3, E>, &conv_block<3, 4, E>},
      {&conv_block<4, 1, E>, &conv_block<4, 2, E>, &conv_block<4, 3, E>, &conv_block<4, 4, E>},
      {&conv_block<5, 1, E>, &conv_block<5, 2, E>, &conv_block<5, 3, E>, nullptr},
      {&conv_block<6, 1, E>, &conv_block<6, 2, E>, &conv_block<6, 3, E>, nullptr},
      {&conv_block<7, 1, E>, &conv_block<7, 2, E>, &conv_block<7, 3, E>, nullptr},
      {&conv_block<8, 1, E>, &conv_block<8, 2, E>, &conv_block<8, 3, E>, nullptr},
  };
};

// Blocks of 4 channels x 64 pixels (one full 64-byte store per row, 16 accumulators) measured
// faster than 8 x 48 on the ResNet18 / MobileNetV2 shapes (~2x at K <= 32, where the epilogue
// dominates, ~1.4-1.5x at K = 576..2304; GCC spills some of the 24 accumulators of 8 x 48)
// except for few pixels per call with a very long K (ResNet18 layer 4: 49 pixels, K = 4608:
// 4 x 64 was ~15% slower, as it streams that long B block from L2 twice per 8 channels).
constexpr int64_t kLongQuads = 384;
constexpr int kWidePixels = 128;

void conv_tile(const QTileArgs& t) {
  RowEp ep[kQPanelRows];
  for (int r = 0; r < t.mr; ++r) ep[r] = row_ep(t.ep, t.ch0 + r);
  ByteOut bo{};
  const int kind = conv_ep_kind(*t.ep.out, bo);
  const BlockFn(*table)[4] = kind == kEpFloatBytes   ? BlockTable<kEpFloatBytes>::fns
                             : kind == kEpFixedBytes ? BlockTable<kEpFixedBytes>::fns
                                                     : BlockTable<kEpGeneric>::fns;
  const bool b4x64 = t.quads <= kLongQuads || t.nr >= kWidePixels;
  const int lanes = b4x64 ? 64 : 48, rows = b4x64 ? 4 : kQPanelRows;
  const size_t oe = out_size(t.ep);
  const uint8_t* a = static_cast<const uint8_t*>(t.a);
  uint8_t* c = static_cast<uint8_t*>(t.c);
  for (int n = 0; n < t.nr; n += lanes) {
    const int nr = t.nr - n < lanes ? t.nr - n : lanes;
    const int nv = (nr + 15) / 16;
    const uint8_t* b = t.b + (n / kQPanelLanes) * t.b_panel;
    for (int r0 = 0; r0 < t.mr; r0 += rows) {
      const int rr = t.mr - r0 < rows ? t.mr - r0 : rows;
      table[rr - 1][nv - 1](t, ep + r0, bo, a + r0 * 4, b, c + (r0 * t.ldc + n) * oe, nr);
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
    conv_tile(t);
    return;
  }
  switch (t.wtype) {
    case QWeightType::kInt8: fc_lookup<QWeightType::kInt8>(t.mr, nv)(t); break;
    case QWeightType::kInt4: fc_lookup<QWeightType::kInt4>(t.mr, nv)(t); break;
    case QWeightType::kUint4: fc_lookup<QWeightType::kUint4>(t.mr, nv)(t); break;
  }
}

int max_nr(QForm form, int mr) {
  // kConv: conv_tile walks the pixels itself.
  if (form == QForm::kConv) return 1 << 30;
  return mr <= 4 ? 64 : 32;
}

}  // namespace

const QGemmIsa qgemm_isa_avx512vnni = {"qgemm_avx512vnni", 1, &tile, &max_nr};

}  // namespace qe::kernels
