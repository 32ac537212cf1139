#include "kernels/int8/qconv.h"

#include <emmintrin.h>

#include <algorithm>
#include <cstring>

#include "engine/core/thread_pool.h"

namespace qe::kernels {

namespace {

inline int32_t load_act(const QConvInput& in, int64_t e) {
  return in.is_signed ? int32_t{static_cast<const int8_t*>(in.x)[e]} : int32_t{static_cast<const uint8_t*>(in.x)[e]};
}

}  // namespace

void qconv_ref(const QConvParams& p, const QConvInput& in, const QWeightsSrc& w, const int32_t* bias,
               const QOutput& out, void* y) {
  const int64_t cin_g = p.in_channels / p.group, cout_g = p.out_channels / p.group;
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t oc = 0; oc < p.out_channels; ++oc) {
      const int64_t g = oc / cout_g;
      for (int64_t od = 0; od < p.out[0]; ++od) {
        for (int64_t oh = 0; oh < p.out[1]; ++oh) {
          for (int64_t ow = 0; ow < p.out[2]; ++ow) {
            int32_t acc = bias ? bias[oc] : 0;
            int64_t k = 0;
            for (int64_t c = 0; c < cin_g; ++c) {
              const int64_t xc = (b * p.in_channels + g * cin_g + c) * p.in_size();
              for (int64_t kd = 0; kd < p.kernel[0]; ++kd) {
                for (int64_t kh = 0; kh < p.kernel[1]; ++kh) {
                  for (int64_t kw = 0; kw < p.kernel[2]; ++kw, ++k) {
                    const int64_t id = od * p.stride[0] + kd * p.dilation[0] - p.pad[0];
                    const int64_t ih = oh * p.stride[1] + kh * p.dilation[1] - p.pad[1];
                    const int64_t iw = ow * p.stride[2] + kw * p.dilation[2] - p.pad[2];
                    if (id < 0 || id >= p.in[0] || ih < 0 || ih >= p.in[1] || iw < 0 || iw >= p.in[2]) continue;
                    const int32_t a = load_act(in, xc + (id * p.in[1] + ih) * p.in[2] + iw);
                    acc += (a - in.zero_point) * w.at(oc, k);
                  }
                }
              }
            }
            const int64_t pos = (od * p.out[1] + oh) * p.out[2] + ow;
            qgemm_store_ref(out, oc, acc, y, (b * p.out_channels + oc) * p.out_size() + pos);
          }
        }
      }
    }
  }
}

QConvWeights pack_qconv_weights(const QConvParams& p, const QWeightsSrc& w) {
  QConvWeights r;
  const int64_t cout_g = p.out_channels / p.group;
  for (int64_t g = 0; g < p.group; ++g) {
    QWeightsSrc s = w;
    s.first_channel = w.first_channel + g * cout_g;
    r.groups.push_back(pack_qweights(QForm::kConv, cout_g, p.gemm_k(), s));
  }
  return r;
}

QConvPlan plan_qconv(const QConvParams& p, int num_threads, const QGemmIsa* isa) {
  QConvPlan plan;
  plan.p = p;
  plan.pointwise = true;
  for (int i = 0; i < 3; ++i) {
    if (p.kernel[i] != 1 || p.stride[i] != 1 || p.pad[i] != 0 || p.out[i] != p.in[i]) plan.pointwise = false;
  }
  const int64_t cin_g = p.in_channels / p.group;
  for (int64_t c = 0; c < cin_g; ++c) {
    for (int64_t kd = 0; kd < p.kernel[0]; ++kd) {
      for (int64_t kh = 0; kh < p.kernel[1]; ++kh) {
        for (int64_t kw = 0; kw < p.kernel[2]; ++kw) {
          plan.tap_c.push_back(static_cast<int32_t>(c));
          plan.tap_d.push_back(static_cast<int32_t>(kd * p.dilation[0]));
          plan.tap_h.push_back(static_cast<int32_t>(kh * p.dilation[1]));
          plan.tap_w.push_back(static_cast<int32_t>(kw * p.dilation[2]));
        }
      }
    }
  }
  plan.pack_level = cpu_features().level;
  plan.pack_permute = plan.pack_level >= IsaLevel::kAvx512 && cpu_features().avx512_vbmi;
  plan.gemm = plan_qgemm(isa ? *isa : *qgemm_isa(), QForm::kConv, p.out_channels / p.group, p.out_size(), p.gemm_k(),
                         p.batch * p.group, num_threads);
  return plan;
}

