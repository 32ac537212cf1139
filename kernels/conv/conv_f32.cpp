#include "kernels/conv/conv_f32.h"

#include <algorithm>

namespace qe::kernels {

void conv_f32_ref(const ConvF32Params& p, const float* x, const float* w, const float* bias, float* y) {
  const int64_t cin_g = p.in_channels / p.group, cout_g = p.out_channels / p.group;
  const int64_t ks = p.kernel_size(), in_size = p.in_size(), out_size = p.out_size();
  for (int64_t n = 0; n < p.batch; ++n) {
    for (int64_t co = 0; co < p.out_channels; ++co) {
      const int64_t g = co / cout_g;
      const float* wc = w + co * cin_g * ks;
      float* yc = y + (n * p.out_channels + co) * out_size;
      for (int64_t od = 0; od < p.out[0]; ++od) {
        for (int64_t oh = 0; oh < p.out[1]; ++oh) {
          for (int64_t ow = 0; ow < p.out[2]; ++ow) {
            float sum = 0.f;
            for (int64_t ic = 0; ic < cin_g; ++ic) {
              const float* xc = x + (n * p.in_channels + g * cin_g + ic) * in_size;
              const float* wk = wc + ic * ks;
              for (int64_t kd = 0; kd < p.kernel[0]; ++kd) {
                int64_t id = od * p.stride[0] - p.pad[0] + kd * p.dilation[0];
                if (id < 0 || id >= p.in[0]) continue;
                for (int64_t kh = 0; kh < p.kernel[1]; ++kh) {
                  int64_t ih = oh * p.stride[1] - p.pad[1] + kh * p.dilation[1];
                  if (ih < 0 || ih >= p.in[1]) continue;
                  for (int64_t kw = 0; kw < p.kernel[2]; ++kw) {
                    int64_t iw = ow * p.stride[2] - p.pad[2] + kw * p.dilation[2];
                    if (iw < 0 || iw >= p.in[2]) continue;
                    sum += xc[(id * p.in[1] + ih) * p.in[2] + iw] * wk[(kd * p.kernel[1] + kh) * p.kernel[2] + kw];
                  }
                }
              }
            }
            if (bias) sum += bias[co];
            yc[(od * p.out[1] + oh) * p.out[2] + ow] = apply_activation(sum, p.act);
          }
        }
      }
    }
  }
}

void conv_transpose_f32_ref(const ConvF32Params& p, const float* x, const float* w, const float* bias, float* y) {
  const int64_t cin_g = p.in_channels / p.group, cout_g = p.out_channels / p.group;
  const int64_t ks = p.kernel_size(), in_size = p.in_size(), out_size = p.out_size();
  std::fill(y, y + p.batch * p.out_channels * out_size, 0.f);
  for (int64_t n = 0; n < p.batch; ++n) {
    for (int64_t ci = 0; ci < p.in_channels; ++ci) {
      const int64_t g = ci / cin_g;
      const float* xc = x + (n * p.in_channels + ci) * in_size;
      for (int64_t oc = 0; oc < cout_g; ++oc) {
        const float* wk = w + (ci * cout_g + oc) * ks;
        float* yc = y + (n * p.out_channels + g * cout_g + oc) * out_size;
        for (int64_t id = 0; id < p.in[0]; ++id) {
          for (int64_t ih = 0; ih < p.in[1]; ++ih) {
            for (int64_t iw = 0; iw < p.in[2]; ++iw) {
              float xv = xc[(id * p.in[1] + ih) * p.in[2] + iw];
              for (int64_t kd = 0; kd < p.kernel[0]; ++kd) {
                int64_t od = id * p.stride[0] + kd * p.dilation[0] - p.pad[0];
                if (od < 0 || od >= p.out[0]) continue;
                for (int64_t kh = 0; kh < p.kernel[1]; ++kh) {
                  int64_t oh = ih * p.stride[1] + kh * p.dilation[1] - p.pad[1];
                  if (oh < 0 || oh >= p.out[1]) continue;
                  for (int64_t kw = 0; kw < p.kernel[2]; ++kw) {
                    int64_t ow = iw * p.stride[2] + kw * p.dilation[2] - p.pad[2];
                    if (ow < 0 || ow >= p.out[2]) continue;
                    yc[(od * p.out[1] + oh) * p.out[2] + ow] += xv * wk[(kd * p.kernel[1] + kh) * p.kernel[2] + kw];
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  for (int64_t n = 0; n < p.batch; ++n) {
    for (int64_t co = 0; co < p.out_channels; ++co) {
      float* yc = y + (n * p.out_channels + co) * out_size;
      float b = bias ? bias[co] : 0.f;
      for (int64_t i = 0; i < out_size; ++i) yc[i] = apply_activation(yc[i] + b, p.act);
    }
  }
}

}  // namespace qe::kernels
