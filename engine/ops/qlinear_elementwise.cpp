// Bindings of the integer elementwise and pooling ops made by the integer lowering
// (graph/schemas/qlinear.cpp lists their attributes). Candidates, best first:
//   QAdd, QMul  qadd_<isa> / qmul_<isa> (same shapes, or B one value per (image, channel)
//               plane), then the reference
//   QAvgPool    qglobal_avg_pool
//   QLut        qlut
//   QuantizeLinear  quantizelinear_f32_int8 (float to uint8/int8 with constant per-tensor scale
//               and zero point: the integer regions' entries); others fall to the reference
//   DequantizeLinear  dequantizelinear_int8_f32 (the exits, likewise); others fall to the reference
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/ops/qlinear_common.h"
#include "kernels/int8/qadd.h"
#include "kernels/int8/qlut.h"
#include "kernels/int8/qpool.h"
#include "kernels/int8/quantize_act.h"
#include "kernels/pooling/pool.h"

namespace qe {

namespace {

using namespace kernels;

constexpr int64_t kGrainBytes = 16384;  // elements per parallel range for byte-wise ops

// Output clamp and zero point of a u8/s8 result.
Result<RequantOutput> read_int_output(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(QOutParams o, read_qout_params(ctx, {}, ""));
  if (o.float_out) return invalid_argument("output must be u8 or s8");
  return o.out;
}

class QBinaryKernel final : public OpKernel {
 public:
  QBinaryKernel(QBinaryFn fn, QBinaryParams q, bool swap, int64_t planes, int64_t inner)
      : fn_(fn), q_(q), swap_(swap), planes_(planes), inner_(inner) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const void* a = in[swap_ ? 1 : 0].data;
    const void* b = in[swap_ ? 0 : 1].data;
    void* y = out[0].data;
    const int64_t grain = std::max<int64_t>(1, kGrainBytes / std::max<int64_t>(1, inner_));
    ctx.pool->parallel_for(planes_, [&](int64_t p0, int64_t p1) { fn_(q_, a, b, y, inner_, p0, p1); }, grain);
    return Status::ok();
  }

 private:
  QBinaryFn fn_;
  QBinaryParams q_;
  bool swap_;
  int64_t planes_, inner_;
};

// Same shapes, or one side [N, C, 1, ...] against [N, C, spatial...].
struct BinaryLayout {
  bool swap = false;
  QBroadcast broadcast = QBroadcast::kSame;
  int64_t planes = 1, inner = 1;
};
Result<BinaryLayout> binary_layout(const Shape& a, const Shape& b, const Shape& y) {
  BinaryLayout l;
  if (a == b) {
    l.planes = y.rank() >= 2 ? y[0] * y[1] : 1;
    l.inner = l.planes > 0 ? y.numel() / l.planes : 0;
    return l;
  }
  auto per_plane = [&](const Shape& full, const Shape& small) {
    if (full.rank() < 3 || small.rank() != full.rank() || small[0] != full[0] || small[1] != full[1]) return false;
    for (size_t d = 2; d < small.rank(); ++d) {
      if (small[d] != 1) return false;
    }
    return true;
  };
  if (per_plane(a, b) || per_plane(b, a)) {
    l.swap = per_plane(b, a);
    l.broadcast = QBroadcast::kPerPlane;
    l.planes = y[0] * y[1];
    l.inner = l.planes > 0 ? y.numel() / l.planes : 0;
    return l;
  }
  return decline("broadcast of ", a.to_string(), " and ", b.to_string(), " (only equal shapes or [N, C, 1, 1])");
}

template <bool kAdd, bool kReference>
Result<std::unique_ptr<OpKernel>> create_qbinary(const BindContext& ctx) {
  const Attributes& at = ctx.attrs();
  QE_ASSIGN_OR_RETURN(float sa, at.get_float("a_scale", 0.f));
  QE_ASSIGN_OR_RETURN(float sb, at.get_float("b_scale", 0.f));
  QE_ASSIGN_OR_RETURN(float sy, at.get_float("y_scale", 0.f));
  QE_ASSIGN_OR_RETURN(int64_t za, at.get_int("a_zero_point", 0));
  QE_ASSIGN_OR_RETURN(int64_t zb, at.get_int("b_zero_point", 0));
  if (!(sa > 0.f) || !(sb > 0.f) || !(sy > 0.f)) return invalid_argument("scales must be positive");
  QE_ASSIGN_OR_RETURN(RequantOutput o, read_int_output(ctx));
  QE_ASSIGN_OR_RETURN(RequantMode mode, read_requant_mode(at));
  QE_ASSIGN_OR_RETURN(BinaryLayout l, binary_layout(ctx.input(0).shape, ctx.input(1).shape, ctx.output(0).shape));
  const bool as = ctx.input(0).dtype == DType::kI8, bs = ctx.input(1).dtype == DType::kI8;
  const bool ys = ctx.output(0).dtype == DType::kI8;
  const int32_t za32 = static_cast<int32_t>(za), zb32 = static_cast<int32_t>(zb);
  // After a swap the broadcast operand is B; the params describe the swapped order.
  QBinaryParams q = kAdd ? (l.swap ? make_qadd_params(sb, zb32, bs, sa, za32, as, sy, o.zero_point, ys)
                                   : make_qadd_params(sa, za32, as, sb, zb32, bs, sy, o.zero_point, ys))
                         : (l.swap ? make_qmul_params(sb, zb32, bs, sa, za32, as, sy, o.zero_point, ys, mode)
                                   : make_qmul_params(sa, za32, as, sb, zb32, bs, sy, o.zero_point, ys, mode));
  q.out.qmin = o.qmin;  // a fused Relu's clamp; the zero point went to make_q*_params
  q.out.qmax = o.qmax;
  q.b_broadcast = l.broadcast;
  if (!kAdd && mode == RequantMode::kFixedPoint && q.m.m >= 1.f) {
    return invalid_argument("Mul multiplier ", q.m.m, " >= 1 has no fixed-point form; use float requantization");
  }
  QBinaryFn fn = kReference ? (kAdd ? &qadd_ref : &qmul_ref)
                            : (kAdd ? qadd_ukernel(cpu_features().level) : qmul_ukernel(cpu_features().level));
  return std::unique_ptr<OpKernel>(std::make_unique<QBinaryKernel>(fn, q, l.swap, l.planes, l.inner));
}

class QGlobalAvgPoolKernel final : public OpKernel {
 public:
  QGlobalAvgPoolKernel(QPoolQuant q, int64_t planes, int64_t size) : q_(q), planes_(planes), size_(size) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const void* x = in[0].data;
    void* y = out[0].data;
    pool_for_planes(ctx.pool, planes_, size_, [&](int64_t p0, int64_t p1) { qglobal_avg_pool(q_, x, y, size_, p0, p1); });
    return Status::ok();
  }

