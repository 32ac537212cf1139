#include "kernels/int8/qgemm.h"

#include <emmintrin.h>

#include <algorithm>
#include <cstring>
#include <span>

#include "engine/core/thread_pool.h"
#include "kernels/gemm/task_phases.h"

namespace qe::kernels {

const char* qweight_type_name(QWeightType t) {
  switch (t) {
    case QWeightType::kInt8: return "int8";
    case QWeightType::kInt4: return "int4";
    case QWeightType::kUint4: return "uint4";
  }
  return "?";
}

const char* qout_kind_name(QOutKind k) {
  switch (k) {
    case QOutKind::kRequant: return "requant";
    case QOutKind::kInt32: return "int32";
    case QOutKind::kFloat: return "float";
  }
  return "?";
}

namespace {

inline int32_t nibble(const uint8_t* p, int64_t e) { return (p[e >> 1] >> ((e & 1) * 4)) & 0xF; }
inline int32_t sext4(int32_t v) { return (v ^ 8) - 8; }

// Byte and bit shift of int4 weight (quad q, element j) of panel lane `lane` (layouts in qgemm.h).
struct NibbleSlot {
  int64_t byte, shift;
};
inline NibbleSlot int4_slot(QForm form, int64_t width, int64_t lane, int64_t q, int64_t j) {
  if (form == QForm::kConv) {
    const int64_t e = (q * width + lane) * 4 + j;
    return {e >> 1, (e & 1) * 4};
  }
  return {((q / 2) * width + lane) * 4 + j, (q & 1) * 4};
}

}  // namespace

int32_t QWeightsSrc::at(int64_t c, int64_t k) const {
  c += first_channel;
  const int64_t e = k_major ? k * ld + c : c * ld + k;
  switch (type) {
    case QWeightType::kInt8: return static_cast<const int8_t*>(data)[e];
    case QWeightType::kInt4: return sext4(nibble(static_cast<const uint8_t*>(data), e));
    case QWeightType::kUint4: return nibble(static_cast<const uint8_t*>(data), e) - zero_points[c];
  }
  return 0;
}

void qgemm_store_ref(const QOutput& out, int64_t channel, int32_t acc, void* c, int64_t index) {
  switch (out.kind) {
    case QOutKind::kRequant: {
      const RequantParams& r = out.requant;
      static_cast<uint8_t*>(c)[index] = static_cast<uint8_t>(requantize_ref(acc, r.mode, r.channel(channel), r.out));
      break;
    }
    case QOutKind::kInt32: static_cast<int32_t*>(c)[index] = acc; break;
    case QOutKind::kFloat: {
      float v = static_cast<float>(acc) * out.dequant_scale[channel];
      if (out.float_bias) v += out.float_bias[channel];
      static_cast<float*>(c)[index] = v;
      break;
    }
  }
}

void qgemm_ref(const QGemmArgs& g, const QWeightsSrc& w) {
  const bool conv = g.form == QForm::kConv;
  for (int64_t m = 0; m < g.M; ++m) {
    for (int64_t n = 0; n < g.N; ++n) {
      const int64_t ch = conv ? m : n;
      int32_t acc = g.bias ? g.bias[ch] : 0;
      for (int64_t k = 0; k < g.K; ++k) {
        const int64_t e = conv ? k * g.ld_act + n : m * g.ld_act + k;
        const int32_t a = g.act_signed ? int32_t{static_cast<const int8_t*>(g.act)[e]}
                                       : int32_t{static_cast<const uint8_t*>(g.act)[e]};
        acc += (a - g.act_zero_point) * w.at(ch, k);
      }
      qgemm_store_ref(g.out, ch, acc, g.c, m * g.ldc + n);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Packing.

PackedQWeights pack_qweights(QForm form, int64_t channels, int64_t K, const QWeightsSrc& w) {
  PackedQWeights p;
  p.form = form;
  p.type = w.type;
  p.channels = channels;
  p.K = K;
  const bool int4 = w.type != QWeightType::kInt8;
  p.quads = (K + 3) / 4;
  if (form == QForm::kFc && int4) p.quads = (p.quads + 1) / 2 * 2;
  const int width = form == QForm::kConv ? kQPanelRows : kQPanelLanes;
  const int64_t panels = (channels + width - 1) / width;
  p.panel_bytes = p.quads * width * 4 / (int4 ? 2 : 1);
  p.data.assign(static_cast<size_t>(panels * p.panel_bytes), 0);
  p.wsum.assign(static_cast<size_t>(channels), 0);
  if (w.type == QWeightType::kUint4) {
    // Padded to whole panels so vector code may read a panel's zero points at once.
    p.zero_points.assign(static_cast<size_t>(panels * width), 0);
    std::copy(w.zero_points + w.first_channel, w.zero_points + w.first_channel + channels, p.zero_points.begin());
  }
  for (int64_t c = 0; c < channels; ++c) {
    uint8_t* panel = p.data.data() + (c / width) * p.panel_bytes;
    const int64_t lane = c % width;
    int32_t sum = 0;
    for (int64_t k = 0; k < K; ++k) {
      const int32_t v = w.at(c, k);  // zero point removed
      sum += v;
      const int64_t q = k / 4, j = k % 4;
      if (!int4) {
        panel[(q * width + lane) * 4 + j] = static_cast<uint8_t>(static_cast<int8_t>(v));
        continue;
      }
      // The stored nibble (before zero point removal) keeps int4 at half the bytes.
      const uint8_t nib =
          static_cast<uint8_t>((w.type == QWeightType::kUint4 ? v + p.zero_points[static_cast<size_t>(c)] : v) & 0xF);
      const NibbleSlot at = int4_slot(form, width, lane, q, j);
      panel[at.byte] = static_cast<uint8_t>(panel[at.byte] | (nib << at.shift));
    }
    p.wsum[static_cast<size_t>(c)] = sum;
  }
  // Padding (channels past the end, K past the end) must read as weight 0; for uint4 the stored
  // nibble of a zero weight is the zero point.
  if (w.type == QWeightType::kUint4) {
    for (int64_t c = 0; c < panels * width; ++c) {
      const uint8_t zp = c < channels ? p.zero_points[static_cast<size_t>(c)] : 0;
      uint8_t* panel = p.data.data() + (c / width) * p.panel_bytes;
      const int64_t lane = c % width;
      for (int64_t k = c < channels ? K : 0; k < p.quads * 4; ++k) {
        const int64_t q = k / 4, j = k % 4;
        const NibbleSlot at = int4_slot(form, width, lane, q, j);
        panel[at.byte] = static_cast<uint8_t>(panel[at.byte] | (zp << at.shift));
      }
    }
  }
  return p;
}

void qinterleave4x16(const uint8_t* r0, const uint8_t* r1, const uint8_t* r2, const uint8_t* r3, uint8_t flip,
                     uint8_t* dst) {
  const __m128i f = _mm_set1_epi8(static_cast<char>(flip));
  auto ld = [&](const uint8_t* r) {
    return r ? _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r)), f) : _mm_setzero_si128();
  };
  const __m128i a = ld(r0), b = ld(r1), c = ld(r2), d = ld(r3);
  const __m128i ab_lo = _mm_unpacklo_epi8(a, b), ab_hi = _mm_unpackhi_epi8(a, b);
  const __m128i cd_lo = _mm_unpacklo_epi8(c, d), cd_hi = _mm_unpackhi_epi8(c, d);
  __m128i* o = reinterpret_cast<__m128i*>(dst);
  _mm_storeu_si128(o + 0, _mm_unpacklo_epi16(ab_lo, cd_lo));
  _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(ab_lo, cd_lo));
  _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(ab_hi, cd_hi));
  _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(ab_hi, cd_hi));
}

