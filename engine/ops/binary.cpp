// Binary ops with numpy broadcasting (Add, Sub, Mul, Div, Pow, Max, Min, Equal, Greater, Less)
// and Where. Candidates, best first:
//   <op>_f32_avx512, <op>_f32_avx2   float rows (Add, Sub, Mul, Div, Max, Min; Pow with a
//                                    constant scalar exponent of 0.5, 1 or 2)
//   <op>_ref                         every numeric dtype (Pow also with an exponent of another
//                                    type), comparisons to bool; Where on any fixed-size dtype
// Max/Min are variadic: the first two inputs go into the output, the rest are folded in place.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/ops/elementwise_common.h"
#include "kernels/elementwise/binary.h"
#include "kernels/elementwise/unary.h"

namespace qe {

namespace {

using kernels::BinaryOp;
using kernels::BroadcastPlan;

BinaryOp binary_op_of(OpKind op) {
  switch (op) {
    case OpKind::kAdd: return BinaryOp::kAdd;
    case OpKind::kSub: return BinaryOp::kSub;
    case OpKind::kMul: return BinaryOp::kMul;
    case OpKind::kDiv: return BinaryOp::kDiv;
    case OpKind::kPow: return BinaryOp::kPow;
    case OpKind::kMax: return BinaryOp::kMax;
    case OpKind::kMin: return BinaryOp::kMin;
    case OpKind::kEqual: return BinaryOp::kEqual;
    case OpKind::kGreater: return BinaryOp::kGreater;
    default: return BinaryOp::kLess;
  }
}

// One broadcast step per pair: step 0 combines inputs 0 and 1 into the output, step k folds
// input k+1 into the output in place. A single input (Max/Min) is a copy.
struct BinarySetup {
  BinaryOp op = BinaryOp::kAdd;
  DType dtype = DType::kUndefined;
  std::vector<BroadcastPlan> steps;
};

Result<BinarySetup> binary_setup(const BindContext& ctx) {
  BinarySetup s;
  s.op = binary_op_of(ctx.node().op);
  s.dtype = ctx.input(0).dtype;
  const Shape& out = ctx.output(0).shape;
  int n = ctx.num_inputs();
  for (int i = 1; i < n; ++i) {
    if (ctx.node().op != OpKind::kPow && ctx.input(i).dtype != s.dtype) {
      return invalid_argument("inputs 0 and ", i, " have different dtypes (", dtype_name(s.dtype), " and ",
                              dtype_name(ctx.input(i).dtype), ")");
    }
    const Shape& a = i == 1 ? ctx.input(0).shape : out;
    QE_ASSIGN_OR_RETURN(BroadcastPlan plan, kernels::plan_broadcast({a, ctx.input(i).shape}, out));
    s.steps.push_back(std::move(plan));
  }
  return s;
}

// Variadic step k reads the output (k > 0) or input 0 as its left operand.
const void* left_operand(std::span<const TensorView> in, std::span<const TensorView> out, size_t step) {
  return step == 0 ? in[0].data : out[0].data;
}

Status copy_single_input(std::span<const TensorView> in, std::span<const TensorView> out) {
  if (out[0].data != in[0].data) std::memcpy(out[0].data, in[0].data, out[0].bytes());
  return Status::ok();
}

class BinaryF32FastKernel final : public OpKernel {
 public:
  BinaryF32FastKernel(BinarySetup s, kernels::BinaryF32RowFn row) : s_(std::move(s)), row_(row) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    if (s_.steps.empty()) return copy_single_input(in, out);
    for (size_t k = 0; k < s_.steps.size(); ++k) {
      kernels::binary_f32_run(ctx.pool, s_.steps[k], row_, s_.op, static_cast<const float*>(left_operand(in, out, k)),
                              in[k + 1].as<const float>(), out[0].as<float>());
    }
    return Status::ok();
  }

