// Softmax. Opset 13+: normalises along `axis` (x viewed as [outer, d, inner]). Nodes written
// for opset < 13 carry `_coerce_2d` = 1: x is flattened to 2-D at `axis` and each row is
// normalised over everything from `axis` on. Candidates: softmax_f32_avx512, softmax_f32_avx2,
// softmax_ref (float only).
#include <memory>

#include "engine/ops/elementwise_common.h"
#include "kernels/elementwise/softmax.h"

namespace qe {

namespace {

struct SoftmaxSetup {
  int64_t outer = 1, d = 1, inner = 1;
};

Result<SoftmaxSetup> softmax_setup(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_f32(ctx, 0));
  const Shape& x = ctx.input(0).shape;
  QE_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().get_int("axis", -1));
  QE_ASSIGN_OR_RETURN(int64_t coerce, ctx.attrs().get_int("_coerce_2d", 0));
  SoftmaxSetup s;
  if (x.rank() == 0) return s;
  QE_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(axis_attr, static_cast<int64_t>(x.rank())));
  for (size_t i = 0; i < x.rank(); ++i) {
    int64_t a = static_cast<int64_t>(i);
    if (a < axis) {
      s.outer *= x[i];
    } else if (a == axis || coerce) {
      s.d *= x[i];
    } else {
      s.inner *= x[i];
    }
  }
  return s;
}

class SoftmaxKernel final : public OpKernel {
 public:
  SoftmaxKernel(SoftmaxSetup s, kernels::SoftmaxF32Fn fn) : s_(s), fn_(fn) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    kernels::softmax_f32_run(ctx.pool, fn_, in[0].as<const float>(), out[0].as<float>(), s_.outer, s_.d, s_.inner);
    return Status::ok();
  }

 private:
  SoftmaxSetup s_;
  kernels::SoftmaxF32Fn fn_;
};

template <IsaLevel L>
Result<std::unique_ptr<OpKernel>> create_softmax_fast(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_isa(L));
  kernels::SoftmaxF32Fn fn = kernels::softmax_f32_ukernel(L);
  if (!fn) return decline("no softmax microkernel for ", isa_level_name(L));
  QE_ASSIGN_OR_RETURN(SoftmaxSetup s, softmax_setup(ctx));
  return std::unique_ptr<OpKernel>(std::make_unique<SoftmaxKernel>(s, fn));
}

Result<std::unique_ptr<OpKernel>> create_softmax_ref(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(SoftmaxSetup s, softmax_setup(ctx));
  return std::unique_ptr<OpKernel>(std::make_unique<SoftmaxKernel>(s, &kernels::softmax_f32_ref));
}

}  // namespace

void register_softmax_kernels(KernelRegistry& r) {
  r.add(OpKind::kSoftmax, {"softmax_f32_avx512", &create_softmax_fast<IsaLevel::kAvx512>});
  r.add(OpKind::kSoftmax, {"softmax_f32_avx2", &create_softmax_fast<IsaLevel::kAvx2>});
  r.add(OpKind::kSoftmax, {"softmax_ref", &create_softmax_ref});
}

}  // namespace qe
