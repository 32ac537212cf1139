// Integer depthwise conv: the reference, the padded int16 plane shared by every path, the
// scalar path for any geometry, dispatch and the threaded driver.
#include "kernels/int8/qdepthwise.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "kernels/gemm/task_phases.h"

namespace qe::kernels {

namespace {

inline int32_t load_q(const void* x, bool is_signed, int64_t i) {
  return is_signed ? static_cast<const int8_t*>(x)[i] : static_cast<const uint8_t*>(x)[i];
}

inline void store_out(const QDepthwiseOutput& o, int64_t c, int32_t acc, void* y, int64_t i) {
  switch (o.type) {
    case QOutType::kF32: static_cast<float*>(y)[i] = static_cast<float>(acc) * o.dequant[c]; break;
    case QOutType::kU8:
      static_cast<uint8_t*>(y)[i] =
          static_cast<uint8_t>(requantize_ref(acc, o.requant.mode, o.requant.channel(c), o.requant.out));
      break;
    case QOutType::kS8:
      static_cast<int8_t*>(y)[i] =
          static_cast<int8_t>(requantize_ref(acc, o.requant.mode, o.requant.channel(c), o.requant.out));
      break;
  }
}

inline int64_t round_up64(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

}  // namespace

void qdepthwise_ref(const QDepthwiseParams& p, const void* x, const int8_t* w, const int32_t* bias,
                    const QDepthwiseOutput& o, void* y) {
  const int64_t C = p.channels, kh = p.kernel[0], kw = p.kernel[1];
  for (int64_t n = 0; n < p.batch; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      const int64_t xoff = (n * C + c) * p.in_size(), yoff = (n * C + c) * p.out_size();
      for (int64_t oh = 0; oh < p.out[0]; ++oh) {
        for (int64_t ow = 0; ow < p.out[1]; ++ow) {
          int32_t acc = bias ? bias[c] : 0;
          for (int64_t i = 0; i < kh; ++i) {
            const int64_t ih = oh * p.stride[0] + i * p.dilation[0] - p.pad[0];
            if (ih < 0 || ih >= p.in[0]) continue;
            for (int64_t j = 0; j < kw; ++j) {
              const int64_t iw = ow * p.stride[1] + j * p.dilation[1] - p.pad[1];
              if (iw < 0 || iw >= p.in[1]) continue;
              acc += (load_q(x, p.in_signed, xoff + ih * p.in[1] + iw) - p.in_zero_point) * w[(c * kh + i) * kw + j];
            }
          }
          store_out(o, c, acc, y, yoff + oh * p.out[1] + ow);
        }
      }
    }
  }
}

QDwLayout qdw_layout(const QDepthwiseParams& p) {
  QDwLayout l;
  l.top = p.pad[0];
  l.left = p.pad[1];
  l.rows = (p.out[0] - 1) * p.stride[0] + (p.kernel[0] - 1) * p.dilation[0] + 1;
  const int64_t reach = (p.out[1] - 1) * p.stride[1] + (p.kernel[1] - 1) * p.dilation[1] + 1;
  // Vector blocks of up to 32 outputs read up to 2 * 32 int16 past the block start plus the taps.
  const int64_t vec_reach = 2 * round_up64(p.out[1], 32) + p.kernel[1] + 2;
  l.row_len = round_up64(std::max({l.left + p.in[1], reach, vec_reach}), 32);
  l.elems = l.rows * l.row_len + 64;
  return l;
}

QDwClLayout qdw_cl_layout(const QDepthwiseParams& p) {
  QDwClLayout l;
  const int64_t dw = p.dilation[1];
  l.np = (p.kernel[1] + 1) / 2;
  l.rows = (p.out[0] - 1) * p.stride[0] + (p.kernel[0] - 1) * p.dilation[0] + 1;
  l.pcols = (p.out[1] - 1) * p.stride[1] + 2 * (l.np - 1) * dw + 1;
  l.bcols = l.pcols + dw;
  l.col_step = std::gcd(p.stride[1], 2 * dw);
  l.b_off = 0;
  l.p_off = round_up64(l.rows * l.bcols * kQdwClLanes, 64);
  l.o_off = l.p_off + l.rows * l.pcols * kQdwClLanes * static_cast<int64_t>(sizeof(int32_t));
  l.bytes = l.o_off + round_up64(p.out_size() * kQdwClLanes, 64);
  return l;
}

bool qdw_cl_accepts(const QDepthwiseParams& p) {
  if (p.out[1] > kQdwClMaxOutW || p.channels < 4) return false;
  const QDwClLayout l = qdw_cl_layout(p);
  return p.kernel[0] * l.np <= kQdwMaxPairs && l.rows * l.pcols <= kQdwClMaxCells;
}

int64_t qdepthwise_scratch_bytes(const QDepthwiseParams& p) {
  const int64_t plane = round_up64(qdw_layout(p).elems * static_cast<int64_t>(sizeof(int16_t)), 64);
  return qdw_cl_accepts(p) ? std::max(plane, qdw_cl_layout(p).bytes) : plane;
}

void qdw_clear(const QDwLayout& l, int16_t* dst) { std::memset(dst, 0, static_cast<size_t>(l.elems) * sizeof(int16_t)); }

void qdw_fill(const QDepthwiseParams& p, const QDwLayout& l, const void* x_plane, int16_t* dst) {
  const int64_t iH = std::min(p.in[0], l.rows - l.top), iW = p.in[1];
  const int16_t zp = static_cast<int16_t>(p.in_zero_point);
  for (int64_t ih = 0; ih < iH; ++ih) {
    int16_t* row = dst + (l.top + ih) * l.row_len + l.left;
    if (p.in_signed) {
      const int8_t* src = static_cast<const int8_t*>(x_plane) + ih * iW;
      for (int64_t j = 0; j < iW; ++j) row[j] = static_cast<int16_t>(src[j] - zp);
    } else {
      const uint8_t* src = static_cast<const uint8_t*>(x_plane) + ih * iW;
      for (int64_t j = 0; j < iW; ++j) row[j] = static_cast<int16_t>(src[j] - zp);
    }
  }
}

void qdw_weight_pairs(const int8_t* wc, int64_t kh, int64_t kw, int32_t* wp) {
  const int64_t np = (kw + 1) / 2;
  for (int64_t i = 0; i < kh; ++i) {
    for (int64_t q = 0; q < np; ++q) {
      const int16_t a = wc[i * kw + 2 * q];
      const int16_t b = 2 * q + 1 < kw ? wc[i * kw + 2 * q + 1] : 0;
      wp[i * np + q] = static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(a)) |
                                            (static_cast<uint32_t>(static_cast<uint16_t>(b)) << 16));
    }
  }
}

