// Conv through the packed GEMM: im2col written straight into panels, direct or transposed
// orientation (see conv_f32.h), bias and activation in the GEMM epilogue.
#include <algorithm>
#include <cstring>

#include "engine/core/thread_pool.h"
#include "kernels/conv/conv_f32.h"
#include "kernels/gemm/task_phases.h"

namespace qe::kernels {

namespace {

// `len` outputs at input columns ix0 + t * sw of `row` (width iw), zero outside [0, iw).
inline void gather_row(float* __restrict out, const float* __restrict row, int64_t ix0, int64_t sw, int64_t len,
                       int64_t iw) {
  int64_t lo = ix0 >= 0 ? 0 : (-ix0 + sw - 1) / sw;
  int64_t hi = ix0 >= iw ? 0 : (iw - 1 - ix0) / sw + 1;
  lo = std::min(lo, len);
  hi = std::max(lo, std::min(hi, len));
  std::fill(out, out + lo, 0.f);
  if (sw == 1) {
    std::memcpy(out + lo, row + ix0 + lo, static_cast<size_t>(hi - lo) * sizeof(float));
  } else {
    for (int64_t t = lo; t < hi; ++t) out[t] = row[ix0 + t * sw];
  }
  std::fill(out + hi, out + len, 0.f);
}

constexpr int kMaxChunks = 256;

void im2col_copy_scalar(const Im2colChunk* chunks, int nchunks, const float* base, const int64_t* taps, int64_t kc,
                        int width, float* dst) {
  for (int64_t k = 0; k < kc; ++k) {
    const float* src = base + taps[k];
    float* dk = dst + k * width;
    for (int i = 0; i < nchunks; ++i) {
      std::memcpy(dk + chunks[i].dst_off, src + chunks[i].src_off, static_cast<size_t>(chunks[i].len) * sizeof(float));
    }
  }
}

}  // namespace

bool conv_is_pointwise(const ConvF32Params& p) {
  for (int i = 0; i < 3; ++i) {
    if (p.kernel[i] != 1 || p.stride[i] != 1 || p.pad[i] != 0 || p.out[i] != p.in[i]) return false;
  }
  return true;
}

int64_t Im2colLayout::floats() const { return identity ? 0 : round_up(image_stride * images, 16); }

Im2colLayout plan_im2col_layout(const ConvF32Params& p) {
  Im2colLayout l;
  l.identity = true;
  for (int i = 0; i < 3; ++i) {
    // The input itself is the padded layout only when no tap reaches outside it: stride 1, no
    // padding at either end (the end padding shows as a padded extent larger than the input).
    const int64_t reach = (p.out[i] - 1) + (p.kernel[i] - 1) * p.dilation[i] + 1;
    if (p.stride[i] != 1 || p.pad[i] != 0 || reach != p.in[i]) l.identity = false;
  }
  l.phases = 1;
  for (int i = 0; i < 3; ++i) {
    // The padded extent the taps reach, split into `stride` phases.
    int64_t padded = l.identity ? p.in[i] : (p.out[i] - 1) * p.stride[i] + (p.kernel[i] - 1) * p.dilation[i] + 1;
    l.dims[i] = (padded + p.stride[i] - 1) / p.stride[i];
    l.phases *= p.stride[i];
  }
  l.plane = l.dims[0] * l.dims[1] * l.dims[2];
  l.chan_stride = l.phases * l.plane;
  l.image_stride = l.chan_stride * p.in_channels;
  l.images = p.batch;
  const int64_t cin_g = p.in_channels / p.group;
  l.taps.reserve(static_cast<size_t>(cin_g * p.kernel_size()));
  for (int64_t c = 0; c < cin_g; ++c) {
    for (int64_t kd = 0; kd < p.kernel[0]; ++kd) {
      for (int64_t kh = 0; kh < p.kernel[1]; ++kh) {
        for (int64_t kw = 0; kw < p.kernel[2]; ++kw) {
          const int64_t td = kd * p.dilation[0], th = kh * p.dilation[1], tw = kw * p.dilation[2];
          const int64_t phase = ((td % p.stride[0]) * p.stride[1] + th % p.stride[1]) * p.stride[2] + tw % p.stride[2];
          l.taps.push_back(c * l.chan_stride + phase * l.plane +
                           ((td / p.stride[0]) * l.dims[1] + th / p.stride[1]) * l.dims[2] + tw / p.stride[2]);
        }
      }
    }
  }
  return l;
}

namespace {

// Whether some tap reads phase f (tap offset t * dilation mod stride) along one axis.
bool phase_used(const ConvF32Params& p, int axis, int64_t f) {
  for (int64_t t = 0; t < p.kernel[axis]; ++t) {
    if ((t * p.dilation[axis]) % p.stride[axis] == f) return true;
  }
  return false;
}

}  // namespace

void im2col_prepare(const ConvF32Params& p, const Im2colLayout& l, const float* x, float* xp, int64_t bc0,
                    int64_t bc1) {
  const int64_t sd = p.stride[0], sh = p.stride[1], sw = p.stride[2];
  for (int64_t bc = bc0; bc < bc1; ++bc) {
    const float* xc = x + bc * p.in_size();
    for (int64_t fd = 0; fd < sd; ++fd) {
      for (int64_t fh = 0; fh < sh; ++fh) {
        for (int64_t fw = 0; fw < sw; ++fw) {
          // Phases no tap reads (e.g. 3 of 4 for a strided 1x1) stay unwritten.
          if (!phase_used(p, 0, fd) || !phase_used(p, 1, fh) || !phase_used(p, 2, fw)) continue;
          float* out = xp + bc * l.chan_stride + ((fd * sh + fh) * sw + fw) * l.plane;
          for (int64_t zd = 0; zd < l.dims[0]; ++zd) {
            const int64_t id = zd * sd + fd - p.pad[0];
            for (int64_t zh = 0; zh < l.dims[1]; ++zh, out += l.dims[2]) {
              const int64_t ih = zh * sh + fh - p.pad[1];
              if (id < 0 || id >= p.in[0] || ih < 0 || ih >= p.in[1]) {
                std::fill(out, out + l.dims[2], 0.f);
              } else {
                gather_row(out, xc + (id * p.in[1] + ih) * p.in[2], fw - p.pad[2], sw, l.dims[2], p.in[2]);
              }
            }
          }
        }
      }
    }
  }
}

Im2colPacker::Im2colPacker(const ConvF32Params& p, const Im2colLayout& l, const float* xp, bool rows_span_images)
    : p_(p), l_(l), xp_(xp), span_images_(rows_span_images) {
  IsaLevel level = cpu_features().level;
  copy_ = level >= IsaLevel::kAvx512 ? &im2col_copy_avx512
          : level >= IsaLevel::kAvx2 ? &im2col_copy_avx2
                                     : &im2col_copy_scalar;
}

void Im2colPacker::pack(int64_t item, int64_t k0, int64_t kc, int64_t r0, int64_t rc, int width, float* dst) const {
  const ConvF32Params& p = p_;
  const Im2colLayout& l = l_;
  const int64_t P = p.out_size(), cin_g = p.in_channels / p.group;
  const int64_t oH = p.out[1], oW = p.out[2];
  const int64_t g = span_images_ ? item : item % p.group;
  const float* base = xp_ + g * cin_g * l.chan_stride + (span_images_ ? 0 : (item / p.group) * l.image_stride);
  const int64_t r_end = r0 + rc;
  Im2colChunk chunks[kMaxChunks];
  for (int64_t s0 = r0; s0 < r_end;) {
    // Cut [s0, ...) into chunks until the list is full.
    int nchunks = 0;
    int64_t r = s0;
    while (r < r_end && nchunks < kMaxChunks) {
      const int64_t n = span_images_ ? r % P : r;
      const int64_t od = n / (oH * oW), oh = (n / oW) % oH, ow = n % oW;
      const int64_t lane = (r - r0) % width;
      Im2colChunk& c = chunks[nchunks++];
      c.len = std::min({oW - ow, int64_t{width} - lane, r_end - r});
      c.dst_off = (r - r0) / width * kc * width + lane;
      c.src_off = (span_images_ ? (r / P) * l.image_stride : 0) + (od * l.dims[1] + oh) * l.dims[2] + ow;
      r += c.len;
    }
    copy_(chunks, nchunks, base, l.taps.data() + k0, kc, width, dst);
    s0 = r;
  }
  // Rows past the end of the last panel.
  const int64_t tail = rc % width;
  if (tail != 0) {
    float* last = dst + (rc / width) * kc * width;
    for (int64_t k = 0; k < kc; ++k) std::fill(last + k * width + tail, last + (k + 1) * width, 0.f);
  }
}

namespace {

// Fraction of a dimension's padded size that is real work.
double fill(int64_t n, int64_t unit) { return static_cast<double>(n) / static_cast<double>(round_up(n, unit)); }

}  // namespace

ConvGemmPlan plan_conv_gemm(const GemmF32Config& cfg, const ConvF32Params& p, int num_threads, bool prepacked,
                            ConvGemmMode mode) {
  ConvGemmPlan plan;
  plan.cfg = &cfg;
  plan.p = p;
  const int64_t P = p.out_size(), cout_g = p.out_channels / p.group;
  plan.K = p.in_channels / p.group * p.kernel_size();
  // Tails cost whole vectors along the GEMM's N and whole MR panels along its M; the
  // transposed form also pays for packing im2col^T and one pass over the output (measured
  // about 10 % on MobileNetV2's pointwise layers: it wins at 7x7, loses at 14x14).
  // A GEMM narrower than one NR panel also runs a narrower, slower microkernel (8x16 has a
  // third of 8x48's accumulators: about 0.6 of its speed).
  auto narrow = [&](int64_t n) { return n >= cfg.nr ? 1.0 : 0.6 + 0.4 * double(n) / double(cfg.nr); };
  double direct = fill(P, cfg.lanes) * fill(cout_g, cfg.mr) * narrow(P);
  double transposed = fill(p.batch * P, cfg.mr) * fill(cout_g, cfg.lanes) * narrow(cout_g) * 0.9;
  plan.transposed = transposed > direct && p.batch * P * p.out_channels <= (int64_t{1} << 22);
  if (mode != ConvGemmMode::kAuto) plan.transposed = mode == ConvGemmMode::kTransposed;
  if (plan.transposed) {
    plan.M = p.batch * P;
    plan.N = cout_g;
    plan.gemms = p.group;
    plan.ct_floats = round_up(p.batch * P * p.out_channels, 16);
  } else {
    plan.M = cout_g;
    plan.N = P;
    plan.gemms = p.batch * p.group;
  }
  // Transposed: the im2col^T operand is packed once per call (shared by the tiles, which then
  // split the channels freely) unless it is too large, then per tile with the rows split.
  bool pack_a = !prepacked, pack_b = !plan.transposed || !prepacked;
  GemmSplit split = GemmSplit::kPreferN;
  if (plan.transposed) {
    int64_t a_full = packed_size(plan.M, plan.K, cfg.mr) * plan.gemms;
    if (a_full <= (int64_t{1} << 22)) {
      plan.a_full_floats = round_up(a_full, 16);
      pack_a = false;
      split = prepacked ? GemmSplit::kBySize : GemmSplit::kPreferN;
    } else {
      pack_a = true;
      split = GemmSplit::kPreferM;
    }
  }
  plan.tiling = plan_gemm_tiling(cfg, plan.M, plan.N, plan.K, plan.gemms, num_threads, split);
  // Direct with an im2col B and several M tiles: every M tile would redo the im2col of its
  // columns, so pack B once up front when it is small enough, and then split freely.
  if (!plan.transposed && !conv_is_pointwise(p) && plan.tiling.tiles_m > 1) {
    int64_t b_full = packed_size(plan.N, plan.K, cfg.nr) * plan.gemms;
    if (b_full <= (int64_t{1} << 22)) {
      plan.b_full_floats = round_up(b_full, 16);
      pack_b = false;
      plan.tiling = plan_gemm_tiling(cfg, plan.M, plan.N, plan.K, plan.gemms, num_threads,
                                     prepacked ? GemmSplit::kBySize : GemmSplit::kPreferM);
    }
  }
  plan.slots = std::max(1, num_threads);
  plan.im2col = plan_im2col_layout(p);
  plan.slot_stride = round_up(gemm_tile_scratch_floats(plan.tiling, pack_a, pack_b), 16);
  return plan;
}

int64_t conv_gemm_packed_weights_floats(const ConvGemmPlan& plan) {
  int width = plan.transposed ? plan.cfg->nr : plan.cfg->mr;
  int64_t cout_g = plan.p.out_channels / plan.p.group;
  return packed_size(cout_g, plan.K, width) * plan.p.group;
}

void conv_gemm_pack_weights(const ConvGemmPlan& plan, const float* w, float* dst) {
  int width = plan.transposed ? plan.cfg->nr : plan.cfg->mr;
  int64_t cout_g = plan.p.out_channels / plan.p.group;
  int64_t per_group = packed_size(cout_g, plan.K, width);
  for (int64_t g = 0; g < plan.p.group; ++g) {
    pack_operand(w + g * cout_g * plan.K, plan.K, false, cout_g, plan.K, width, plan.tiling.kc, 1.f,
                 dst + g * per_group);
  }
}

void conv_f32_gemm(const ConvGemmPlan& plan, ThreadPool& pool, const float* x, const float* w_packed, const float* w,
                   const float* bias, float* y, float* scratch) {
  const ConvF32Params& p = plan.p;
  const int64_t cin_g = p.in_channels / p.group, cout_g = p.out_channels / p.group, P = p.out_size();
  const int width = plan.transposed ? plan.cfg->nr : plan.cfg->mr;
  const int64_t per_group = packed_size(cout_g, plan.K, width);
  float* ct = scratch + plan.slot_stride * plan.slots;
  float* a_full = ct + plan.ct_floats;
  MatrixPacker weights(w, plan.K, false, cout_g * plan.K);  // item = group
  MatrixPacker pointwise(x, P, true, cin_g * p.in_size());  // item = image * group + g
  float* b_full = a_full + plan.a_full_floats;
  const int64_t b_full_per_item = packed_size(plan.N, plan.K, plan.cfg->nr);
  float* xp = b_full + plan.b_full_floats;
  const float* im2col_src = plan.im2col.identity ? x : xp;
  Im2colPacker im2col(p, plan.im2col, im2col_src, plan.transposed);
  const PanelPacker* input =
      !plan.transposed && conv_is_pointwise(p) ? static_cast<const PanelPacker*>(&pointwise) : &im2col;
  const int64_t a_full_per_group = packed_size(plan.M, plan.K, plan.cfg->mr);

  auto get = [&](int64_t item, PackedGemm& g) {
    const int64_t grp = item % p.group;
    g.cfg = plan.cfg;
    g.M = plan.M;
    g.N = plan.N;
    g.K = plan.K;
    g.ep.act = p.act;
    const float* wp = w_packed ? w_packed + grp * per_group : nullptr;
    if (plan.transposed) {
      g.a_packed = plan.a_full_floats > 0 ? a_full + grp * a_full_per_group : nullptr;
      g.a_packer = input;
      g.a_item = grp;
      g.b_packed = wp;
      g.b_packer = &weights;
      g.b_item = grp;
      g.c = ct + grp * plan.M * cout_g;
      g.ldc = cout_g;
      g.ep.col_bias = bias ? bias + grp * cout_g : nullptr;
    } else {
      g.a_packed = wp;
      g.a_packer = &weights;
      g.a_item = grp;
      g.b_packer = input;
      g.b_item = item;
      if (plan.b_full_floats > 0) g.b_packed = b_full + item * b_full_per_item;
      // Pointwise: the input planes are the B matrix; full panels are read in place.
      if (input == &pointwise) {
        g.b_direct = x + item * cin_g * p.in_size();
        g.ldb = P;
      }
      g.c = y + item * cout_g * P;  // (image, group) output blocks are consecutive in NCHW
      g.ldc = P;
      g.ep.row_bias = bias ? bias + grp * cout_g : nullptr;
    }
  };

  // One parallel region: phase copy -> (transposed) im2col^T packed once -> GEMM tiles ->
  // (transposed) Y^T to NCHW.
  TaskPhase phases[5];
  int nphases = 0;
  const int64_t cgroup = 16;  // channels per phase-copy task
  const int64_t cjobs = (p.in_channels + cgroup - 1) / cgroup;
  if (!plan.im2col.identity) {
    phases[nphases].tasks = p.batch * cjobs;
    phases[nphases++].run = [&](int64_t t, float*) {
      const int64_t b = t / cjobs, c0 = (t % cjobs) * cgroup;
      im2col_prepare(p, plan.im2col, x, xp, b * p.in_channels + c0,
                     b * p.in_channels + std::min(p.in_channels, c0 + cgroup));
    };
  }
  if (plan.a_full_floats > 0) {
    phases[nphases++] = pack_operand_phase(*input, p.group, plan.M, plan.K, plan.cfg->mr, plan.tiling.kc, a_full);
  }
  if (plan.b_full_floats > 0) {
    phases[nphases++] = pack_operand_phase(*input, plan.gemms, plan.N, plan.K, plan.cfg->nr, plan.tiling.kc, b_full);
  }
  phases[nphases++] = gemm_f32_phase(plan.tiling, plan.gemms, get);
  // Y^T [group][image * P + n][co]  ->  Y [image][group * cout_g + co][n], by blocks of channels.
  const int64_t cblock = 16, cblocks = (cout_g + cblock - 1) / cblock;
  if (plan.transposed) {
    phases[nphases].tasks = p.batch * p.group * cblocks;
    phases[nphases++].run = [&](int64_t t, float*) {
      const int64_t b = t / (p.group * cblocks), grp = (t / cblocks) % p.group, c0 = (t % cblocks) * cblock;
      const int64_t c1 = std::min(cout_g, c0 + cblock);
      const float* src = ct + grp * plan.M * cout_g + b * P * cout_g;
      float* dst = y + (b * p.out_channels + grp * cout_g) * P;
      for (int64_t n = 0; n < P; ++n) {
        for (int64_t co = c0; co < c1; ++co) dst[co * P + n] = src[n * cout_g + co];
      }
    };
  }
  run_task_phases(pool, std::span<const TaskPhase>(phases, static_cast<size_t>(nphases)), scratch, plan.slot_stride,
                  plan.slots);
}

}  // namespace qe::kernels
