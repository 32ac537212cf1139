// Bindings of the quantization ops. Candidates, best first:
//   FakeQuant         fakequant_int_f32_avx512, fakequant_int_f32_avx2 (kind "int" only),
//                     fakequant_ref (int, bipolar, float)
//   Trunc             trunc_ref
//   QuantizeLinear    quantizelinear_ref
//   DequantizeLinear  dequantizelinear_ref
// FakeQuant and Trunc read their parameters (constants) once at bind time, validate them and
// expand scale / zero point to one common shape; kernels/quant/quant_layout.h maps that shape
// onto [outer, channels, inner] blocks. QuantizeLinear / DequantizeLinear take their scale and
// zero point as constants or, as ONNX allows, as run-time inputs (converted into the workspace).
#include <algorithm>
#include "engine/quant_rounding.h"
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/ops/elementwise_common.h"
#include "graph/quant_params.h"
#include "graph/schemas/quant_attrs.h"
#include "kernels/elementwise/parallel.h"
#include "kernels/quant/fake_quant.h"
#include "kernels/quant/quant_layout.h"

namespace qe {

namespace {

using kernels::QuantLayout;
using kernels::QuantPiece;

constexpr int64_t kGrain = 16384;  // elements per parallel range: a few microseconds of work
constexpr int64_t kChunk = 1024;   // QuantizeLinear / DequantizeLinear staging buffer (even: int4 pairs)

// Parameter tensors broadcast to their common shape, as float.
struct Params {
  Shape shape;
  std::vector<std::vector<float>> values;
};

Result<Params> expand_params(const std::vector<const Tensor*>& ts) {
  Params p;
  for (const Tensor* t : ts) {
    QE_ASSIGN_OR_RETURN(p.shape, broadcast_shapes(p.shape, t->shape()));
  }
  const int64_t n = p.shape.numel();
  const size_t r = p.shape.rank();
  for (const Tensor* t : ts) {
    const std::vector<float> src = t->to_float_vector();
    // Source strides right-aligned to the common shape, 0 along broadcast dims.
    std::vector<int64_t> stride(r, 0);
    int64_t s = 1;
    for (size_t k = t->shape().rank(); k-- > 0;) {
      const size_t j = k + r - t->shape().rank();
      stride[j] = t->shape()[k] == 1 ? 0 : s;
      s *= t->shape()[k];
    }
    std::vector<float> out(static_cast<size_t>(n));
    std::vector<int64_t> idx(r, 0);
    for (int64_t i = 0; i < n; ++i) {
      int64_t off = 0;
      for (size_t k = 0; k < r; ++k) off += idx[k] * stride[k];
      out[static_cast<size_t>(i)] = src[static_cast<size_t>(off)];
      for (size_t k = r; k-- > 0;) {
        if (++idx[k] < p.shape[k]) break;
        idx[k] = 0;
      }
    }
    p.values.push_back(std::move(out));
  }
  return p;
}

Status check_positive(const std::vector<float>& v, const char* what) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (!(v[i] > 0.f) || !std::isfinite(v[i])) {
      return invalid_argument(what, " must be positive and finite, element ", i, " is ", v[i]);
    }
  }
  return Status::ok();
}

Status check_integers(const std::vector<float>& v, const char* what) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i]) || std::nearbyint(v[i]) != v[i]) {
      return invalid_argument(what, " must hold integers, element ", i, " is ", v[i]);
    }
  }
  return Status::ok();
}

Result<QuantLayout> layout_for(const BindContext& ctx, const Shape& params, const char* what) {
  auto l = kernels::broadcast_layout(ctx.input(0).shape.dims(), params.dims());
  if (!l.is_ok()) return invalid_argument(what, ": ", l.status().message());
  return std::move(l).value();
}

