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
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/int8/qpool.h"

namespace qe::kernels {

namespace {

// Taps of one axis for output o that read inside [0, n): first index and count.
void valid_taps(int64_t o, int64_t stride, int64_t pad, int64_t dil, int64_t k, int64_t n, int64_t& first,
                int64_t& count) {
  const int64_t start = o * stride - pad;
  first = start < 0 ? (-start + dil - 1) / dil : 0;
  int64_t last = k;
  if (start + (k - 1) * dil >= n) last = n - start <= 0 ? 0 : (n - start + dil - 1) / dil;
  count = std::max<int64_t>(0, last - first);
}

inline __mmask64 byte_mask(int64_t n) { return n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1; }

}  // namespace

void qmax_pool_s2_avx512(const PoolParams& p, bool is_signed, const void* x, void* y, int64_t p0, int64_t p1) {
  const int64_t iW = p.in[2], oW = p.out[2], kW = p.kernel[2], padW = p.pad[2];
  const __m512i flip = _mm512_set1_epi8(is_signed ? static_cast<char>(0x80) : 0);
  const __m512i low = _mm512_set1_epi16(0x00FF);
  // v lives at vbuf + lead; every load of step 2 stays inside the buffer, and everything outside
  // [0, iW) is zero. Step 1 writes whole vectors up to rup(iW, 64), zero past iW.
  const int64_t lead = 64 * ((padW + 1 + 63) / 64 + 1);
  const int64_t reach = std::max<int64_t>((iW + 63) / 64 * 64, 2 * ((oW + 31) / 32 * 32) + kW + 64);
  std::vector<uint8_t> vbuf(static_cast<size_t>(lead + reach + 64), 0);
  uint8_t* v = vbuf.data() + lead;
  const uint8_t* xb = static_cast<const uint8_t*>(x);
  uint8_t* yb = static_cast<uint8_t*>(y);
  for (int64_t pl = p0; pl < p1; ++pl) {
    const uint8_t* xp = xb + pl * p.in_size();
    uint8_t* yp = yb + pl * p.out_size();
    for (int64_t od = 0; od < p.out[0]; ++od) {
      int64_t fd, nd;
      valid_taps(od, p.stride[0], p.pad[0], p.dilation[0], p.kernel[0], p.in[0], fd, nd);
      for (int64_t oh = 0; oh < p.out[1]; ++oh) {
        int64_t fh, nh;
        valid_taps(oh, p.stride[1], p.pad[1], p.dilation[1], p.kernel[1], p.in[1], fh, nh);
        uint8_t* dst = yp + (od * p.out[1] + oh) * oW;
        if (nd == 0 || nh == 0) {  // no input row in the window: the lowest value
          std::memset(dst, is_signed ? 0x80 : 0x00, static_cast<size_t>(oW));
          continue;
        }
        for (int64_t c = 0; c < iW; c += 64) {
          const __mmask64 m = byte_mask(iW - c);
          __m512i acc = _mm512_setzero_si512();
          for (int64_t kd = fd; kd < fd + nd; ++kd) {
            const int64_t id = od * p.stride[0] - p.pad[0] + kd * p.dilation[0];
            for (int64_t kh = fh; kh < fh + nh; ++kh) {
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