namespace {

// One output row's share of a pixel chunk: positions [ow, ow + len) of output row oh land at
// lane offset `at` of the chunk.
struct RowSeg {
  int64_t oh, ow, len, at;
};

// dst[i] = src[i * stride] for i < len. Whole 16-byte vectors: up to 15 bytes past dst + len
// are written (the next segment or the row slack) and up to 16 * stride - 1 bytes past the
// last element read (the band slack).
inline void gather_run(const uint8_t* src, int64_t stride, int64_t len, uint8_t* dst) {
  if (stride == 1) {
    for (int64_t i = 0; i < len; i += 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
    }
  } else if (stride == 2) {
    const __m128i even = _mm_set1_epi16(0x00FF);
    for (int64_t i = 0; i < len; i += 16) {
      const __m128i a = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i)), even);
      const __m128i b = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i + 16)), even);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_packus_epi16(a, b));
    }
  } else {
    for (int64_t i = 0; i < len; ++i) dst[i] = src[i * stride];
  }
}

// Exactly n bytes (the source may end at the end of the input tensor): whole vectors, then an
// overlapping last one; short rows (7 or 14 pixels) with two overlapping 8- or 4-byte moves.
inline void copy_exact(const uint8_t* src, int64_t n, uint8_t* dst) {
  if (n >= 16) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
    }
    if (i < n) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + n - 16),
                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + n - 16)));
    }
  } else if (n >= 8) {
    uint64_t a, b;
    std::memcpy(&a, src, 8);
    std::memcpy(&b, src + n - 8, 8);
    std::memcpy(dst, &a, 8);
    std::memcpy(dst + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, src, 4);
    std::memcpy(&b, src + n - 4, 4);
    std::memcpy(dst, &a, 4);
    std::memcpy(dst + n - 4, &b, 4);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}

}  // namespace