void QMatrixPacker::pack(int64_t item, int64_t r0, int64_t rc, int64_t quads, uint8_t* dst) const {
  const uint8_t* x = act_ + item * item_stride_;
  if (form_ == QForm::kConv) {
    // Rows k of B, 16 pixels at a time; the last partial panel goes through a zero-filled copy.
    alignas(16) uint8_t tail[4][16];
    for (int64_t p0 = 0; p0 < rc; p0 += kQPanelLanes) {
      const int64_t valid = std::min<int64_t>(kQPanelLanes, rc - p0);
      for (int64_t q = 0; q < quads; ++q, dst += 64) {
        const uint8_t* rows[4];
        for (int j = 0; j < 4; ++j) {
          const int64_t k = q * 4 + j;
          if (k >= K_) {
            rows[j] = nullptr;
            continue;
          }
          const uint8_t* src = x + k * ld_ + r0 + p0;
          if (valid == kQPanelLanes) {
            rows[j] = src;
          } else {
            std::memset(tail[j], 0, 16);
            std::memcpy(tail[j], src, static_cast<size_t>(valid));
            rows[j] = tail[j];
          }
        }
        qinterleave4x16(rows[0], rows[1], rows[2], rows[3], flip_, dst);
      }
    }
    return;
  }
  // kFc: rows m are contiguous in K, so a quad is 4 consecutive bytes.
  for (int64_t p0 = 0; p0 < rc; p0 += kQPanelRows) {
    const int64_t valid = std::min<int64_t>(kQPanelRows, rc - p0);
    for (int64_t q = 0; q < quads; ++q, dst += 4 * kQPanelRows) {
      for (int64_t r = 0; r < kQPanelRows; ++r) {
        uint8_t* o = dst + r * 4;
        if (r >= valid) {
          std::memset(o, 0, 4);
          continue;
        }
        const uint8_t* src = x + (r0 + p0 + r) * ld_;
        for (int64_t j = 0; j < 4; ++j) {
          const int64_t k = q * 4 + j;
          o[j] = k < K_ ? static_cast<uint8_t>(src[k] ^ flip_) : 0;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Scalar family: the same packed layouts read element by element.

namespace {

int32_t scalar_b(const QTileArgs& t, int64_t q, int lane, int j) {
  const uint8_t* panel = t.b + (lane / kQPanelLanes) * t.b_panel;
  const int l = lane % kQPanelLanes;
  if (t.form == QForm::kConv) return panel[(q * kQPanelLanes + l) * 4 + j];
  if (t.wtype == QWeightType::kInt8) return static_cast<int8_t>(panel[(q * kQPanelLanes + l) * 4 + j]);
  const int32_t nib = (panel[((q / 2) * kQPanelLanes + l) * 4 + j] >> ((q & 1) * 4)) & 0xF;
  return t.wtype == QWeightType::kInt4 ? sext4(nib) : nib - t.b_zp[lane];
}

void scalar_tile(const QTileArgs& t) {
  for (int r = 0; r < t.mr; ++r) {
    for (int lane = 0; lane < t.nr; ++lane) {
      int32_t acc = 0;
      for (int64_t q = 0; q < t.quads; ++q) {
        for (int j = 0; j < 4; ++j) {
          const int64_t ai = q * t.a_stride + r * 4 + j;
          const int32_t a = t.form == QForm::kConv ? int32_t{static_cast<const int8_t*>(t.a)[ai]}
                                                   : int32_t{static_cast<const uint8_t*>(t.a)[ai]};
          acc += a * scalar_b(t, q, lane, j);
        }
      }
      const int64_t ch = t.ch0 + (t.form == QForm::kConv ? r : lane);
      acc += (t.ep.bias ? t.ep.bias[ch] : 0) - t.ep.a_zp * t.ep.wsum[ch];
      qgemm_store_ref(*t.ep.out, ch, acc, t.c, r * t.ldc + lane);
    }
  }
}

int scalar_max_nr(QForm, int) { return 48; }

}  // namespace

const QGemmIsa qgemm_isa_scalar = {"qgemm_scalar", 1, &scalar_tile, &scalar_max_nr};

const QGemmIsa* qgemm_isa(IsaLevel level) {
  if (level >= IsaLevel::kAvx512Vnni) return &qgemm_isa_avx512vnni;
  if (level >= IsaLevel::kAvx2) return &qgemm_isa_avx2;
  return &qgemm_isa_scalar;
}

// ---------------------------------------------------------------------------------------------
// Tiling and tasks.

namespace {

inline int64_t rup(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

void even_split(int64_t n, int64_t max_tile, int64_t unit, int64_t& tile, int64_t& count) {
  count = std::max<int64_t>(1, (n + max_tile - 1) / max_tile);
  tile = rup((n + count - 1) / count, unit);
  count = std::max<int64_t>(1, (n + tile - 1) / tile);
}

// Bytes of the broadcast rows prepared for one 8-row panel.
int64_t prepared_bytes(const QGemmIsa& isa, int64_t quads) { return rup(quads * kQPanelRows * 4 * isa.bcast_elem, 64); }

}  // namespace

QGemmPlan plan_qgemm(const QGemmIsa& isa, QForm form, int64_t M, int64_t N, int64_t K, int64_t batch,
                     int num_threads, QWeightType wtype) {
  QGemmPlan p;
  p.isa = &isa;
  p.form = form;
  p.M = M;
  p.N = N;
  p.K = K;
  p.batch = batch;
  p.quads = (K + 3) / 4;
  if (form == QForm::kFc && wtype != QWeightType::kInt8) p.quads = (p.quads + 1) / 2 * 2;
  const int64_t kbytes = std::max<int64_t>(1, p.quads * 4);
  const int64_t want = num_threads > 1 ? int64_t{4} * num_threads : 1;
  const int64_t Mx = std::max<int64_t>(M, 1), Nx = std::max<int64_t>(N, 1);
  if (form == QForm::kConv) {
    // All channels per task (the weights are prepacked, the activations packed once per task);
    // the packed pixel block stays within ~192 KB of L2. (Measured: 49 pixels at K = 4608 run
    // faster as 32 + 17 than as one 48 + 1 tile, despite streaming the weights twice.)
    const int64_t nc_max = std::clamp<int64_t>(192 * 1024 / kbytes / 48 * 48, 48, 3072);
    even_split(Nx, nc_max, kQPanelLanes, p.nc, p.tiles_n);
    even_split(Mx, rup(Mx, kQPanelRows), kQPanelRows, p.mc, p.tiles_m);
    while (batch * p.tiles_m * p.tiles_n < want) {
      const bool can_n = p.nc > kQPanelLanes, can_m = p.mc > kQPanelRows;
      // Cutting N keeps each task's packing unique while tiles stay >= 48 pixels (the widest
      // microkernel); past that cut M, but only until every thread has a task, since each
      // M tile packs the same pixels again.
      if (can_n && p.nc >= 96) {
        even_split(Nx, std::max<int64_t>(kQPanelLanes, p.nc / 2), kQPanelLanes, p.nc, p.tiles_n);
      } else if (batch * p.tiles_m * p.tiles_n >= num_threads) {
        break;
      } else if (can_m) {
        even_split(Mx, std::max<int64_t>(kQPanelRows, p.mc / 2), kQPanelRows, p.mc, p.tiles_m);
      } else if (can_n) {
        even_split(Nx, std::max<int64_t>(kQPanelLanes, p.nc / 2), kQPanelLanes, p.nc, p.tiles_n);
      } else {
        break;
      }
    }
    p.slot_bytes = rup(p.nc, kQPanelLanes) * kbytes + prepared_bytes(isa, p.quads) + 64;
  } else {
    even_split(Mx, 64, kQPanelRows, p.mc, p.tiles_m);
    even_split(Nx, 512, kQPanelLanes, p.nc, p.tiles_n);
    while (batch * p.tiles_m * p.tiles_n < want && p.nc > kQPanelLanes) {
      even_split(Nx, std::max<int64_t>(kQPanelLanes, p.nc / 2), kQPanelLanes, p.nc, p.tiles_n);
    }
    p.slot_bytes = rup(rup(p.mc, kQPanelRows) * kbytes, 64) + prepared_bytes(isa, p.quads) * (p.mc / kQPanelRows + 1);
  }
  p.slot_bytes = rup(p.slot_bytes, 64);
  p.slots = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads, p.tasks())));
  return p;
}

namespace {

inline size_t out_elem(const QOutput& o) { return o.kind == QOutKind::kRequant ? 1 : 4; }

// Broadcast rows of one 8-row panel in the form the ISA family reads: int8/uint8 bytes as
// stored (returned in place when no conversion is needed), int4 unpacked, or widened to int16.
const void* prepare_bcast(const QGemmIsa& isa, QForm form, QWeightType type, const uint8_t* src, int64_t quads,
                          const uint8_t* zp, int rows, uint8_t* dst) {
  if (type == QWeightType::kInt8 && isa.bcast_elem == 1) return src;
  const bool is_signed = form == QForm::kConv;  // weights signed, activations unsigned
  // One quad of a panel is 32 elements: 16 bytes of int8/uint8 twice, or 16 bytes of nibbles.
  // Unpacking runs once per panel and task, so it is vectorised (SSE2, the baseline).
  const __m128i low4 = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
  __m128i zp_lo = _mm_setzero_si128(), zp_hi = _mm_setzero_si128();
  if (type == QWeightType::kUint4) {
    alignas(16) uint8_t z[32];
    for (int e = 0; e < 32; ++e) z[e] = e / 4 < rows ? zp[e / 4] : 0;
    zp_lo = _mm_load_si128(reinterpret_cast<const __m128i*>(z));
    zp_hi = _mm_load_si128(reinterpret_cast<const __m128i*>(z + 16));
  }
  for (int64_t q = 0; q < quads; ++q) {
    __m128i v0, v1;  // elements 0..15 and 16..31 of the quad, as bytes
    if (type == QWeightType::kInt8) {
      v0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + q * 32));
      v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + q * 32 + 16));
    } else {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + q * 16));
      const __m128i lo = _mm_and_si128(x, low4), hi = _mm_and_si128(_mm_srli_epi16(x, 4), low4);
      v0 = _mm_unpacklo_epi8(lo, hi);
      v1 = _mm_unpackhi_epi8(lo, hi);
      if (type == QWeightType::kInt4) {
        v0 = _mm_sub_epi8(_mm_xor_si128(v0, eight), eight);
        v1 = _mm_sub_epi8(_mm_xor_si128(v1, eight), eight);
      } else {
        v0 = _mm_sub_epi8(v0, zp_lo);
        v1 = _mm_sub_epi8(v1, zp_hi);
      }
    }
    if (isa.bcast_elem == 1) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + q * 32), v0);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + q * 32 + 16), v1);
      continue;
    }
    const bool sx = is_signed || type != QWeightType::kInt8;  // int4 values are signed after unpacking
    const __m128i s0 = sx ? _mm_cmpgt_epi8(_mm_setzero_si128(), v0) : _mm_setzero_si128();
    const __m128i s1 = sx ? _mm_cmpgt_epi8(_mm_setzero_si128(), v1) : _mm_setzero_si128();
    __m128i* d = reinterpret_cast<__m128i*>(dst + q * 64);
    _mm_storeu_si128(d + 0, _mm_unpacklo_epi8(v0, s0));
    _mm_storeu_si128(d + 1, _mm_unpackhi_epi8(v0, s0));
    _mm_storeu_si128(d + 2, _mm_unpacklo_epi8(v1, s1));
    _mm_storeu_si128(d + 3, _mm_unpackhi_epi8(v1, s1));
  }
  return dst;
}

}  // namespace

