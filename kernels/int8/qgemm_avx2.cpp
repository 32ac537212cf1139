// qgemm_avx2: exact integer products without VNNI. The vector operand's bytes are widened to
// int16 (zero-extended activations, sign-extended weights) and multiplied by the broadcast
// operand, prepared as int16, with vpmaddwd: each int32 lane gets 2 products (|sum| < 2^16, no
// saturation — vpmaddubsw would saturate and is not used). A 16-byte quad load covers 4 lanes,
// whose two halves of the quad stay in neighbouring int32 lanes until one vphaddd at the end.
// Tiles are up to 4 rows x 8 lanes (8 accumulators); the epilogue requantizes 8 lanes at a time
// with the arithmetic of requantize.h (64-bit arithmetic shifts and min/max emulated).
#include <immintrin.h>

#include <cstring>

#include "kernels/int8/qgemm.h"
#include "kernels/int8/requant_vec_avx2.h"

namespace qe::kernels {

namespace {

inline __m256 no_contract(__m256 x) {
  asm("" : "+x"(x));
  return x;
}

inline __m256i sra64(__m256i v, __m256i n) {
  const __m256i sign = _mm256_cmpgt_epi64(_mm256_setzero_si256(), v);
  return _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(v, sign), n), sign);
}

inline __m256i clamp64(__m256i v, __m256i lo, __m256i hi) {
  v = _mm256_blendv_epi8(v, lo, _mm256_cmpgt_epi64(lo, v));
  return _mm256_blendv_epi8(v, hi, _mm256_cmpgt_epi64(v, hi));
}

inline __m256i rshift_half_even(__m256i v, __m256i n) {
  const __m256i one = _mm256_set1_epi64x(1);
  const __m256i half_m1 = _mm256_sub_epi64(_mm256_sllv_epi64(one, _mm256_sub_epi64(n, one)), one);
  const __m256i odd = _mm256_and_si256(sra64(v, n), one);
  return sra64(_mm256_add_epi64(_mm256_add_epi64(v, half_m1), odd), n);
}

// 8 lanes of sums; lane i belongs to channel ch[i]. Writes `valid` outputs.
void finish8(__m256i acc, const QEpilogue& ep, const int64_t* ch, int valid, void* dst) {
  const QOutput& o = *ep.out;
  alignas(32) int32_t bias[8], fx[8], sh[8];
  alignas(32) float f0[8], f1[8];
  for (int i = 0; i < 8; ++i) {
    const int64_t c = ch[i];
    bias[i] = (ep.bias ? ep.bias[c] : 0) - ep.a_zp * ep.wsum[c];
  }
  acc = _mm256_add_epi32(acc, _mm256_load_si256(reinterpret_cast<const __m256i*>(bias)));
  alignas(32) int32_t res[8];
  if (o.kind == QOutKind::kInt32) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(res), acc);
    std::memcpy(dst, res, static_cast<size_t>(valid) * 4);
    return;
  }
  if (o.kind == QOutKind::kFloat) {
    for (int i = 0; i < 8; ++i) {
      f0[i] = o.dequant_scale[ch[i]];
      f1[i] = o.float_bias ? o.float_bias[ch[i]] : 0.f;
    }
    __m256 f = no_contract(_mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_load_ps(f0)));
    if (o.float_bias) f = _mm256_add_ps(f, _mm256_load_ps(f1));
    alignas(32) float out[8];
    _mm256_store_ps(out, f);
    std::memcpy(dst, out, static_cast<size_t>(valid) * 4);
    return;
  }
  const RequantParams& r = o.requant;
  const RequantOutput& ro = r.out;
  __m256i q;
  if (r.mode == RequantMode::kFloat) {
    for (int i = 0; i < 8; ++i) f0[i] = r.channel(ch[i]).m;
    const __m256 m = _mm256_load_ps(f0);
    const __m256 lo = _mm256_set1_ps(static_cast<float>(ro.qmin - ro.zero_point));
    const __m256 hi = _mm256_set1_ps(static_cast<float>(ro.qmax - ro.zero_point));
    const __m256 v = avx2::requant_float(_mm256_cvtepi32_ps(acc), m, _mm256_set1_ps(ro.divisor), ro.divisor != 1.f,
                                         lo, hi);
    q = _mm256_add_epi32(avx2::round_with_zero_point(v, (ro.zero_point & 1) != 0), _mm256_set1_epi32(ro.zero_point));
  } else {
    for (int i = 0; i < 8; ++i) {
      fx[i] = r.channel(ch[i]).fx_mult;
      sh[i] = r.channel(ch[i]).fx_shift;
    }
    const __m256i m = _mm256_load_si256(reinterpret_cast<const __m256i*>(fx));
    const __m256i n = _mm256_load_si256(reinterpret_cast<const __m256i*>(sh));
    const __m256i lo32 = _mm256_set1_epi64x(0xFFFFFFFFLL);
    __m256i ev = _mm256_mul_epi32(acc, m);
    __m256i od = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), _mm256_srli_epi64(m, 32));
    ev = rshift_half_even(ev, _mm256_and_si256(n, lo32));
    od = rshift_half_even(od, _mm256_srli_epi64(n, 32));
    const __m256i zp = _mm256_set1_epi64x(ro.zero_point), lo = _mm256_set1_epi64x(ro.qmin),
                  hi = _mm256_set1_epi64x(ro.qmax);
    ev = clamp64(_mm256_add_epi64(ev, zp), lo, hi);
    od = clamp64(_mm256_add_epi64(od, zp), lo, hi);
    q = _mm256_blend_epi32(ev, _mm256_slli_epi64(od, 32), 0xAA);
  }
  _mm256_store_si256(reinterpret_cast<__m256i*>(res), q);
  uint8_t* d = static_cast<uint8_t*>(dst);
  for (int i = 0; i < valid; ++i) d[i] = static_cast<uint8_t>(res[i]);
}