Status require_constant(const BindContext& ctx, int i, const char* what) {
  if (!ctx.constant_input(i)) {
    return decline(what, " ('", ctx.input(i).name, "') is not a constant; ", op_name(ctx.node().op),
                   " needs constant parameters");
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// FakeQuant

struct FakeQuantConfig {
  QuantKind kind = QuantKind::kInt;
  QuantLayout layout;
  std::vector<float> scale, zero_point;  // expanded to the layout's parameter shape
  kernels::IntQuantArgs int_args;
  kernels::MinifloatArgs float_args;
};

Status check_minifloat(const MinifloatFormat& f) {
  if (f.exponent_bits < 1 || f.exponent_bits > 11) {
    return invalid_argument("exponent_bits ", f.exponent_bits, " is outside 1..11");
  }
  if (f.mantissa_bits < 0 || f.mantissa_bits > 23) {
    return invalid_argument("mantissa_bits ", f.mantissa_bits, " is outside 0..23");
  }
  // Beyond +-300 the format's range has nothing in common with float's.
  if (std::nearbyint(f.exponent_bias) != f.exponent_bias || std::fabs(f.exponent_bias) > 300) {
    return invalid_argument("exponent_bias ", f.exponent_bias, " is not an integer in -300..300");
  }
  if (!(f.max_val > 0.f)) return invalid_argument("max_val ", f.max_val, " must be positive");
  if (!f.saturation && !f.has_inf && !f.has_nan) {
    return invalid_argument("a non-saturating minifloat needs has_inf or has_nan to represent overflow");
  }
  return Status::ok();
}

Result<FakeQuantConfig> fake_quant_config(const BindContext& ctx) {
  if (ctx.input(0).dtype != DType::kF32) return decline("input dtype ", dtype_name(ctx.input(0).dtype), " (float only)");
  QE_RETURN_IF_ERROR(require_constant(ctx, 1, "scale"));
  if (ctx.has_input(2)) QE_RETURN_IF_ERROR(require_constant(ctx, 2, "zero point"));
  QE_ASSIGN_OR_RETURN(QuantParams p, read_quant_params(ctx.graph(), ctx.node().id));
  FakeQuantConfig c;
  c.kind = p.kind;
  QE_ASSIGN_OR_RETURN(Params ex, expand_params({&p.scale, &p.zero_point}));
  c.scale = std::move(ex.values[0]);
  c.zero_point = std::move(ex.values[1]);
  QE_RETURN_IF_ERROR(check_positive(c.scale, "scale"));
  QE_RETURN_IF_ERROR(check_integers(c.zero_point, "zero point"));
  QE_ASSIGN_OR_RETURN(c.layout, layout_for(ctx, ex.shape, "scale / zero point"));
  if (p.kind != QuantKind::kInt) {
    for (float z : c.zero_point) {
      if (z != 0.f) return invalid_argument(quant_kind_name(p.kind), " quantizer has a non-zero zero point ", z);
    }
  }
  kernels::IntQuantArgs& a = c.int_args;
  a.rounding = to_kernel_rounding(p.rounding);
  if (p.kind == QuantKind::kInt) {
    a.min_int = static_cast<double>(p.min_int());
    a.max_int = static_cast<double>(p.max_int());
  } else if (p.kind == QuantKind::kFloat) {
    const MinifloatFormat& f = p.minifloat;
    QE_RETURN_IF_ERROR(check_minifloat(f));
    c.float_args = to_kernel_minifloat(f, p.rounding);
  }
  return c;
}

class FakeQuantKernel final : public OpKernel {
 public:
  FakeQuantKernel(FakeQuantConfig c, kernels::IntFakeQuantFn fn) : c_(std::move(c)), fn_(fn) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const float* x = in[0].as<const float>();
    float* y = out[0].as<float>();
    kernels::parallel_pieces(ctx.pool, c_.layout, kGrain, [&](const QuantPiece& p) {
      const float* s = c_.scale.data() + p.param_offset;
      const float* xp = x + p.x_offset;
      float* yp = y + p.x_offset;
      switch (c_.kind) {
        case QuantKind::kInt: {
          kernels::IntQuantArgs a = c_.int_args;
          a.scale = s;
          a.zero_point = c_.zero_point.data() + p.param_offset;
          a.outer = p.outer;
          a.channels = p.channels;
          a.inner = p.inner;
          fn_(xp, yp, a);
          break;
        }
        case QuantKind::kBipolar: kernels::bipolar_quant_ref(xp, yp, s, p.outer, p.channels, p.inner); break;
        case QuantKind::kFloat:
          kernels::float_fake_quant_ref(xp, yp, s, p.outer, p.channels, p.inner, c_.float_args);
          break;
      }
    });
    return Status::ok();
  }

 private:
  FakeQuantConfig c_;
  kernels::IntFakeQuantFn fn_;
};

template <IsaLevel L>
Result<std::unique_ptr<OpKernel>> create_fake_quant_fast(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_isa(L));
  QE_ASSIGN_OR_RETURN(FakeQuantConfig c, fake_quant_config(ctx));
  if (c.kind != QuantKind::kInt) return decline("only integer quantizers have a vector form");
  return std::unique_ptr<OpKernel>(std::make_unique<FakeQuantKernel>(std::move(c), kernels::int_fake_quant_ukernel(L)));
}