 private:
  BinarySetup s_;
  kernels::BinaryF32RowFn row_;
};

template <typename T>
class BinaryRefKernel final : public OpKernel {
 public:
  explicit BinaryRefKernel(BinarySetup s) : s_(std::move(s)) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    if (s_.steps.empty()) return copy_single_input(in, out);
    for (size_t k = 0; k < s_.steps.size(); ++k) {
      kernels::binary_ref<T>(ctx.pool, s_.steps[k], s_.op, static_cast<const T*>(left_operand(in, out, k)),
                             in[k + 1].as<const T>(), out[0].data);
    }
    return Status::ok();
  }

 private:
  BinarySetup s_;
};

template <typename A, typename B>
class PowMixedKernel final : public OpKernel {
 public:
  explicit PowMixedKernel(BinarySetup s) : s_(std::move(s)) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    kernels::pow_mixed_ref<A, B>(ctx.pool, s_.steps[0], in[0].as<const A>(), in[1].as<const B>(), out[0].as<A>());
    return Status::ok();
  }

 private:
  BinarySetup s_;
};

// Pow(x, c) for a constant scalar c with an exact cheaper form, as a unary map.
class PowAsUnaryKernel final : public OpKernel {
 public:
  PowAsUnaryKernel(kernels::UnaryParams p, kernels::UnaryF32Fn fn) : p_(p), fn_(fn) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    kernels::unary_f32_run(ctx.pool, fn_, p_, in[0].as<const float>(), out[0].as<float>(), out[0].numel());
    return Status::ok();
  }

 private:
  kernels::UnaryParams p_;
  kernels::UnaryF32Fn fn_;
};

template <IsaLevel L>
Result<std::unique_ptr<OpKernel>> create_binary_fast(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_isa(L));
  for (int i = 0; i < ctx.num_inputs(); ++i) QE_RETURN_IF_ERROR(require_f32(ctx, i));
  BinaryOp op = binary_op_of(ctx.node().op);
  if (op == BinaryOp::kPow) {
    const Tensor* e = ctx.constant_input(1);
    if (!e || e->numel() != 1 || ctx.output(0).shape != ctx.input(0).shape) {
      return decline("Pow is vectorised only for a constant scalar exponent");
    }
    float c = e->data<float>()[0];
    kernels::UnaryParams p;
    if (c == 2.f) {
      p.op = kernels::UnaryOp::kSquare;
    } else if (c == 1.f) {
      p.op = kernels::UnaryOp::kIdentity;
    } else if (c == 0.5f) {
      p.op = kernels::UnaryOp::kSqrt;
    } else {
      return decline("Pow exponent ", c, " has no vector form (only 0.5, 1, 2)");
    }
    return std::unique_ptr<OpKernel>(std::make_unique<PowAsUnaryKernel>(p, kernels::unary_f32_ukernel(L, p.op)));
  }
  if (!kernels::binary_f32_vectorized(op)) return decline(kernels::binary_op_name(op), " has no vector form");
  kernels::BinaryF32RowFn row = kernels::binary_f32_ukernel(L);
  if (!row) return decline("no binary microkernel for ", isa_level_name(L));
  QE_ASSIGN_OR_RETURN(BinarySetup s, binary_setup(ctx));
  return std::unique_ptr<OpKernel>(std::make_unique<BinaryF32FastKernel>(std::move(s), row));
}

template <typename A>
Result<std::unique_ptr<OpKernel>> create_pow_mixed(BinarySetup s, DType b) {
  switch (b) {
    case DType::kF32: return std::unique_ptr<OpKernel>(std::make_unique<PowMixedKernel<A, float>>(std::move(s)));
    case DType::kF64: return std::unique_ptr<OpKernel>(std::make_unique<PowMixedKernel<A, double>>(std::move(s)));
    case DType::kI32: return std::unique_ptr<OpKernel>(std::make_unique<PowMixedKernel<A, int32_t>>(std::move(s)));
    case DType::kI64: return std::unique_ptr<OpKernel>(std::make_unique<PowMixedKernel<A, int64_t>>(std::move(s)));
    case DType::kU32: return std::unique_ptr<OpKernel>(std::make_unique<PowMixedKernel<A, uint32_t>>(std::move(s)));
    case DType::kU64: return std::unique_ptr<OpKernel>(std::make_unique<PowMixedKernel<A, uint64_t>>(std::move(s)));
    default: return decline("Pow exponent dtype ", dtype_name(b), " is not supported");
  }
}