inline int64_t qword(const int16_t* p) {
  int64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// 4 lanes x 4 bytes of the vector operand widened to int16.
template <QForm F, QWeightType WT>
inline __m256i widen(const uint8_t* p, __m128i zp, int nib) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if constexpr (F == QForm::kConv) {
    return _mm256_cvtepu8_epi16(x);
  } else if constexpr (WT == QWeightType::kInt8) {
    return _mm256_cvtepi8_epi16(x);
  } else {
    __m128i v = _mm_and_si128(nib ? _mm_srli_epi16(x, 4) : x, _mm_set1_epi8(0x0F));
    if constexpr (WT == QWeightType::kInt4) {
      v = _mm_sub_epi8(_mm_xor_si128(v, _mm_set1_epi8(8)), _mm_set1_epi8(8));
    } else {
      v = _mm_sub_epi8(v, zp);
    }
    return _mm256_cvtepi8_epi16(v);
  }
}

// R rows x 8 lanes; b points at this half panel's bytes of quad 0 (stride 64 per quad, or per
// quad pair for int4).
template <int R, QForm F, QWeightType WT>
void tile8(const QTileArgs& t, const int16_t* a, const uint8_t* b, const uint8_t* zp_lanes, int64_t row0,
           int64_t lane0, int valid) {
  __m256i acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  __m128i zp[2] = {_mm_setzero_si128(), _mm_setzero_si128()};
  if constexpr (WT == QWeightType::kUint4) {
    for (int h = 0; h < 2; ++h) {
      alignas(16) uint8_t z[16];
      for (int i = 0; i < 16; ++i) z[i] = zp_lanes[4 * h + i / 4];
      zp[h] = _mm_load_si128(reinterpret_cast<const __m128i*>(z));
    }
  }
  const bool pairs = F == QForm::kFc && WT != QWeightType::kInt8;
  for (int64_t q = 0; q < t.quads; ++q) {
    const uint8_t* bq = b + (pairs ? (q / 2) : q) * 64;
    const int nib = static_cast<int>(q & 1);
    const __m256i b0 = widen<F, WT>(bq, zp[0], nib), b1 = widen<F, WT>(bq + 16, zp[1], nib);
    const int16_t* aq = a + q * t.a_stride;
    for (int r = 0; r < R; ++r) {
      const __m256i w = _mm256_set1_epi64x(qword(aq + r * 4));
      acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(b0, w));
      acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(b1, w));
    }
  }
  const size_t oe = t.ep.out->kind == QOutKind::kRequant ? 1 : 4;
  for (int r = 0; r < R; ++r) {
    const __m256i s = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[r][0], acc[r][1]), 0xD8);
    int64_t ch[8];
    for (int i = 0; i < 8; ++i) {
      // Lanes past `valid` reuse a valid channel so every parameter read stays in bounds.
      ch[i] = F == QForm::kConv ? t.ch0 + row0 + r : t.ch0 + lane0 + (i < valid ? i : 0);
    }
    finish8(s, t.ep, ch, valid, static_cast<uint8_t*>(t.c) + ((row0 + r) * t.ldc + lane0) * oe);
  }
}

template <QForm F, QWeightType WT>
void tile_form(const QTileArgs& t) {
  using Fn = void (*)(const QTileArgs&, const int16_t*, const uint8_t*, const uint8_t*, int64_t, int64_t, int);
  static constexpr Fn fns[4] = {&tile8<1, F, WT>, &tile8<2, F, WT>, &tile8<3, F, WT>, &tile8<4, F, WT>};
  const int16_t* a = static_cast<const int16_t*>(t.a);
  for (int lane0 = 0; lane0 < t.nr; lane0 += 8) {
    const uint8_t* b = t.b + (lane0 / 16) * t.b_panel + ((lane0 % 16) / 8) * 32;
    const uint8_t* zp = t.b_zp ? t.b_zp + lane0 : nullptr;
    const int valid = t.nr - lane0 < 8 ? t.nr - lane0 : 8;
    for (int r0 = 0; r0 < t.mr; r0 += 4) {
      const int rows = t.mr - r0 < 4 ? t.mr - r0 : 4;
      fns[rows - 1](t, a + r0 * 4, b, zp, r0, lane0, valid);
    }
  }
}

void tile(const QTileArgs& t) {
  if (t.form == QForm::kConv) {
    tile_form<QForm::kConv, QWeightType::kInt8>(t);
    return;
  }
  switch (t.wtype) {
    case QWeightType::kInt8: tile_form<QForm::kFc, QWeightType::kInt8>(t); break;
    case QWeightType::kInt4: tile_form<QForm::kFc, QWeightType::kInt4>(t); break;
    case QWeightType::kUint4: tile_form<QForm::kFc, QWeightType::kUint4>(t); break;
  }
}

int max_nr(QForm, int) { return 32; }

}  // namespace

const QGemmIsa qgemm_isa_avx2 = {"qgemm_avx2", 2, &tile, &max_nr};

}  // namespace qe::kernels