void qdw_generic_planes(const QDepthwiseParams& p, const QDwLayout& l, const void* x, const int8_t* w,
                        const int32_t* bias, const QDepthwiseOutput& o, void* y, int64_t p0, int64_t p1, int16_t* buf) {
  const int64_t C = p.channels, kh = p.kernel[0], kw = p.kernel[1];
  const int64_t sh = p.stride[0], sw = p.stride[1], dh = p.dilation[0], dw = p.dilation[1];
  qdw_clear(l, buf);
  for (int64_t pi = p0; pi < p1; ++pi) {
    const int64_t c = pi % C;
    qdw_fill(p, l, static_cast<const uint8_t*>(x) + pi * p.in_size(), buf);  // u8 and s8: one byte
    const int8_t* wc = w + c * kh * kw;
    const int32_t b = bias ? bias[c] : 0;
    for (int64_t oh = 0; oh < p.out[0]; ++oh) {
      for (int64_t ow = 0; ow < p.out[1]; ++ow) {
        int32_t acc = b;
        for (int64_t i = 0; i < kh; ++i) {
          const int16_t* row = buf + (oh * sh + i * dh) * l.row_len + ow * sw;
          for (int64_t j = 0; j < kw; ++j) acc += row[j * dw] * wc[i * kw + j];
        }
        store_out(o, c, acc, y, pi * p.out_size() + oh * p.out[1] + ow);
      }
    }
  }
}

void qdepthwise_generic(const QDepthwiseParams& p, const void* x, const int8_t* w, const int32_t* bias,
                        const QDepthwiseOutput& o, void* y, int64_t plane_begin, int64_t plane_end, void* scratch) {
  qdw_generic_planes(p, qdw_layout(p), x, w, bias, o, y, plane_begin, plane_end, static_cast<int16_t*>(scratch));
}

QDepthwiseFn qdepthwise_ukernel(IsaLevel level) {
  switch (level) {
    case IsaLevel::kAvx2: return &qdepthwise_avx2;
    case IsaLevel::kAvx512:
    case IsaLevel::kAvx512Vnni: return &qdepthwise_avx512;
    default: return &qdepthwise_generic;
  }
}

const char* qdepthwise_ukernel_name(IsaLevel level) {
  switch (level) {
    case IsaLevel::kAvx2: return "qdepthwise_avx2";
    case IsaLevel::kAvx512:
    case IsaLevel::kAvx512Vnni: return "qdepthwise_avx512";
    default: return "qdepthwise_generic";
  }
}

int64_t qdepthwise_workspace_bytes(const QDepthwiseParams& p, int num_slots) {
  return qdepthwise_scratch_bytes(p) * std::max(1, num_slots);
}

void qdepthwise_run(QDepthwiseFn fn, const QDepthwiseParams& p, const void* x, const int8_t* w, const int32_t* bias,
                    const QDepthwiseOutput& o, void* y, ThreadPool* pool, void* workspace, int num_slots) {
  const int64_t planes = p.planes(), C = p.channels;
  const int64_t slot_bytes = qdepthwise_scratch_bytes(p);
  if (planes == 0) return;
  // About 4K outputs per task: small planes (7x7) share a task, large ones get one each. A task
  // is a run of whole images, or a run of channels of one image in multiples of 16 (the channel
  // groups of the small-plane path).
  int64_t per_task = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, p.out_size()));
  int64_t images_per_task = 0, runs_per_image = 1;
  if (per_task >= C) {
    images_per_task = per_task / C;
  } else {
    if (per_task >= kQdwClLanes) per_task = per_task / kQdwClLanes * kQdwClLanes;
    runs_per_image = (C + per_task - 1) / per_task;
  }
  const int64_t tasks = images_per_task ? (p.batch + images_per_task - 1) / images_per_task : p.batch * runs_per_image;
  if (!pool || tasks == 1 || num_slots <= 1) {
    fn(p, x, w, bias, o, y, 0, planes, workspace);
    return;
  }
  TaskPhase ph;
  ph.tasks = tasks;
  ph.run = [&](int64_t t, float* scratch) {
    int64_t b, e;
    if (images_per_task) {
      b = t * images_per_task * C;
      e = std::min(p.batch, (t + 1) * images_per_task) * C;
    } else {
      const int64_t n = t / runs_per_image, c0 = t % runs_per_image * per_task;
      b = n * C + c0;
      e = n * C + std::min(C, c0 + per_task);
    }
    fn(p, x, w, bias, o, y, b, e, scratch);
  };
  // run_task_phases counts slots in floats; the slot size is a multiple of 64 bytes.
  run_task_phases(*pool, std::span<const TaskPhase>(&ph, 1), static_cast<float*>(workspace),
                  slot_bytes / static_cast<int64_t>(sizeof(float)), num_slots);
}

}  // namespace qe::kernels
