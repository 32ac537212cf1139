#include "kernels/int8/qconv.h"

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
  plan.gemm = plan_qgemm(isa ? *isa : *qgemm_isa(), QForm::kConv, p.out_channels / p.group, p.out_size(), p.gemm_k(),
                         p.batch * p.group, num_threads);
  return plan;
}

void QIm2colPacker::pack(int64_t item, int64_t r0, int64_t rc, int64_t quads, uint8_t* dst) const {
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