// 2-D fast path, per chunk of kChunk pixels: the input rows the chunk reads are copied once per
// channel into a "band" with the padding written out (zero point), so that every K row of the
// chunk is a few strided runs from the band without bounds checks; 4 such rows are then
// interleaved into the quads of each 16-pixel panel. Image-row wrap-around inside a panel is
// just the next run. With AVX-512 VBMI, when each panel's 16 lanes lie within 64 bytes of the
// band (stride-1 rows, stride 2 without a row wrap), vpermb reads the panels straight from the
// bands instead (2-3x faster on ResNet18's 3x3 convs, bench_qgemm qim2col/).
void QIm2colPacker::pack(int64_t item, int64_t r0, int64_t rc, int64_t quads, uint8_t* dst) const {
  const QConvParams& p = plan_.p;
  if (p.in[0] != 1 || p.out[0] != 1 || p.kernel[0] != 1) {
    pack_generic(item, r0, rc, quads, dst);
    return;
  }
  constexpr int64_t kChunk = 1024;  // a multiple of 16: chunks start on panel boundaries
  const int64_t cin_g = p.in_channels / p.group, K = p.gemm_k();
  const int64_t image = item / p.group, g = item % p.group;
  const uint8_t* x = static_cast<const uint8_t*>(in_.x) + (image * p.in_channels + g * cin_g) * p.in_size();
  const uint8_t flip = in_.is_signed ? 0x80 : 0;
  const uint8_t pad = static_cast<uint8_t>(in_.zero_point);  // stored form; flipped with the rest
  const int64_t H = p.in[1], W = p.in[2], OW = p.out[2], sh = p.stride[1], sw = p.stride[2];
  const int64_t plane = H * W, kspan_h = (p.kernel[1] - 1) * p.dilation[1];
  // Band columns: padded input columns -pad .. the last one any tap reads.
  const int64_t bw = (OW - 1) * sw + (p.kernel[2] - 1) * p.dilation[2] + 1;
  const int64_t max_rows = ((std::min(kChunk, rc) + OW - 1) / OW + 1 - 1) * sh + kspan_h + 1 + sh;
  const int64_t band_bytes = max_rows * bw + 16 * sw + 64;
  // Band column j holds input column j - pad: columns [lpad, lpad + mid) come from the image.
  const int64_t lpad = std::min(p.pad[2], bw), mid = std::clamp<int64_t>(bw - lpad, 0, W);
  constexpr int64_t kPermuteMinQuads = 16;
  constexpr int kSlots = 4;  // a quad spans at most 4 channels, so channel % 4 never collides
  std::vector<uint8_t> buf(static_cast<size_t>(kSlots * band_bytes + 4 * (kChunk + 32)));
  uint8_t* bands = buf.data();
  uint8_t* rows = bands + kSlots * band_bytes;
  std::vector<RowSeg> segs;
  const bool wide = plan_.pack_level >= IsaLevel::kAvx512;
  std::vector<int64_t> perm_base(plan_.pack_permute ? kChunk / 16 : 0);
  std::vector<uint8_t> perm_idx(plan_.pack_permute ? kChunk * 4 : 0);
  for (int64_t c0 = 0; c0 < rc; c0 += kChunk) {
    const int64_t cn = std::min(kChunk, rc - c0), panels = (cn + 15) / 16;
    segs.clear();
    for (int64_t pos = r0 + c0, end = r0 + c0 + cn; pos < end;) {
      const int64_t oh = pos / OW, ow = pos % OW, len = std::min(OW - ow, end - pos);
      segs.push_back({oh, ow, len, pos - r0 - c0});
      pos += len;
    }
    const int64_t oh0 = segs.front().oh, ih0 = oh0 * sh - p.pad[1];
    const int64_t band_rows = (segs.back().oh - oh0) * sh + kspan_h + 1;
    int64_t slot_ch[kSlots] = {-1, -1, -1, -1};
    std::memset(bands, pad, static_cast<size_t>(kSlots * band_bytes));
    // Byte-permute form: each panel's 16 lanes, at tap (0, 0), read band offsets
    // base[i] + idx[l]; it applies when they span at most 64 bytes for every panel.
    // Building the table costs about as much as a few quads of packing: with K = 27 (MobileNet's
    // stem) the permute form measured slower than the interleave (bench_qgemm qim2col/).
    bool permute = plan_.pack_permute && quads >= kPermuteMinQuads;
    if (permute) {
      std::fill(perm_idx.begin(), perm_idx.begin() + 64 * panels, uint8_t{0});  // lanes past the chunk end
      int64_t oh = segs.front().oh, ow = segs.front().ow;
      for (int64_t l = 0; l < cn; ++l) {
        const int64_t offset = (oh - oh0) * sh * bw + ow * sw, i = l / 16;
        if (l % 16 == 0) perm_base[i] = offset;
        const int64_t d = offset - perm_base[i];
        if (d > 63) {
          permute = false;
          break;
        }
        std::memset(&perm_idx[static_cast<size_t>(4 * l)], static_cast<int>(d), 4);
        if (++ow == OW) {
          ow = 0;
          ++oh;
        }
      }
    }
    // Lanes past the chunk end still go through the interleave: give them defined bytes (the
    // permute form reads the bands only).
    if (!permute) std::memset(rows, pad, static_cast<size_t>(4 * (kChunk + 32)));
    for (int64_t q = 0; q < quads; ++q) {
      const uint8_t* rp[4];
      for (int j = 0; j < 4; ++j) {
        const int64_t k = q * 4 + j;
        uint8_t* row = rows + j * (kChunk + 32);
        rp[j] = permute ? bands : row;
        if (k >= K) continue;  // K padding lanes may hold anything (their weights are 0)
        const int64_t c = plan_.tap_c[k];
        uint8_t* band = bands + (c % kSlots) * band_bytes;
        if (slot_ch[c % kSlots] != c) {
          // The padding cells are the same for every channel: only the image part is rewritten.
          slot_ch[c % kSlots] = c;
          const uint8_t* xc = x + c * plane;
          for (int64_t ih = std::max<int64_t>(ih0, 0); ih < std::min(H, ih0 + band_rows); ++ih) {
            copy_exact(xc + ih * W, mid, band + (ih - ih0) * bw + lpad);
          }
        }
        const int64_t th = plan_.tap_h[k], tw = plan_.tap_w[k];
        if (permute) {
          rp[j] = band + th * bw + tw;
          continue;
        }
        for (const RowSeg& s : segs) {
          gather_run(band + ((s.oh - oh0) * sh + th) * bw + s.ow * sw + tw, sw, s.len, row + s.at);
        }
      }
      uint8_t* d = dst + (c0 / 16) * quads * 64 + q * 64;
      if (permute) {
        qim2col_quad_permute_avx512(rp, perm_base.data(), perm_idx.data(), panels, flip, d, quads * 64);
        continue;
      }
      int64_t pn = 0;
      if (wide) {
        for (; pn + 4 <= panels; pn += 4, d += 4 * quads * 64) {
          const uint8_t* const r4[4] = {rp[0] + pn * 16, rp[1] + pn * 16, rp[2] + pn * 16, rp[3] + pn * 16};
          qinterleave4x64_avx512(r4, flip, d, quads * 64);
        }
      }
      for (; pn < panels; ++pn, d += quads * 64) {
        const int64_t o = pn * 16;
        qinterleave4x16(rp[0] + o, rp[1] + o, rp[2] + o, rp[3] + o, flip, d);
      }
    }
  }
}