Result<std::unique_ptr<OpKernel>> create_fake_quant_ref(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(FakeQuantConfig c, fake_quant_config(ctx));
  return std::unique_ptr<OpKernel>(std::make_unique<FakeQuantKernel>(std::move(c), &kernels::int_fake_quant_ref));
}

// ---------------------------------------------------------------------------------------------
// Trunc

// A constant scalar bit width (QONNX stores them as float tensors holding integers).
// The input (accumulator) width may exceed 32 bits; the output grid may not.
Result<double> read_bits(const BindContext& ctx, int i, const char* what, double max_bits) {
  QE_RETURN_IF_ERROR(require_constant(ctx, i, what));
  const Tensor& t = *ctx.constant_input(i);
  if (t.numel() != 1) return invalid_argument(what, " has shape ", t.shape().to_string(), ", expected a scalar");
  const double b = read_element_as_double(t.raw(), t.dtype(), 0);
  if (!(b >= 1 && b <= max_bits) || std::nearbyint(b) != b) {
    return invalid_argument(what, " is ", b, ", expected an integer in 1..", max_bits);
  }
  return b;
}

class TruncKernel final : public OpKernel {
 public:
  TruncKernel(kernels::TruncArgs a, QuantLayout l, std::vector<std::vector<float>> params)
      : a_(a), layout_(std::move(l)), params_(std::move(params)) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const float* x = in[0].as<const float>();
    float* y = out[0].as<float>();
    kernels::parallel_pieces(ctx.pool, layout_, kGrain, [&](const QuantPiece& p) {
      kernels::TruncArgs a = a_;
      a.scale = params_[0].data() + p.param_offset;
      a.zero_point = params_[1].data() + p.param_offset;
      a.out_scale = params_[2].data() + p.param_offset;
      a.outer = p.outer;
      a.channels = p.channels;
      a.inner = p.inner;
      kernels::trunc_quant_ref(x + p.x_offset, y + p.x_offset, a);
    });
    return Status::ok();
  }

 private:
  kernels::TruncArgs a_;
  QuantLayout layout_;
  std::vector<std::vector<float>> params_;  // scale, zero point, out_scale (v1: the scale again)
};

Result<std::unique_ptr<OpKernel>> create_trunc_ref(const BindContext& ctx) {
  if (ctx.input(0).dtype != DType::kF32) return decline("input dtype ", dtype_name(ctx.input(0).dtype), " (float only)");
  const Attributes& attrs = ctx.attrs();
  QE_ASSIGN_OR_RETURN(TruncInputs ti, resolve_trunc_inputs(attrs, ctx.num_inputs()));
  QE_RETURN_IF_ERROR(require_constant(ctx, 1, "scale"));
  QE_RETURN_IF_ERROR(require_constant(ctx, 2, "zero point"));
  kernels::TruncArgs a;
  a.version = ti.version;
  QE_ASSIGN_OR_RETURN(a.in_bits, read_bits(ctx, 3, "in_bitwidth", 64));
  QE_ASSIGN_OR_RETURN(a.out_bits, read_bits(ctx, ti.out_bits, "out_bitwidth", 32));
  QE_ASSIGN_OR_RETURN(std::string rounding, attrs.get_string("rounding_mode", "FLOOR"));
  QE_ASSIGN_OR_RETURN(RoundingMode mode, parse_rounding_mode(rounding));
  a.rounding = to_kernel_rounding(mode);
  QE_ASSIGN_OR_RETURN(int64_t sgn, attrs.get_int("signed", 1));
  QE_ASSIGN_OR_RETURN(int64_t narrow, attrs.get_int("narrow", 0));
  a.is_signed = sgn != 0;
  a.narrow = narrow != 0;
  const Tensor* out_scale = ctx.constant_input(1);
  if (ti.out_scale >= 0) {
    QE_RETURN_IF_ERROR(require_constant(ctx, ti.out_scale, "out_scale"));
    out_scale = ctx.constant_input(ti.out_scale);
  }
  QE_ASSIGN_OR_RETURN(Params ex, expand_params({ctx.constant_input(1), ctx.constant_input(2), out_scale}));
  QE_RETURN_IF_ERROR(check_positive(ex.values[0], "scale"));
  QE_RETURN_IF_ERROR(check_integers(ex.values[1], "zero point"));
  QE_RETURN_IF_ERROR(check_positive(ex.values[2], "out_scale"));
  QE_ASSIGN_OR_RETURN(QuantLayout l, layout_for(ctx, ex.shape, "scale / zero point / out_scale"));
  return std::unique_ptr<OpKernel>(std::make_unique<TruncKernel>(a, std::move(l), std::move(ex.values)));
}