Result<std::unique_ptr<OpKernel>> create_binary_ref(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(BinarySetup s, binary_setup(ctx));
  if (s.op == BinaryOp::kPow && ctx.input(1).dtype != s.dtype) {
    DType b = ctx.input(1).dtype;
    switch (s.dtype) {
      case DType::kF32: return create_pow_mixed<float>(std::move(s), b);
      case DType::kF64: return create_pow_mixed<double>(std::move(s), b);
      case DType::kI32: return create_pow_mixed<int32_t>(std::move(s), b);
      case DType::kI64: return create_pow_mixed<int64_t>(std::move(s), b);
      default: return decline("Pow base dtype ", dtype_name(s.dtype), " is not supported");
    }
  }
  std::unique_ptr<OpKernel> k;
  DType t = s.dtype;
  if (t == DType::kBool && (s.op == BinaryOp::kEqual)) {
    k = std::make_unique<BinaryRefKernel<bool>>(std::move(s));
    return k;
  }
  QE_RETURN_IF_ERROR(visit_numeric(t, op_name(ctx.node().op), [&](auto tag) -> Status {
    k = std::make_unique<BinaryRefKernel<decltype(tag)>>(std::move(s));
    return Status::ok();
  }));
  return k;
}

// Where(cond, x, y): broadcast of all three, elements moved as raw bytes.
class WhereKernel final : public OpKernel {
 public:
  WhereKernel(BroadcastPlan plan, int elem_bytes) : plan_(std::move(plan)), elem_bytes_(elem_bytes) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    kernels::where_ref(ctx.pool, plan_, in[0].as<const bool>(), in[1].data, in[2].data, out[0].data, elem_bytes_);
    return Status::ok();
  }

 private:
  BroadcastPlan plan_;
  int elem_bytes_;
};

Result<std::unique_ptr<OpKernel>> create_where_ref(const BindContext& ctx) {
  DType t = ctx.input(1).dtype;
  int bits = dtype_bits(t);
  if (t == DType::kString || dtype_is_packed(t) || bits % 8 != 0 || bits == 0 || bits > 64) {
    return decline("Where on dtype ", dtype_name(t), " is not supported");
  }
  if (ctx.input(0).dtype != DType::kBool) {
    return invalid_argument("condition has dtype ", dtype_name(ctx.input(0).dtype), ", expected bool");
  }
  QE_ASSIGN_OR_RETURN(BroadcastPlan plan, kernels::plan_broadcast({ctx.input(0).shape, ctx.input(1).shape,
                                                                   ctx.input(2).shape},
                                                                  ctx.output(0).shape));
  return std::unique_ptr<OpKernel>(std::make_unique<WhereKernel>(std::move(plan), bits / 8));
}

}  // namespace

void register_binary_kernels(KernelRegistry& r) {
  for (OpKind op : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv, OpKind::kPow, OpKind::kMax,
                    OpKind::kMin}) {
    std::string name = lower_op_name(op);
    r.add(op, {name + "_f32_avx512", &create_binary_fast<IsaLevel::kAvx512>});
    r.add(op, {name + "_f32_avx2", &create_binary_fast<IsaLevel::kAvx2>});
    r.add(op, {name + "_ref", &create_binary_ref});
  }
  for (OpKind op : {OpKind::kEqual, OpKind::kGreater, OpKind::kLess}) {
    r.add(op, {lower_op_name(op) + "_ref", &create_binary_ref});
  }
  r.add(OpKind::kWhere, {"where_ref", &create_where_ref});
}

}  // namespace qe