void QIm2colPacker::pack_generic(int64_t item, int64_t r0, int64_t rc, int64_t quads, uint8_t* dst) const {
  const QConvParams& p = plan_.p;
  const int64_t cin_g = p.in_channels / p.group, K = p.gemm_k();
  const int64_t image = item / p.group, g = item % p.group;
  const uint8_t* x = static_cast<const uint8_t*>(in_.x) + (image * p.in_channels + g * cin_g) * p.in_size();
  const uint8_t flip = in_.is_signed ? 0x80 : 0;
  const uint8_t pad = static_cast<uint8_t>(in_.zero_point);  // stored form; flipped with the rest
  const int64_t plane = p.in_size(), ih_n = p.in[1], iw_n = p.in[2];
  alignas(16) uint8_t tmp[4][16];
  for (int64_t p0 = 0; p0 < rc; p0 += kQPanelLanes) {
    const int valid = static_cast<int>(std::min<int64_t>(kQPanelLanes, rc - p0));
    // Input coordinates of each lane's output position at tap (0, 0, 0).
    int64_t bd[16], bh[16], bw[16];
    for (int l = 0; l < valid; ++l) {
      const int64_t pos = r0 + p0 + l;
      const int64_t ow = pos % p.out[2], oh = (pos / p.out[2]) % p.out[1], od = pos / (p.out[2] * p.out[1]);
      bd[l] = od * p.stride[0] - p.pad[0];
      bh[l] = oh * p.stride[1] - p.pad[1];
      bw[l] = ow * p.stride[2] - p.pad[2];
    }
    // A full panel on one output row with stride 1 along W reads 16 consecutive bytes per tap.
    const bool run = valid == kQPanelLanes && p.stride[2] == 1 && bd[0] == bd[15] && bh[0] == bh[15];
    for (int64_t q = 0; q < quads; ++q, dst += 64) {
      const uint8_t* rows[4];
      for (int j = 0; j < 4; ++j) {
        const int64_t k = q * 4 + j;
        if (k >= K) {
          rows[j] = nullptr;
          continue;
        }
        const uint8_t* xc = x + plan_.tap_c[k] * plane;
        const int64_t td = plan_.tap_d[k], th = plan_.tap_h[k], tw = plan_.tap_w[k];
        if (run) {
          const int64_t id = bd[0] + td, ih = bh[0] + th, iw = bw[0] + tw;
          if (id >= 0 && id < p.in[0] && ih >= 0 && ih < ih_n && iw >= 0 && iw + 16 <= iw_n) {
            rows[j] = xc + (id * ih_n + ih) * iw_n + iw;
            continue;
          }
        }
        for (int l = 0; l < valid; ++l) {
          const int64_t id = bd[l] + td, ih = bh[l] + th, iw = bw[l] + tw;
          const bool inside = id >= 0 && id < p.in[0] && ih >= 0 && ih < ih_n && iw >= 0 && iw < iw_n;
          tmp[j][l] = inside ? xc[(id * ih_n + ih) * iw_n + iw] : pad;
        }
        for (int l = valid; l < 16; ++l) tmp[j][l] = pad;
        rows[j] = tmp[j];
      }
      qinterleave4x16(rows[0], rows[1], rows[2], rows[3], flip, dst);
    }
  }
}

void qconv(const QConvPlan& plan, ThreadPool& pool, const QConvWeights& w, const QConvInput& in,
           const int32_t* bias, const QOutput& out, void* y, uint8_t* scratch) {
  const QConvParams& p = plan.p;
  const int64_t cin_g = p.in_channels / p.group, cout_g = p.out_channels / p.group, P = p.out_size();
  QIm2colPacker im2col(plan, in);
  QMatrixPacker matrix(QForm::kConv, in.x, p.in_size(), cin_g, in.is_signed, cin_g * p.in_size());
  const size_t oe = out.kind == QOutKind::kRequant ? 1 : 4;
  QGemmRun run;
  run.w = &w.groups[0];
  run.packer = plan.pointwise ? static_cast<const QActPacker*>(&matrix) : &im2col;
  run.act_zero_point = in.zero_point + (in.is_signed ? 128 : 0);
  run.bias = bias;
  run.out = &out;
  run.item = [&](int64_t i, QGemmItem& it) {
    const int64_t image = i / p.group, g = i % p.group;
    it.item = i;
    it.w = &w.groups[static_cast<size_t>(g)];
    it.ch_offset = g * cout_g;
    it.c = static_cast<uint8_t*>(y) + (image * p.out_channels + g * cout_g) * P * oe;
    it.ldc = P;
  };
  qgemm_run(pool, plan.gemm, run, scratch);
}

}  // namespace qe::kernels
