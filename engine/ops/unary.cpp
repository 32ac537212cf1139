// Unary maps and activations: Abs, Ceil, Clip, Erf, Exp, Floor, Gelu, HardSigmoid, HardSwish,
// LeakyRelu, Log, Neg, Reciprocal, Relu, Sigmoid, Sqrt, Tanh. Candidates, best first:
//   <op>_f32_avx512, <op>_f32_avx2   vector maps (not Log)
//   <op>_ref                         unary_f32_ref for float, the generic form for double and
//                                    (where meaningful) integers
// Clip's bounds are optional inputs 1 and 2, read when the kernel runs (they may be dynamic).
#include <limits>
#include <memory>
#include <string>

#include "engine/ops/elementwise_common.h"
#include "kernels/elementwise/unary.h"

namespace qe {

namespace {

using kernels::UnaryOp;
using kernels::UnaryParams;

Result<UnaryParams> unary_params(const BindContext& ctx) {
  UnaryParams p;
  const Attributes& a = ctx.attrs();
  switch (ctx.node().op) {
    case OpKind::kAbs: p.op = UnaryOp::kAbs; break;
    case OpKind::kCeil: p.op = UnaryOp::kCeil; break;
    case OpKind::kClip: p.op = UnaryOp::kClip; break;
    case OpKind::kErf: p.op = UnaryOp::kErf; break;
    case OpKind::kExp: p.op = UnaryOp::kExp; break;
    case OpKind::kFloor: p.op = UnaryOp::kFloor; break;
    case OpKind::kRound: p.op = UnaryOp::kRound; break;
    case OpKind::kGelu: {
      QE_ASSIGN_OR_RETURN(std::string approx, a.get_string("approximate", "none"));
      if (approx == "none") {
        p.op = UnaryOp::kGelu;
      } else if (approx == "tanh") {
        p.op = UnaryOp::kGeluTanh;
      } else {
        return invalid_argument("attribute 'approximate' has unknown value '", approx, "' (expected none or tanh)");
      }
      break;
    }
    case OpKind::kHardSigmoid: {
      p.op = UnaryOp::kHardSigmoid;
      QE_ASSIGN_OR_RETURN(p.alpha, a.get_float("alpha", 0.2f));
      QE_ASSIGN_OR_RETURN(p.beta, a.get_float("beta", 0.5f));
      break;
    }
    case OpKind::kHardSwish: p.op = UnaryOp::kHardSwish; break;
    case OpKind::kLeakyRelu: {
      p.op = UnaryOp::kLeakyRelu;
      QE_ASSIGN_OR_RETURN(p.alpha, a.get_float("alpha", 0.01f));
      break;
    }
    case OpKind::kLog: p.op = UnaryOp::kLog; break;
    case OpKind::kNeg: p.op = UnaryOp::kNeg; break;
    case OpKind::kReciprocal: p.op = UnaryOp::kReciprocal; break;
    case OpKind::kRelu: p.op = UnaryOp::kRelu; break;
    case OpKind::kSigmoid: p.op = UnaryOp::kSigmoid; break;
    case OpKind::kSqrt: p.op = UnaryOp::kSqrt; break;
    case OpKind::kTanh: p.op = UnaryOp::kTanh; break;
    default: return internal_error("unary binding used for ", op_name(ctx.node().op));
  }
  return p;
}

// Clip bounds: the optional scalar inputs, each defaulting to the type's full range.
template <typename T>
Status read_clip_bounds(std::span<const TensorView> in, T& lo, T& hi) {
  lo = std::numeric_limits<T>::lowest();
  hi = std::numeric_limits<T>::max();
  if constexpr (std::is_floating_point_v<T>) {
    lo = -std::numeric_limits<T>::infinity();
    hi = std::numeric_limits<T>::infinity();
  }
  for (size_t i = 1; i < 3 && i < in.size(); ++i) {
    if (!in[i].data) continue;
    if (in[i].numel() != 1) return invalid_argument("Clip bound ", i, " has shape ", in[i].shape.to_string(), ", expected a scalar");
    (i == 1 ? lo : hi) = *in[i].as<const T>();
  }
  return Status::ok();
}

class UnaryF32Kernel final : public OpKernel {
 public:
  UnaryF32Kernel(UnaryParams p, kernels::UnaryF32Fn fn) : p_(p), fn_(fn) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    UnaryParams p = p_;
    if (p.op == UnaryOp::kClip) QE_RETURN_IF_ERROR(read_clip_bounds<float>(in, p.alpha, p.beta));
    kernels::unary_f32_run(ctx.pool, fn_, p, in[0].as<const float>(), out[0].as<float>(), out[0].numel());
    return Status::ok();
  }