// ---------------------------------------------------------------------------------------------
// QuantizeLinear / DequantizeLinear

struct IntRange {
  int32_t lo, hi;
};

IntRange container_range(DType t) {
  switch (t) {
    case DType::kU8: return {0, 255};
    case DType::kI8: return {-128, 127};
    case DType::kU16: return {0, 65535};
    case DType::kI16: return {-32768, 32767};
    case DType::kU4: return {0, 15};
    case DType::kI4: return {-8, 7};
    default: return {INT32_MIN, INT32_MAX};
  }
}

// How scale and zero point reach the kernel: constants read at bind time, or run-time inputs
// converted into the workspace (the scale is used in place when it is already float).
struct QdqParams {
  QuantLayout layout;
  int64_t count = 1;  // parameter elements
  bool scale_const = true, zp_const = true;
  DType scale_dtype = DType::kF32, zp_dtype = DType::kU8;
  std::vector<float> scale;
  std::vector<int32_t> zero_point;

  size_t workspace_bytes() const {
    size_t b = 0;
    if (!scale_const && scale_dtype != DType::kF32) b += static_cast<size_t>(count) * sizeof(float);
    if (!zp_const) b += static_cast<size_t>(count) * sizeof(int32_t);
    return b;
  }
  // Pointers valid for one run.
  void resolve(std::span<const TensorView> in, void* workspace, const float** s, const int32_t** z) const {
    char* ws = static_cast<char*>(workspace);
    if (scale_const) {
      *s = scale.data();
    } else if (scale_dtype == DType::kF32) {
      *s = in[1].as<const float>();
    } else {
      float* buf = reinterpret_cast<float*>(ws);
      for (int64_t i = 0; i < count; ++i) buf[i] = static_cast<float>(read_element_as_double(in[1].data, scale_dtype, i));
      ws += count * sizeof(float);
      *s = buf;
    }
    if (zp_const) {
      *z = zero_point.data();
    } else {
      int32_t* buf = reinterpret_cast<int32_t*>(ws);
      for (int64_t i = 0; i < count; ++i) buf[i] = static_cast<int32_t>(read_element_as_double(in[2].data, zp_dtype, i));
      *z = buf;
    }
  }
};

Result<QdqParams> qdq_params(const BindContext& ctx) {
  QdqParams q;
  const Shape& x = ctx.input(0).shape;
  const Shape& s = ctx.input(1).shape;
  const Shape* zs = ctx.has_input(2) ? &ctx.input(2).shape : nullptr;
  QE_ASSIGN_OR_RETURN(QdqGeometry g, resolve_qdq_geometry(ctx.attrs(), x, s, zs));
  q.count = s.numel();
  switch (g.mode) {
    case QdqGeometry::Mode::kPerTensor: {
      q.layout.inner = x.numel();
      break;
    }
    case QdqGeometry::Mode::kPerAxis: {
      std::vector<int64_t> p(x.rank(), 1);
      p[static_cast<size_t>(g.axis)] = s[0];
      QE_ASSIGN_OR_RETURN(q.layout, kernels::broadcast_layout(x.dims(), p));
      break;
    }
    case QdqGeometry::Mode::kBlocked: {
      QE_ASSIGN_OR_RETURN(q.layout, kernels::blocked_layout(x.dims(), g.axis, g.block_size));
      break;
    }
  }
  q.scale_dtype = ctx.input(1).dtype;
  if (const Tensor* t = ctx.constant_input(1)) {
    q.scale = t->to_float_vector();
  } else {
    q.scale_const = false;
  }
  if (!ctx.has_input(2)) {
    q.zero_point.assign(static_cast<size_t>(q.count), 0);
  } else if (const Tensor* t = ctx.constant_input(2)) {
    const std::vector<int64_t> v = t->to_int64_vector();
    q.zero_point.assign(v.begin(), v.end());
  } else {
    q.zp_const = false;
    q.zp_dtype = ctx.input(2).dtype;
  }
  return q;
}

