// Cast binding: kernels/data/cast for every pair of fixed-size numeric types; packed int4 and
// the types qengine does not have are declined (the schema already rejects unknown targets).
#include <memory>

#include "engine/ops/data_common.h"
#include "kernels/data/cast.h"

namespace qe {

namespace {

class CastKernel final : public OpKernel {
 public:
  CastKernel(DType from, DType to) : from_(from), to_(to) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    kernels::cast(ctx.pool, in[0].data, from_, out[0].data, to_, out[0].numel());
    return Status::ok();
  }

 private:
  DType from_, to_;
};

Result<std::unique_ptr<OpKernel>> create_cast(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_known_outputs(ctx));
  DType from = ctx.input(0).dtype, to = ctx.output(0).dtype;
  if (!kernels::cast_supported(from, to)) {
    return decline("cast from ", dtype_name(from), " to ", dtype_name(to), " is not supported");
  }
  return std::unique_ptr<OpKernel>(new CastKernel(from, to));
}

// Names the pairs kernels::cast converts with F16C.
Result<std::unique_ptr<OpKernel>> create_cast_f16c(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_cpu_level(IsaLevel::kAvx2));
  DType from = ctx.input(0).dtype, to = ctx.output(0).dtype;
  bool pair = (from == DType::kF32 && to == DType::kF16) || (from == DType::kF16 && to == DType::kF32);
  if (!pair) return decline("only float <-> float16");
  return create_cast(ctx);
}

}  // namespace

void register_cast_kernels(KernelRegistry& r) {
  r.add(OpKind::kCast, {"cast_f32_f16_avx2", create_cast_f16c});
  r.add(OpKind::kCast, {"cast_ref", create_cast});
}

}  // namespace qe
