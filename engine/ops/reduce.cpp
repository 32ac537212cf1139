// ReduceMax, ReduceMean, ReduceSum (opset-18 form: axes as optional input 1, keepdims,
// noop_with_empty_axes). Candidates, best first:
//   <op>_f32_avx512, <op>_f32_avx2   float, reduced axes forming one block ([outer, R, inner])
//   <op>_ref                         any numeric dtype, any axes
// The axes input must be constant when the kernel is bound (plans fold it for concrete shapes).
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/ops/elementwise_common.h"
#include "kernels/elementwise/reduce.h"

namespace qe {

namespace {

using kernels::ReduceOp;
using kernels::ReducePlan;

struct ReduceSetup {
  ReduceOp op = ReduceOp::kSum;
  bool identity = false;  // empty axes with noop_with_empty_axes: a copy
  ReducePlan plan;
};

Result<ReduceSetup> reduce_setup(const BindContext& ctx) {
  ReduceSetup s;
  switch (ctx.node().op) {
    case OpKind::kReduceMax: s.op = ReduceOp::kMax; break;
    case OpKind::kReduceMean: s.op = ReduceOp::kMean; break;
    default: s.op = ReduceOp::kSum; break;
  }
  QE_ASSIGN_OR_RETURN(int64_t noop, ctx.attrs().get_int("noop_with_empty_axes", 0));
  const Shape& x = ctx.input(0).shape;
  std::vector<int64_t> axes;
  if (ctx.has_input(1)) {
    const Tensor* a = ctx.constant_input(1);
    if (!a) return decline("axes input '", ctx.input(1).name, "' is not constant");
    axes = a->to_int64_vector();
  }
  std::vector<bool> reduced(x.rank(), axes.empty());
  if (axes.empty() && noop) {
    s.identity = true;
    return s;
  }
  for (int64_t a : axes) {
    QE_ASSIGN_OR_RETURN(int64_t ax, normalize_axis(a, static_cast<int64_t>(x.rank())));
    reduced[static_cast<size_t>(ax)] = true;
  }
  s.plan = kernels::plan_reduce(x, reduced);
  if (s.plan.reduced_dims.size() > kernels::kMaxReducedDims) {
    return decline("reduction over ", s.plan.reduced_dims.size(), " separate axis groups (at most ",
                   kernels::kMaxReducedDims, ")");
  }
  return s;
}

template <typename T>
class ReduceRefKernel final : public OpKernel {
 public:
  explicit ReduceRefKernel(ReduceSetup s) : s_(std::move(s)) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    if (s_.identity) {
      std::memcpy(out[0].data, in[0].data, out[0].bytes());
    } else {
      kernels::reduce_ref<T>(ctx.pool, s_.plan, s_.op, in[0].as<const T>(), out[0].as<T>());
    }
    return Status::ok();
  }

 private:
  ReduceSetup s_;
};

class ReduceF32FastKernel final : public OpKernel {
 public:
  ReduceF32FastKernel(ReduceSetup s, const kernels::ReduceF32Ukernels* uk) : s_(std::move(s)), uk_(uk) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    kernels::reduce_f32_run(ctx.pool, *uk_, s_.plan, s_.op, in[0].as<const float>(), out[0].as<float>());
    return Status::ok();
  }

 private:
  ReduceSetup s_;
  const kernels::ReduceF32Ukernels* uk_;
};

template <IsaLevel L>
Result<std::unique_ptr<OpKernel>> create_reduce_fast(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_isa(L));
  QE_RETURN_IF_ERROR(require_f32(ctx, 0));
  const kernels::ReduceF32Ukernels* uk = kernels::reduce_f32_ukernels(L);
  if (!uk) return decline("no reduction microkernels for ", isa_level_name(L));
  QE_ASSIGN_OR_RETURN(ReduceSetup s, reduce_setup(ctx));
  if (s.identity) return decline("no-op reduction (copied by the reference)");
  if (!s.plan.contiguous) return decline("reduced axes are not one contiguous block");
  if (s.plan.count == 0) return decline("empty reduction");
  return std::unique_ptr<OpKernel>(std::make_unique<ReduceF32FastKernel>(std::move(s), uk));
}

Result<std::unique_ptr<OpKernel>> create_reduce_ref(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(ReduceSetup s, reduce_setup(ctx));
  std::unique_ptr<OpKernel> k;
  QE_RETURN_IF_ERROR(visit_numeric(ctx.input(0).dtype, op_name(ctx.node().op), [&](auto tag) -> Status {
    k = std::make_unique<ReduceRefKernel<decltype(tag)>>(std::move(s));
    return Status::ok();
  }));
  return k;
}

}  // namespace

void register_reduce_kernels(KernelRegistry& r) {
  for (OpKind op : {OpKind::kReduceMax, OpKind::kReduceMean, OpKind::kReduceSum}) {
    std::string name = lower_op_name(op);
    r.add(op, {name + "_f32_avx512", &create_reduce_fast<IsaLevel::kAvx512>});
    r.add(op, {name + "_f32_avx2", &create_reduce_fast<IsaLevel::kAvx2>});
    r.add(op, {name + "_ref", &create_reduce_ref});
  }
}

}  // namespace qe