 private:
  UnaryParams p_;
  kernels::UnaryF32Fn fn_;
};

template <typename T>
class UnaryGenericKernel final : public OpKernel {
 public:
  explicit UnaryGenericKernel(UnaryParams p) : p_(p) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const T* x = in[0].as<const T>();
    T* y = out[0].as<T>();
    if (p_.op == UnaryOp::kClip) {
      T lo, hi;
      QE_RETURN_IF_ERROR(read_clip_bounds<T>(in, lo, hi));
      kernels::clip_generic<T>(ctx.pool, x, y, out[0].numel(), lo, hi);
    } else {
      kernels::unary_generic<T>(ctx.pool, p_, x, y, out[0].numel());
    }
    return Status::ok();
  }

 private:
  UnaryParams p_;
};

template <IsaLevel L>
Result<std::unique_ptr<OpKernel>> create_unary_fast(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_isa(L));
  QE_RETURN_IF_ERROR(require_f32(ctx, 0));
  QE_ASSIGN_OR_RETURN(UnaryParams p, unary_params(ctx));
  kernels::UnaryF32Fn fn = kernels::unary_f32_ukernel(L, p.op);
  if (!fn) return decline("no vector form of ", kernels::unary_op_name(p.op));
  return std::unique_ptr<OpKernel>(std::make_unique<UnaryF32Kernel>(p, fn));
}

Result<std::unique_ptr<OpKernel>> create_unary_ref(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(UnaryParams p, unary_params(ctx));
  DType t = ctx.input(0).dtype;
  if (t == DType::kF32) return std::unique_ptr<OpKernel>(std::make_unique<UnaryF32Kernel>(p, &kernels::unary_f32_ref));
  std::unique_ptr<OpKernel> k;
  QE_RETURN_IF_ERROR(visit_numeric(t, op_name(ctx.node().op), [&](auto tag) -> Status {
    using T = decltype(tag);
    if (p.op != UnaryOp::kClip && !kernels::unary_generic_supported<T>(p.op)) {
      return decline(kernels::unary_op_name(p.op), " on dtype ", dtype_name(dtype_of<T>::value), " is not supported");
    }
    k = std::make_unique<UnaryGenericKernel<T>>(p);
    return Status::ok();
  }));
  return k;
}

}  // namespace

void register_unary_kernels(KernelRegistry& r) {
  for (OpKind op : {OpKind::kAbs, OpKind::kCeil, OpKind::kClip, OpKind::kErf, OpKind::kExp, OpKind::kFloor,
                    OpKind::kGelu, OpKind::kHardSigmoid, OpKind::kHardSwish, OpKind::kLeakyRelu, OpKind::kLog,
                    OpKind::kNeg, OpKind::kReciprocal, OpKind::kRelu, OpKind::kRound, OpKind::kSigmoid, OpKind::kSqrt,
                    OpKind::kTanh}) {
    std::string name = lower_op_name(op);
    if (op != OpKind::kLog) {
      r.add(op, {name + "_f32_avx512", &create_unary_fast<IsaLevel::kAvx512>});
      r.add(op, {name + "_f32_avx2", &create_unary_fast<IsaLevel::kAvx2>});
    }
    r.add(op, {name + "_ref", &create_unary_ref});
  }
}

}  // namespace qe