float load_as_float(const void* data, DType t, int64_t i) {
  switch (t) {
    case DType::kF32: return static_cast<const float*>(data)[i];
    case DType::kF16: return half_to_float(static_cast<const uint16_t*>(data)[i]);
    case DType::kBF16: return bf16_to_float(static_cast<const uint16_t*>(data)[i]);
    default: return static_cast<float>(read_element_as_double(data, t, i));
  }
}

class QuantizeLinearKernel final : public OpKernel {
 public:
  QuantizeLinearKernel(QdqParams p, DType in, DType out) : p_(std::move(p)), in_(in), out_(out), range_(container_range(out)) {}
  size_t workspace_bytes() const override { return p_.workspace_bytes(); }
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const float* s = nullptr;
    const int32_t* z = nullptr;
    p_.resolve(in, ctx.workspace, &s, &z);
    const int64_t total = in[0].numel();
    const int64_t chunks = (total + kChunk - 1) / kChunk;
    kernels::parallel_ranges(ctx.pool, chunks, kGrain / kChunk, [&](int64_t cb, int64_t ce) {
      float xf[kChunk];
      int32_t q[kChunk];
      for (int64_t chunk = cb; chunk < ce; ++chunk) {
        const int64_t b = chunk * kChunk, e = std::min(total, b + kChunk);
        const float* xs = nullptr;
        if (in_ == DType::kF32) {
          xs = in[0].as<const float>() + b;
        } else {
          for (int64_t i = b; i < e; ++i) xf[i - b] = load_as_float(in[0].data, in_, i);
          xs = xf;
        }
        kernels::for_each_piece(p_.layout, b, e, [&](const QuantPiece& pc) {
          const int64_t off = pc.x_offset - b;
          kernels::quantize_linear_ref(xs + off, q + off, s + pc.param_offset, z + pc.param_offset, pc.outer,
                                       pc.channels, pc.inner, range_.lo, range_.hi);
        });
        store(out[0].data, b, e, q);
      }
    });
    return Status::ok();
  }

 private:
  void store(void* dst, int64_t b, int64_t e, const int32_t* q) const {
    const int64_t n = e - b;
    switch (out_) {
      case DType::kU8: std::copy(q, q + n, static_cast<uint8_t*>(dst) + b); break;
      case DType::kI8: std::copy(q, q + n, static_cast<int8_t*>(dst) + b); break;
      case DType::kU16: std::copy(q, q + n, static_cast<uint16_t*>(dst) + b); break;
      case DType::kI16: std::copy(q, q + n, static_cast<int16_t*>(dst) + b); break;
      case DType::kU4:
      case DType::kI4: {
        // Whole bytes (b is even), so parallel ranges never share one; an odd tail pads with 0.
        uint8_t* bytes = static_cast<uint8_t*>(dst) + b / 2;
        for (int64_t i = 0; i < n; i += 2) {
          const int lo = q[i] & 0x0F, hi = i + 1 < n ? (q[i + 1] & 0x0F) : 0;
          bytes[i / 2] = static_cast<uint8_t>(lo | (hi << 4));
        }
        break;
      }
      default: break;
    }
  }

  QdqParams p_;
  DType in_, out_;
  IntRange range_;
};

Result<std::unique_ptr<OpKernel>> create_quantize_linear_ref(const BindContext& ctx) {
  const DType in = ctx.input(0).dtype, out = ctx.output(0).dtype;
  if (!qdq_integer_dtype(out, false)) return decline("output dtype ", dtype_name(out), " is not supported");
  QE_ASSIGN_OR_RETURN(QdqParams p, qdq_params(ctx));
  return std::unique_ptr<OpKernel>(std::make_unique<QuantizeLinearKernel>(std::move(p), in, out));
}