void qgemm_task(const QGemmPlan& plan, const QGemmRun& run, int64_t task, uint8_t* slot) {
  const QGemmIsa& isa = *plan.isa;
  const PackedQWeights* w_ptr = run.w;
  const int64_t per = plan.tiles_m * plan.tiles_n;
  const int64_t b = task / per, tm = (task % per) / plan.tiles_n, tn = task % plan.tiles_n;
  const int64_t m0 = tm * plan.mc, n0 = tn * plan.nc;
  const int64_t m1 = std::min(plan.M, m0 + plan.mc), n1 = std::min(plan.N, n0 + plan.nc);
  if (m0 >= m1 || n0 >= n1) return;
  QGemmItem it;
  run.item(b, it);
  if (it.w) w_ptr = it.w;
  const PackedQWeights& w = *w_ptr;
  // A conv group reads its slice of the per-channel parameters.
  QOutput out = *run.out;
  const int64_t off = it.ch_offset;
  if (off) {
    if (out.requant.per_channel) out.requant.mult += off;
    if (out.dequant_scale) out.dequant_scale += off;
    if (out.float_bias) out.float_bias += off;
  }
  const size_t oe = out_elem(out);
  const int64_t quads = plan.quads;
  QTileArgs t;
  t.form = plan.form;
  t.quads = quads;
  t.a_stride = kQPanelRows * 4;
  t.ldc = it.ldc;
  t.ep = {&out, run.bias ? run.bias + off : nullptr, w.wsum.data(), run.act_zero_point};
  uint8_t* c = static_cast<uint8_t*>(it.c);
  if (plan.form == QForm::kConv) {
    uint8_t* bbuf = slot;
    uint8_t* abuf = slot + rup(plan.nc, kQPanelLanes) * quads * 4;
    abuf = reinterpret_cast<uint8_t*>(rup(reinterpret_cast<intptr_t>(abuf), 64));
    run.packer->pack(it.item, n0, n1 - n0, quads, bbuf);
    t.wtype = QWeightType::kInt8;
    t.b_panel = quads * 64;
    t.b_zp = nullptr;
    for (int64_t m = m0; m < m1; m += kQPanelRows) {
      t.mr = static_cast<int>(std::min<int64_t>(kQPanelRows, m1 - m));
      const uint8_t* zp = w.zero_points.empty() ? nullptr : w.zero_points.data() + m;
      t.a = prepare_bcast(isa, plan.form, w.type, w.data.data() + (m / kQPanelRows) * w.panel_bytes, quads, zp, t.mr,
                          abuf);
      t.ch0 = m;
      const int64_t step = isa.max_nr(plan.form, t.mr);
      for (int64_t n = n0; n < n1; n += step) {
        t.nr = static_cast<int>(std::min<int64_t>(step, n1 - n));
        t.b = bbuf + (n - n0) / kQPanelLanes * t.b_panel;
        t.c = c + (m * it.ldc + n) * oe;
        isa.tile(t);
      }
    }
    return;
  }
  uint8_t* araw = slot;
  uint8_t* aprep = slot + rup(rup(plan.mc, kQPanelRows) * quads * 4, 64);
  run.packer->pack(it.item, m0, m1 - m0, quads, araw);
  t.wtype = w.type;
  t.b_panel = w.panel_bytes;
  for (int64_t m = m0; m < m1; m += kQPanelRows) {
    t.mr = static_cast<int>(std::min<int64_t>(kQPanelRows, m1 - m));
    const int64_t pi = (m - m0) / kQPanelRows;
    t.a = prepare_bcast(isa, plan.form, QWeightType::kInt8, araw + pi * quads * kQPanelRows * 4, quads, nullptr, t.mr,
                        aprep + pi * prepared_bytes(isa, quads));
    const int64_t step = isa.max_nr(plan.form, t.mr);
    for (int64_t n = n0; n < n1; n += step) {
      t.nr = static_cast<int>(std::min<int64_t>(step, n1 - n));
      t.b = w.data.data() + (n / kQPanelLanes) * w.panel_bytes;
      t.b_zp = w.zero_points.empty() ? nullptr : w.zero_points.data() + n;
      t.ch0 = n;
      t.c = c + (m * it.ldc + n) * oe;
      isa.tile(t);
    }
  }
}

