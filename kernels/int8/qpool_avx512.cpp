// AVX-512BW max pool over uint8 / int8 rows with W stride 2 (ResNet's and SqueezeNet's 3x3/2
// pools). The portable form in qpool.cpp splits each row into even and odd bytes and then
// finishes the short rows of these networks (13 to 56 outputs) mostly in scalar tails; here
// every step is whole vectors with masks:
//  1. the valid window rows of an output row are reduced to one row v (uint8 order: int8 values
//     XOR 0x80, which keeps their order), with v zero outside the input, so that padded taps
//     read the lowest value and never win;
//  2. each kernel column j reads v[2 ow + j - pad] for 32 outputs at once: one 64-byte load read
//     as 16-bit lanes, whose low byte (j - pad even) or high byte (odd) is that tap; the taps
//     are combined with vpmaxuw and narrowed with vpmovwb.
// A window without any input element gives the lowest value, as max_pool_ref.
// The row buffer is on the stack, and nothing here instantiates a library template: an inline
// copy compiled with AVX-512 flags must never be the one the linker hands to baseline code.
#include <immintrin.h>

#include <cstring>

#include "kernels/int8/qpool.h"

namespace qe::kernels {

namespace {

inline __mmask64 byte_mask(int64_t n) { return n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1; }

}  // namespace

void qmax_pool_s2_avx512(const PoolParams& p, bool is_signed, const void* x, void* y, int64_t p0, int64_t p1) {
  const int64_t iW = p.in[2], oW = p.out[2], kW = p.kernel[2], padW = p.pad[2];
  const __m512i flip = _mm512_set1_epi8(is_signed ? static_cast<char>(0x80) : 0);
  const __m512i low = _mm512_set1_epi16(0x00FF);
  // v lives at vbuf + lead; every load of step 2 stays inside the buffer, and everything outside
  // [0, iW) is zero. Step 1 writes whole vectors up to rup(iW, 64), zero past iW. The limits of
  // qmax_pool_s2_avx512_supports keep lead + reach + 64 under kQMaxPoolS2RowBytes.
  const int64_t lead = 64 * ((padW + 1 + 63) / 64 + 1);
  const int64_t row = (iW + 63) / 64 * 64, taps = 2 * ((oW + 31) / 32 * 32) + kW + 64;
  const int64_t reach = row > taps ? row : taps;
  alignas(64) uint8_t vbuf[kQMaxPoolS2RowBytes];
  std::memset(vbuf, 0, static_cast<size_t>(lead + reach + 64));
  uint8_t* v = vbuf + lead;
  const uint8_t* xb = static_cast<const uint8_t*>(x);
  uint8_t* yb = static_cast<uint8_t*>(y);
  for (int64_t pl = p0; pl < p1; ++pl) {
    const uint8_t* xp = xb + pl * p.in_size();
    uint8_t* yp = yb + pl * p.out_size();
    for (int64_t od = 0; od < p.out[0]; ++od) {
      const PoolTaps rd = pool_taps(od, p.stride[0], p.pad[0], p.dilation[0], p.kernel[0], 0, p.in[0]);
      for (int64_t oh = 0; oh < p.out[1]; ++oh) {
        const PoolTaps rh = pool_taps(oh, p.stride[1], p.pad[1], p.dilation[1], p.kernel[1], 0, p.in[1]);
        uint8_t* dst = yp + (od * p.out[1] + oh) * oW;
        if (rd.count == 0 || rh.count == 0) {  // no input row in the window: the lowest value
          std::memset(dst, is_signed ? 0x80 : 0x00, static_cast<size_t>(oW));
          continue;
        }
        for (int64_t c = 0; c < iW; c += 64) {
          const __mmask64 m = byte_mask(iW - c);
          __m512i acc = _mm512_setzero_si512();
          for (int64_t kd = rd.first; kd < rd.first + rd.count; ++kd) {
            const int64_t id = od * p.stride[0] - p.pad[0] + kd * p.dilation[0];
            for (int64_t kh = rh.first; kh < rh.first + rh.count; ++kh) {
              const int64_t ih = oh * p.stride[1] - p.pad[1] + kh * p.dilation[1];
              const __m512i r = _mm512_maskz_loadu_epi8(m, xp + (id * p.in[1] + ih) * iW + c);
              acc = _mm512_max_epu8(acc, _mm512_maskz_mov_epi8(m, _mm512_xor_si512(r, flip)));
            }
          }
          _mm512_storeu_si512(v + c, acc);
        }
        for (int64_t o = 0; o < oW; o += 32) {
          __m512i acc = _mm512_setzero_si512();
          for (int64_t j = 0; j < kW; ++j) {
            const int64_t off = j - padW;
            const bool odd = (off & 1) != 0;
            const __m512i w = _mm512_loadu_si512(v + 2 * o + (odd ? off - 1 : off));
            acc = _mm512_max_epu16(acc, odd ? _mm512_srli_epi16(w, 8) : _mm512_and_si512(w, low));
          }
          const __m256i bytes = _mm256_xor_si256(_mm512_cvtepi16_epi8(acc), _mm512_castsi512_si256(flip));
          _mm256_mask_storeu_epi8(dst + o, static_cast<__mmask32>(byte_mask(oW - o)), bytes);
        }
      }
    }
  }
}

}  // namespace qe::kernels