class DequantizeLinearKernel final : public OpKernel {
 public:
  DequantizeLinearKernel(QdqParams p, DType in, DType out) : p_(std::move(p)), in_(in), out_(out) {}
  size_t workspace_bytes() const override { return p_.workspace_bytes(); }
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const float* s = nullptr;
    const int32_t* z = nullptr;
    p_.resolve(in, ctx.workspace, &s, &z);
    const int64_t total = in[0].numel();
    const int64_t chunks = (total + kChunk - 1) / kChunk;
    kernels::parallel_ranges(ctx.pool, chunks, kGrain / kChunk, [&](int64_t cb, int64_t ce) {
      int32_t q[kChunk];
      float yf[kChunk];
      for (int64_t chunk = cb; chunk < ce; ++chunk) {
        const int64_t b = chunk * kChunk, e = std::min(total, b + kChunk);
        load(in[0].data, b, e, q);
        float* ys = out_ == DType::kF32 ? out[0].as<float>() + b : yf;
        kernels::for_each_piece(p_.layout, b, e, [&](const QuantPiece& pc) {
          const int64_t off = pc.x_offset - b;
          kernels::dequantize_linear_ref(q + off, ys + off, s + pc.param_offset, z + pc.param_offset, pc.outer,
                                         pc.channels, pc.inner);
        });
        if (out_ == DType::kF16) {
          uint16_t* o = static_cast<uint16_t*>(out[0].data) + b;
          for (int64_t i = 0; i < e - b; ++i) o[i] = float_to_half(yf[i]);
        } else if (out_ == DType::kBF16) {
          uint16_t* o = static_cast<uint16_t*>(out[0].data) + b;
          for (int64_t i = 0; i < e - b; ++i) o[i] = float_to_bf16(yf[i]);
        }
      }
    });
    return Status::ok();
  }

 private:
  void load(const void* src, int64_t b, int64_t e, int32_t* q) const {
    const int64_t n = e - b;
    switch (in_) {
      case DType::kU8: std::copy_n(static_cast<const uint8_t*>(src) + b, n, q); break;
      case DType::kI8: std::copy_n(static_cast<const int8_t*>(src) + b, n, q); break;
      case DType::kU16: std::copy_n(static_cast<const uint16_t*>(src) + b, n, q); break;
      case DType::kI16: std::copy_n(static_cast<const int16_t*>(src) + b, n, q); break;
      case DType::kI32: std::copy_n(static_cast<const int32_t*>(src) + b, n, q); break;
      case DType::kU4:
      case DType::kI4:
        for (int64_t i = 0; i < n; ++i) q[i] = int4_get(static_cast<const uint8_t*>(src), b + i, in_ == DType::kI4);
        break;
      default: break;
    }
  }

  QdqParams p_;
  DType in_, out_;
};

Result<std::unique_ptr<OpKernel>> create_dequantize_linear_ref(const BindContext& ctx) {
  const DType in = ctx.input(0).dtype, out = ctx.output(0).dtype;
  if (!qdq_integer_dtype(in, true)) return decline("input dtype ", dtype_name(in), " is not supported");
  if (!(out == DType::kF32 || out == DType::kF16 || out == DType::kBF16)) {
    return decline("output dtype ", dtype_name(out), " is not supported");
  }
  QE_ASSIGN_OR_RETURN(QdqParams p, qdq_params(ctx));
  return std::unique_ptr<OpKernel>(std::make_unique<DequantizeLinearKernel>(std::move(p), in, out));
}

}  // namespace

void register_quant_kernels(KernelRegistry& r) {
  r.add(OpKind::kFakeQuant, {"fakequant_int_f32_avx512", &create_fake_quant_fast<IsaLevel::kAvx512>});
  r.add(OpKind::kFakeQuant, {"fakequant_int_f32_avx2", &create_fake_quant_fast<IsaLevel::kAvx2>});
  r.add(OpKind::kFakeQuant, {"fakequant_ref", &create_fake_quant_ref});
  r.add(OpKind::kTrunc, {"trunc_ref", &create_trunc_ref});
  r.add(OpKind::kQuantizeLinear, {"quantizelinear_ref", &create_quantize_linear_ref});
  r.add(OpKind::kDequantizeLinear, {"dequantizelinear_ref", &create_dequantize_linear_ref});
}

}  // namespace qe
