// Bindings of the shape family: Reshape, Flatten, Squeeze, Unsqueeze, Identity and Dropout are
// byte copies (the data does not change, only the shape); Shape, Constant and ConstantOfShape
// write values the binding computes. The other data-movement ops register from
// data_index.cpp, cast.cpp and resize.cpp.
#include <cstring>
#include <memory>
#include <string>

#include "engine/ops/data_common.h"
#include "graph/schemas/data_attrs.h"
#include "kernels/data/copy.h"

namespace qe {

namespace {

// Output 0 = input 0, byte for byte (packed types too: the bytes are the same).
class CopyKernel final : public OpKernel {
 public:
  explicit CopyKernel(bool write_mask) : write_mask_(write_mask) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    kernels::copy_bytes(ctx.pool, out[0].data, in[0].data, out[0].bytes());
    if (write_mask_) std::memset(out[1].data, 1, out[1].bytes());  // Dropout's mask: all kept
    return Status::ok();
  }

 private:
  bool write_mask_;
};

Result<std::unique_ptr<OpKernel>> create_copy(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_known_outputs(ctx));
  if (ctx.input(0).dtype != ctx.output(0).dtype) return internal_error("copy with different dtypes");
  if (ctx.input(0).shape.numel() != ctx.output(0).shape.numel()) {
    return invalid_argument("input ", ctx.input(0).shape.to_string(), " and output ", ctx.output(0).shape.to_string(),
                            " have different element counts");
  }
  return std::unique_ptr<OpKernel>(new CopyKernel(false));
}

// Dropout at inference is the identity. With training_mode given and true it would drop
// values at random, which an inference engine does not do.
class DropoutKernel final : public OpKernel {
 public:
  DropoutKernel(bool mask, bool check_training) : mask_(mask), check_training_(check_training) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    if (check_training_ && in.size() > 2 && in[2].data && *static_cast<const uint8_t*>(in[2].data) != 0) {
      double ratio = in[1].data ? read_element_as_double(in[1].data, in[1].dtype, 0) : 0.5;
      if (ratio != 0.0) return unsupported("training-mode Dropout (ratio ", ratio, ") is not supported");
    }
    kernels::copy_bytes(ctx.pool, out[0].data, in[0].data, out[0].bytes());
    if (mask_) std::memset(out[1].data, 1, out[1].bytes());
    return Status::ok();
  }

 private:
  bool mask_, check_training_;
};

Result<std::unique_ptr<OpKernel>> create_dropout(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_known_outputs(ctx));
  bool mask = ctx.num_outputs() > 1 && ctx.node().outputs[1] != kNoValue;
  bool check = false;
  if (ctx.has_input(2)) {
    if (const Tensor* t = ctx.constant_input(2)) {
      if (t->numel() != 1 || t->dtype() != DType::kBool) {
        return invalid_argument("input 'training_mode' must be a bool scalar");
      }
      if (t->data<uint8_t>()[0] != 0) {
        const Tensor* r = ctx.constant_input(1);
        double ratio = !ctx.has_input(1) ? 0.5 : r ? read_element_as_double(r->raw(), r->dtype(), 0) : -1;
        if (ratio != 0.0) return unsupported("training-mode Dropout is not supported (training_mode is true)");
      }
    } else {
      check = true;
    }
  }
  return std::unique_ptr<OpKernel>(new DropoutKernel(mask, check));
}

class ShapeKernel final : public OpKernel {
 public:
  ShapeKernel(int64_t start, int64_t end) : start_(start), end_(end) {}
  Status run(const RunContext&, std::span<const TensorView> in, std::span<const TensorView> out) override {
    int64_t* o = out[0].as<int64_t>();
    for (int64_t i = start_; i < end_; ++i) o[i - start_] = in[0].shape[static_cast<size_t>(i)];
    return Status::ok();
  }

 private:
  int64_t start_, end_;
};

Result<std::unique_ptr<OpKernel>> create_shape(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_known_outputs(ctx));
  int64_t rank = static_cast<int64_t>(ctx.input(0).shape.rank());
  QE_ASSIGN_OR_RETURN(int64_t start, ctx.attrs().get_int("start", 0));
  QE_ASSIGN_OR_RETURN(int64_t end, ctx.attrs().get_int("end", rank));
  auto [b, e] = shape_op_range(start, end, rank);
  return std::unique_ptr<OpKernel>(new ShapeKernel(b, e));
}

// Writes a tensor fixed at bind time (Constant's value).
class ConstantKernel final : public OpKernel {
 public:
  explicit ConstantKernel(Tensor value) : value_(std::move(value)) {}
  Status run(const RunContext& ctx, std::span<const TensorView>, std::span<const TensorView> out) override {
    kernels::copy_bytes(ctx.pool, out[0].data, value_.raw(), value_.bytes());
    return Status::ok();
  }

 private:
  Tensor value_;
};

Result<std::unique_ptr<OpKernel>> create_constant(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_known_outputs(ctx));
  QE_ASSIGN_OR_RETURN(Tensor v, constant_op_value(ctx.attrs()));
  if (v.shape() != ctx.output(0).shape || v.dtype() != ctx.output(0).dtype) {
    return internal_error("Constant output does not match its value");
  }
  return std::unique_ptr<OpKernel>(new ConstantKernel(std::move(v)));
}

class FillKernel final : public OpKernel {
 public:
  explicit FillKernel(Tensor value) : value_(std::move(value)) {}
  Status run(const RunContext&, std::span<const TensorView>, std::span<const TensorView> out) override {
    kernels::fill_elements(out[0].data, value_.raw(), value_.bytes(), out[0].numel());
    return Status::ok();
  }

 private:
  Tensor value_;
};

Result<std::unique_ptr<OpKernel>> create_constant_of_shape(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_known_outputs(ctx));
  QE_ASSIGN_OR_RETURN(Tensor v, constant_of_shape_value(ctx.attrs()));
  QE_RETURN_IF_ERROR(element_bytes(v.dtype()).status());
  return std::unique_ptr<OpKernel>(new FillKernel(std::move(v)));
}

}  // namespace

void register_data_kernels(KernelRegistry& r) {
  r.add(OpKind::kReshape, {"reshape_copy", create_copy});
  r.add(OpKind::kFlatten, {"flatten_copy", create_copy});
  r.add(OpKind::kSqueeze, {"squeeze_copy", create_copy});
  r.add(OpKind::kUnsqueeze, {"unsqueeze_copy", create_copy});
  r.add(OpKind::kIdentity, {"identity_copy", create_copy});
  r.add(OpKind::kDropout, {"dropout_identity", create_dropout});
  r.add(OpKind::kShape, {"shape_ref", create_shape});
  r.add(OpKind::kConstant, {"constant_ref", create_constant});
  r.add(OpKind::kConstantOfShape, {"constantofshape_fill", create_constant_of_shape});
  register_data_index_kernels(r);
  register_cast_kernels(r);
  register_resize_kernels(r);
}

}  // namespace qe