 private:
  QPoolQuant q_;
  int64_t planes_, size_;
};

Result<std::unique_ptr<OpKernel>> create_qglobal_avg_pool(const BindContext& ctx) {
  const Attributes& at = ctx.attrs();
  QE_ASSIGN_OR_RETURN(float m, at.get_float("multiplier", 0.f));
  QE_ASSIGN_OR_RETURN(int64_t zin, at.get_int("x_zero_point", 0));
  if (!(m > 0.f) || m >= 1073741824.f) return invalid_argument("multiplier ", m, " out of range");
  QPoolQuant q;
  q.in_signed = ctx.input(0).dtype == DType::kI8;
  q.out_signed = ctx.output(0).dtype == DType::kI8;
  q.in_zero_point = static_cast<int32_t>(zin);
  QE_ASSIGN_OR_RETURN(q.mode, read_requant_mode(at));
  if (at.has("y_scale") && ctx.output(0).dtype != DType::kF32) {
    // A pool quantized directly: divide by y_scale as the simulation's quantizer does.
    QE_ASSIGN_OR_RETURN(QOutParams o, read_qout_params(ctx, {static_cast<double>(m)}));
    q.global = o.mult[0];
    q.out = o.out;
  } else {
    // fp32 output: the exact simulation's pool, the dequantized window mean. Under a Trunc: the
    // multiplier maps the window sum onto the output grid by itself.
    q.global = make_requant_multiplier(m);
    q.float_out = ctx.output(0).dtype == DType::kF32;
    if (!q.float_out) {
      QE_ASSIGN_OR_RETURN(q.out, read_int_output(ctx));
    }
  }
  const Shape& x = ctx.input(0).shape;
  const int64_t planes = x[0] * x[1];
  const int64_t size = planes > 0 ? x.numel() / planes : 0;
  if (size >= (int64_t{1} << 23)) return invalid_argument("plane of ", size, " elements is too large");
  return std::unique_ptr<OpKernel>(std::make_unique<QGlobalAvgPoolKernel>(q, planes, size));
}

class QLutKernel final : public OpKernel {
 public:
  explicit QLutKernel(const uint8_t* table) { std::memcpy(table_, table, sizeof table_); }
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const uint8_t* x = static_cast<const uint8_t*>(in[0].data);
    uint8_t* y = static_cast<uint8_t*>(out[0].data);
    ctx.pool->parallel_for(
        in[0].numel(), [&](int64_t b, int64_t e) { apply_qlut(table_, x + b, y + b, e - b); }, kGrainBytes);
    return Status::ok();
  }

 private:
  uint8_t table_[256];
};

