// Scalar references of the quantizers (the numeric contract, see fake_quant.h) and the
// dispatch of the integer fake quantizer to its vector forms.
#include "kernels/quant/fake_quant.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cmath>
#include <limits>

#include "kernels/quant/quant_layout.h"

namespace qe::kernels {

double round_with(double x, Rounding mode) {
  switch (mode) {
    case Rounding::kHalfEven: return std::nearbyint(x);
    case Rounding::kFloor: return std::floor(x);
    case Rounding::kCeil: return std::ceil(x);
    case Rounding::kDown: return std::trunc(x);
    case Rounding::kUp: return std::copysign(std::ceil(std::fabs(x)), x);
    case Rounding::kHalfUp:
    case Rounding::kHalfDown: {
      // On the magnitude, so that ties go away from / toward zero; a - trunc(a) is exact.
      const double a = std::fabs(x);
      const double t = std::trunc(a);
      const double f = a - t;
      const bool up = mode == Rounding::kHalfUp ? f >= 0.5 : f > 0.5;
      return std::copysign(up ? t + 1.0 : t, x);
    }
  }
  return std::nearbyint(x);
}

// x / s as float32 division gives it (QONNX's numpy code, onnxruntime's QuantizeLinear): the
// double quotient of two floats rounded once more to float is exactly the float quotient (53 >=
// 2*24 + 2 bits), so doing it in double and narrowing loses nothing and matches them at ties.
static double quotient_f32(float x, double s) {
  return static_cast<double>(static_cast<float>(static_cast<double>(x) / s));
}

void int_fake_quant_ref(const float* x, float* y, const IntQuantArgs& a) {
  const double lo = a.min_int, hi = a.max_int;
  for (int64_t o = 0; o < a.outer; ++o) {
    for (int64_t c = 0; c < a.channels; ++c) {
      const double s = a.scale[c], z = a.zero_point[c];
      const int64_t base = (o * a.channels + c) * a.inner;
      for (int64_t i = base; i < base + a.inner; ++i) {
        const double v = round_with(quotient_f32(x[i], s) + z, a.rounding);
        // Written as comparisons so that NaN passes through, as it does in QONNX.
        double q = v > hi ? hi : v;
        q = q < lo ? lo : q;
        y[i] = static_cast<float>((q - z) * s);
      }
    }
  }
}

IntFakeQuantFn int_fake_quant_ukernel(IsaLevel level) {
  if (level > cpu_features().level) return nullptr;
  switch (level) {
    case IsaLevel::kScalar: return &int_fake_quant_ref;
    case IsaLevel::kAvx2: return &int_fake_quant_avx2;
    case IsaLevel::kAvx512:
    case IsaLevel::kAvx512Vnni: return &int_fake_quant_avx512;
  }
  return nullptr;
}

void int_fake_quant(const float* x, float* y, const IntQuantArgs& a, ThreadPool* pool) {
  IntFakeQuantFn fn = int_fake_quant_ukernel(cpu_features().level);
  QuantLayout l;
  l.outer = a.outer;
  l.channels = a.channels;
  l.inner = a.inner;
  parallel_pieces(pool, l, 16384, [&](const QuantPiece& p) {
    IntQuantArgs pa = a;
    pa.scale = a.scale + p.param_offset;
    pa.zero_point = a.zero_point + p.param_offset;
    pa.outer = p.outer;
    pa.channels = p.channels;
    pa.inner = p.inner;
    fn(x + p.x_offset, y + p.x_offset, pa);
  });
}

void bipolar_quant_ref(const float* x, float* y, const float* scale, int64_t outer, int64_t channels, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      const float s = scale[c];
      const int64_t base = (o * channels + c) * inner;
      // x >= 0 is false for NaN, which therefore maps to -s (as numpy's where does in QONNX).
      for (int64_t i = base; i < base + inner; ++i) y[i] = x[i] >= 0.f ? s : -s;
    }
  }
}

namespace {

// 2^e for e in [-1022, 1023], built from its bits.
double pow2(int e) { return std::bit_cast<double>(static_cast<uint64_t>(e + 1023) << 52); }

}  // namespace

double minifloat_max_value(const MinifloatArgs& a) {
  const double top = std::ldexp(2.0 - std::ldexp(1.0, -a.mantissa_bits),
                                (1 << a.exponent_bits) - 1 - static_cast<int>(a.exponent_bias));
  return std::min(top, a.max_val);
}