void qgemm_run(ThreadPool& pool, const QGemmPlan& plan, const QGemmRun& run, uint8_t* scratch) {
  TaskPhase ph;
  ph.tasks = plan.tasks();
  // run_task_phases hands out float slots; the slot stride is in floats.
  float* base = reinterpret_cast<float*>(scratch);
  ph.run = [&plan, &run, base](int64_t task, float* s) {
    qgemm_task(plan, run, task, s ? reinterpret_cast<uint8_t*>(s) : reinterpret_cast<uint8_t*>(base));
  };
  run_task_phases(pool, std::span<const TaskPhase>(&ph, 1), base, plan.slot_bytes / 4, plan.slots);
}

void qgemm_packed(ThreadPool& pool, const QGemmPlan& plan, const PackedQWeights& w, const QGemmArgs& g,
                  uint8_t* scratch) {
  QMatrixPacker packer(g.form, g.act, g.ld_act, g.K, g.act_signed);
  QGemmRun run;
  run.w = &w;
  run.packer = &packer;
  run.act_zero_point = g.act_zero_point + (g.act_signed ? 128 : 0);
  run.bias = g.bias;
  run.out = &g.out;
  run.item = [&g](int64_t, QGemmItem& it) {
    it.c = g.c;
    it.ldc = g.ldc;
  };
  qgemm_run(pool, plan, run, scratch);
}

}  // namespace qe::kernels