Result<std::unique_ptr<OpKernel>> create_qlut(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(std::vector<int64_t> values, ctx.attrs().get_ints("table"));
  if (values.size() != 256) return invalid_argument("table has ", values.size(), " entries, expected 256");
  const bool out_signed = ctx.output(0).dtype == DType::kI8;
  uint8_t table[256];
  for (size_t i = 0; i < 256; ++i) {
    const int64_t v = values[i];
    if (out_signed ? (v < -128 || v > 127) : (v < 0 || v > 255)) {
      return invalid_argument("table entry ", i, " = ", v, " does not fit the output type");
    }
    table[i] = static_cast<uint8_t>(static_cast<int8_t>(v) & 0xFF);
    if (!out_signed) table[i] = static_cast<uint8_t>(v);
  }
  return std::unique_ptr<OpKernel>(std::make_unique<QLutKernel>(table));
}

class QuantizeActKernel final : public OpKernel {
 public:
  QuantizeActKernel(QuantizeActFn fn, QuantizeActArgs a) : fn_(fn), a_(a) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const float* x = in[0].as<const float>();
    uint8_t* y = static_cast<uint8_t*>(out[0].data);
    ctx.pool->parallel_for(
        in[0].numel(), [&](int64_t b, int64_t e) { fn_(x + b, y + b, e - b, a_); }, kGrainBytes);
    return Status::ok();
  }

 private:
  QuantizeActFn fn_;
  QuantizeActArgs a_;
};

// The scale and zero point of a per-tensor QuantizeLinear / DequantizeLinear whose integer side
// has type `t`; nullopt when they are not constant scalars (the reference kernel takes the rest).
std::optional<QuantizeActArgs> per_tensor_args(const BindContext& ctx, DType t) {
  const Tensor* s = ctx.constant_input(1);
  const Tensor* z = ctx.constant_input(2);
  if (!s || s->numel() != 1 || (ctx.has_input(2) && (!z || z->numel() != 1))) return std::nullopt;
  QuantizeActArgs a;
  a.scale = s->to_float_vector()[0];
  a.zero_point = z ? static_cast<int32_t>(z->to_float_vector()[0]) : 0;
  a.is_signed = t == DType::kI8;
  return a;
}

Result<std::unique_ptr<OpKernel>> create_quantize_act(const BindContext& ctx) {
  const DType out = ctx.output(0).dtype;
  if (ctx.input(0).dtype != DType::kF32 || (out != DType::kU8 && out != DType::kI8)) {
    return decline("only float to uint8/int8");
  }
  std::optional<QuantizeActArgs> args = per_tensor_args(ctx, out);
  if (!args) return decline("scale and zero point must be constant scalars");
  QuantizeActArgs a = *args;
  if (!(a.scale > 0.f) || !std::isfinite(a.scale)) return decline("scale is not a positive finite number");
  a.lo = a.is_signed ? -128 : 0;
  a.hi = a.is_signed ? 127 : 255;
  return std::unique_ptr<OpKernel>(std::make_unique<QuantizeActKernel>(quantize_act_ukernel(cpu_features().level), a));
}

class DequantizeActKernel final : public OpKernel {
 public:
  explicit DequantizeActKernel(QuantizeActArgs a) : a_(a) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const uint8_t* q = static_cast<const uint8_t*>(in[0].data);
    float* y = out[0].as<float>();
    ctx.pool->parallel_for(
        in[0].numel(), [&](int64_t b, int64_t e) { dequantize_act(q + b, y + b, e - b, a_); }, kGrainBytes);
    return Status::ok();
  }

 private:
  QuantizeActArgs a_;
};

Result<std::unique_ptr<OpKernel>> create_dequantize_act(const BindContext& ctx) {
  const DType in = ctx.input(0).dtype;
  if ((in != DType::kU8 && in != DType::kI8) || ctx.output(0).dtype != DType::kF32) {
    return decline("only uint8/int8 to float");
  }
  std::optional<QuantizeActArgs> a = per_tensor_args(ctx, in);
  if (!a) return decline("scale and zero point must be constant scalars");
  return std::unique_ptr<OpKernel>(std::make_unique<DequantizeActKernel>(*a));
}

}  // namespace

void register_qlinear_elementwise_kernels(KernelRegistry& r) {
  r.add(OpKind::kQAdd, {"qadd", &create_qbinary<true, false>});
  r.add(OpKind::kQAdd, {"qadd_ref", &create_qbinary<true, true>});
  r.add(OpKind::kQMul, {"qmul", &create_qbinary<false, false>});
  r.add(OpKind::kQMul, {"qmul_ref", &create_qbinary<false, true>});
  r.add(OpKind::kQAvgPool, {"qglobal_avg_pool", &create_qglobal_avg_pool});
  r.add(OpKind::kQLut, {"qlut", &create_qlut});
  r.add(OpKind::kQuantizeLinear, {"quantizelinear_f32_int8", &create_quantize_act});
  r.add(OpKind::kDequantizeLinear, {"dequantizelinear_int8_f32", &create_dequantize_act});
}

}  // namespace qe