void float_fake_quant_ref(const float* x, float* y, const float* scale, int64_t outer, int64_t channels,
                          int64_t inner, const MinifloatArgs& a) {
  const double max_value = minifloat_max_value(a);
  const int m = a.mantissa_bits;
  const int e_min = 1 - static_cast<int>(a.exponent_bias);  // exponent of the smallest normal
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      const double s = scale[c];
      const int64_t base = (o * channels + c) * inner;
      for (int64_t i = base; i < base + inner; ++i) {
        const double v = static_cast<double>(x[i]) / s;
        if (std::isnan(v)) {
          y[i] = std::numeric_limits<float>::quiet_NaN();
          continue;
        }
        double q = v;  // zero (either sign) and infinities are already on the grid
        if (v != 0.0 && std::isfinite(v)) {
          // v = x / s with float x, s is a normal double, so its exponent field is floor(log2 |v|).
          // Scaling by the power of two 2^-step and back is exact.
          const int lg = static_cast<int>((std::bit_cast<uint64_t>(v) >> 52) & 0x7FF) - 1023;
          const int step = a.has_subnormal ? std::max(lg, e_min) - m : (lg < e_min ? e_min : lg - m);
          q = round_with(v * pow2(-step), a.rounding) * pow2(step);
        }
        if (std::fabs(q) > max_value) {
          if (a.saturation) {
            q = std::copysign(max_value, q);
          } else if (a.has_inf) {
            q = std::copysign(std::numeric_limits<double>::infinity(), q);
          } else {
            q = std::numeric_limits<double>::quiet_NaN();
          }
        }
        y[i] = static_cast<float>(q * s);
      }
    }
  }
}

void trunc_quant_ref(const float* x, float* y, const TruncArgs& a) {
  const int out_bits = static_cast<int>(a.out_bits);
  double lo = 0, hi = 0;
  if (a.is_signed) {
    lo = -std::ldexp(1.0, out_bits - 1) + (a.narrow ? 1 : 0);
    hi = std::ldexp(1.0, out_bits - 1) - 1;
  } else {
    lo = 0;
    hi = std::ldexp(1.0, out_bits) - 1 - (a.narrow ? 1 : 0);
  }
  for (int64_t o = 0; o < a.outer; ++o) {
    for (int64_t c = 0; c < a.channels; ++c) {
      const double s = a.scale[c], z = a.zero_point[c];
      const int64_t base = (o * a.channels + c) * a.inner;
      if (a.version == 1) {
        const double t = std::exp2(a.in_bits - a.out_bits);
        for (int64_t i = base; i < base + a.inner; ++i) {
          const double v = std::nearbyint(quotient_f32(x[i], s) + z);
          y[i] = static_cast<float>((round_with(v / t, a.rounding) - z) * s);
        }
        continue;
      }
      const double os = a.out_scale[c];
      // The ratio of the scales is a power of two by construction; rounding log2 makes it one.
      const double t = std::exp2(std::nearbyint(std::log2(os / s)));
      for (int64_t i = base; i < base + a.inner; ++i) {
        const double v = std::nearbyint(quotient_f32(x[i], s) + z) / t;
        double w = v > hi ? hi : v;
        w = w < lo ? lo : w;
        y[i] = static_cast<float>((round_with(w, a.rounding) - z / t) * os);
      }
    }
  }
}

void quantize_linear_ref(const float* x, int32_t* q, const float* scale, const int32_t* zero_point, int64_t outer,
                         int64_t channels, int64_t inner, int32_t out_min, int32_t out_max) {
  // Below 2^22 in magnitude, adding and subtracting 1.5 * 2^23 rounds half to even in float
  // (the sum lands where the float spacing is 1); it saves a libm call per element. Larger
  // values are already integers or saturate, and NaN takes the slow path too.
  constexpr float kMagic = 12582912.f;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      const float s = scale[c];
      const int64_t zp = zero_point[c];
      const int64_t base = (o * channels + c) * inner;
      for (int64_t i = base; i < base + inner; ++i) {
        const float v = x[i] / s;
        int64_t r;
        if (std::fabs(v) < 4194304.f) {
          r = static_cast<int64_t>((v + kMagic) - kMagic) + zp;
        } else if (std::isnan(v)) {
          r = zp;
        } else {
          r = std::fabs(v) < 9.2e18f ? static_cast<int64_t>(std::nearbyint(v)) + zp : (v > 0 ? INT64_MAX : INT64_MIN);
        }
        q[i] = static_cast<int32_t>(std::clamp<int64_t>(r, out_min, out_max));
      }
    }
  }
}

void dequantize_linear_ref(const int32_t* q, float* y, const float* scale, const int32_t* zero_point, int64_t outer,
                           int64_t channels, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      const float s = scale[c];
      const int64_t zp = zero_point[c];
      const int64_t base = (o * channels + c) * inner;
      for (int64_t i = base; i < base + inner; ++i) y[i] = static_cast<float>(q[i] - zp) * s;
    }
  }
}

}  // namespace qe::kernels
