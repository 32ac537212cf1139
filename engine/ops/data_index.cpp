// Bindings of the data-indexing ops. Every one moves whole elements by their byte size, so a
// single kernel serves float, double, float16, bool and every integer type:
//   Gather                -> kernels/data/blocks (indices checked at run time)
//   Concat, Split         -> kernels/data/blocks
//   Slice, Pad, Expand    -> kernels/data/axis_map (per-axis index maps built here)
//   Transpose             -> kernels/data/transpose (transpose_tiles_avx2 names its AVX2 tiles)
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "engine/ops/data_common.h"
#include "graph/schemas/data_attrs.h"
#include "kernels/data/axis_map.h"
#include "kernels/data/blocks.h"
#include "kernels/data/transpose.h"

namespace qe {

namespace {

int64_t product(const Shape& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

// ---------------------------------------------------------------------------------------------
// Gather

class GatherKernel final : public OpKernel {
 public:
  GatherKernel(int64_t outer, int64_t axis, int64_t axis_dim, size_t block, int64_t n_idx, std::vector<int64_t> fixed)
      : outer_(outer), axis_(axis), axis_dim_(axis_dim), block_(block), n_idx_(n_idx), fixed_(std::move(fixed)) {}
  size_t workspace_bytes() const override { return fixed_.empty() ? static_cast<size_t>(n_idx_) * sizeof(int64_t) : 0; }
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const int64_t* idx = fixed_.data();
    if (fixed_.empty() && n_idx_ > 0) {
      int64_t* norm = static_cast<int64_t*>(ctx.workspace);
      for (int64_t j = 0; j < n_idx_; ++j) {
        int64_t v = in[1].dtype == DType::kI32 ? in[1].as<const int32_t>()[j] : in[1].as<const int64_t>()[j];
        if (v < -axis_dim_ || v >= axis_dim_) {
          return invalid_argument("index ", v, " at position ", j, " of 'indices' is out of range for axis ", axis_,
                                  " of size ", axis_dim_);
        }
        norm[j] = v < 0 ? v + axis_dim_ : v;
      }
      idx = norm;
    }
    kernels::gather_blocks(ctx.pool, in[0].data, outer_, axis_dim_, block_, idx, n_idx_, out[0].data);
    return Status::ok();
  }

 private:
  int64_t outer_, axis_, axis_dim_;
  size_t block_;
  int64_t n_idx_;
  std::vector<int64_t> fixed_;  // normalised constant indices; empty when read at run time
};

Result<std::unique_ptr<OpKernel>> create_gather(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_known_outputs(ctx));
  QE_ASSIGN_OR_RETURN(size_t elem, element_bytes(ctx.input(0).dtype));
  const Shape& data = ctx.input(0).shape;
  QE_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().get_int("axis", 0));
  QE_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(axis_attr, static_cast<int64_t>(data.rank())));
  size_t a = static_cast<size_t>(axis);
  int64_t outer = product(data, 0, a), axis_dim = data[a], inner = product(data, a + 1, data.rank());
  int64_t n_idx = ctx.input(1).shape.numel();
  std::vector<int64_t> fixed;
  if (const Tensor* c = ctx.constant_input(1); c && n_idx > 0) {
    fixed = c->to_int64_vector();
    for (size_t j = 0; j < fixed.size(); ++j) {
      int64_t v = fixed[j];
      if (v < -axis_dim || v >= axis_dim) {
        return invalid_argument("index ", v, " at position ", j, " of 'indices' is out of range for axis ", axis,
                                " of size ", axis_dim);
      }
      if (v < 0) fixed[j] = v + axis_dim;
    }
  }
  return std::unique_ptr<OpKernel>(
      new GatherKernel(outer, axis, axis_dim, static_cast<size_t>(inner) * elem, n_idx, std::move(fixed)));
}

// ---------------------------------------------------------------------------------------------
// Concat and Split

class ConcatKernel final : public OpKernel {
 public:
  ConcatKernel(std::vector<size_t> widths, int64_t outer) : widths_(std::move(widths)), outer_(outer), srcs_(widths_.size()) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    for (size_t i = 0; i < in.size(); ++i) srcs_[i] = in[i].data;
    kernels::concat_blocks(ctx.pool, srcs_.data(), widths_.data(), static_cast<int>(widths_.size()), outer_, out[0].data);
    return Status::ok();
  }

 private:
  std::vector<size_t> widths_;
  int64_t outer_;
  std::vector<const void*> srcs_;  // filled per run; runs of one plan are serialised
};

Result<std::unique_ptr<OpKernel>> create_concat(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_known_outputs(ctx));
  QE_ASSIGN_OR_RETURN(size_t elem, element_bytes(ctx.output(0).dtype));
  const Shape& out = ctx.output(0).shape;
  QE_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().get_int("axis", 0));
  QE_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(axis_attr, static_cast<int64_t>(out.rank())));
  std::vector<size_t> widths;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    const Shape& s = ctx.input(i).shape;
    widths.push_back(static_cast<size_t>(product(s, static_cast<size_t>(axis), s.rank())) * elem);
  }
  return std::unique_ptr<OpKernel>(new ConcatKernel(std::move(widths), product(out, 0, static_cast<size_t>(axis))));
}

class SplitKernel final : public OpKernel {
 public:
  SplitKernel(std::vector<size_t> widths, int64_t outer) : widths_(std::move(widths)), outer_(outer), dsts_(widths_.size()) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    for (size_t i = 0; i < out.size(); ++i) dsts_[i] = out[i].data;
    kernels::split_blocks(ctx.pool, in[0].data, dsts_.data(), widths_.data(), static_cast<int>(widths_.size()), outer_);
    return Status::ok();
  }

 private:
  std::vector<size_t> widths_;
  int64_t outer_;
  std::vector<void*> dsts_;
};

// A scratch buffer for outputs the node leaves unnamed: split_blocks writes every piece.
class SplitWithOmittedKernel final : public OpKernel {
 public:
  SplitWithOmittedKernel(std::vector<size_t> widths, int64_t outer)
      : widths_(std::move(widths)), outer_(outer), dsts_(widths_.size()) {
    for (size_t w : widths_) scratch_bytes_ = std::max(scratch_bytes_, w * static_cast<size_t>(outer_));
  }
  size_t workspace_bytes() const override { return scratch_bytes_; }
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    for (size_t i = 0; i < out.size(); ++i) dsts_[i] = out[i].data ? out[i].data : ctx.workspace;
    kernels::split_blocks(ctx.pool, in[0].data, dsts_.data(), widths_.data(), static_cast<int>(widths_.size()), outer_);
    return Status::ok();
  }

 private:
  std::vector<size_t> widths_;
  int64_t outer_;
  std::vector<void*> dsts_;
  size_t scratch_bytes_ = 0;
};

Result<std::unique_ptr<OpKernel>> create_split(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_known_outputs(ctx));
  QE_ASSIGN_OR_RETURN(size_t elem, element_bytes(ctx.input(0).dtype));
  const Shape& x = ctx.input(0).shape;
  QE_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().get_int("axis", 0));
  QE_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(axis_attr, static_cast<int64_t>(x.rank())));
  size_t a = static_cast<size_t>(axis);
  std::vector<int64_t> split;
  if (ctx.has_input(1)) {
    QE_ASSIGN_OR_RETURN(split, constant_ints(ctx, 1, "split"));
  }
  QE_ASSIGN_OR_RETURN(int64_t num_outputs_attr, ctx.attrs().get_int("num_outputs", 0));
  QE_ASSIGN_OR_RETURN(std::vector<int64_t> sizes,
                      resolve_split(x[a], ctx.num_outputs(), ctx.has_input(1) ? &split : nullptr, num_outputs_attr));
  int64_t inner = product(x, a + 1, x.rank());
  std::vector<size_t> widths;
  bool omitted = false;
  for (int i = 0; i < ctx.num_outputs(); ++i) {
    widths.push_back(static_cast<size_t>(sizes[static_cast<size_t>(i)] * inner) * elem);
    omitted = omitted || ctx.node().outputs[static_cast<size_t>(i)] == kNoValue;
  }
  int64_t outer = product(x, 0, a);
  if (omitted) return std::unique_ptr<OpKernel>(new SplitWithOmittedKernel(std::move(widths), outer));
  return std::unique_ptr<OpKernel>(new SplitKernel(std::move(widths), outer));
}

// ---------------------------------------------------------------------------------------------
// Slice, Pad, Expand: index maps

class AxisMapKernel final : public OpKernel {
 public:
  AxisMapKernel(kernels::AxisMapPlan plan, int fill_input) : plan_(std::move(plan)), fill_input_(fill_input) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    // Pad's constant_value is read per run (it may be computed); zero when absent.
    uint64_t zero = 0;
    const void* fill = &zero;
    if (fill_input_ >= 0 && static_cast<size_t>(fill_input_) < in.size() && in[fill_input_].data &&
        in[fill_input_].numel() > 0) {
      fill = in[fill_input_].data;
    }
    kernels::axis_map_copy(ctx.pool, plan_, in[0].data, out[0].data, fill);
    return Status::ok();
  }

 private:
  kernels::AxisMapPlan plan_;
  int fill_input_;
};

Result<std::unique_ptr<OpKernel>> create_slice(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_known_outputs(ctx));
  QE_ASSIGN_OR_RETURN(size_t elem, element_bytes(ctx.input(0).dtype));
  const Shape& x = ctx.input(0).shape;
  QE_ASSIGN_OR_RETURN(std::vector<int64_t> starts, constant_ints(ctx, 1, "starts"));
  QE_ASSIGN_OR_RETURN(std::vector<int64_t> ends, constant_ints(ctx, 2, "ends"));
  std::vector<int64_t> axes, steps;
  if (ctx.has_input(3)) {
    QE_ASSIGN_OR_RETURN(axes, constant_ints(ctx, 3, "axes"));
  }
  if (ctx.has_input(4)) {
    QE_ASSIGN_OR_RETURN(steps, constant_ints(ctx, 4, "steps"));
  }
  QE_ASSIGN_OR_RETURN(SliceParams p, resolve_slice(x, starts, ends, ctx.has_input(3) ? &axes : nullptr,
                                                   ctx.has_input(4) ? &steps : nullptr));
  std::vector<std::vector<int64_t>> maps(x.rank());
  for (size_t d = 0; d < x.rank(); ++d) {
    maps[d].resize(static_cast<size_t>(p.length[d]));
    for (int64_t i = 0; i < p.length[d]; ++i) maps[d][static_cast<size_t>(i)] = p.start[d] + i * p.step[d];
  }
  if (Shape(p.length) != ctx.output(0).shape) return internal_error("Slice output shape disagrees with its parameters");
  return std::unique_ptr<OpKernel>(new AxisMapKernel(kernels::plan_axis_map(x.dims(), maps, elem), -1));
}

// Source index of output position i (already shifted by the begin pad) along a dim of size n.
int64_t pad_source_index(PadMode mode, int64_t i, int64_t n) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case PadMode::kConstant: return -1;
    case PadMode::kEdge: return i < 0 ? 0 : n - 1;
    case PadMode::kWrap: return ((i % n) + n) % n;
    case PadMode::kReflect: {
      if (n == 1) return 0;
      // Reflection without repeating the edge has period 2(n-1), as numpy pads repeatedly.
      int64_t period = 2 * (n - 1);
      int64_t r = ((i % period) + period) % period;
      return r < n ? r : period - r;
    }
  }
  return -1;
}

Result<std::unique_ptr<OpKernel>> create_pad(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_known_outputs(ctx));
  QE_ASSIGN_OR_RETURN(size_t elem, element_bytes(ctx.input(0).dtype));
  const Shape& x = ctx.input(0).shape;
  QE_ASSIGN_OR_RETURN(PadMode mode, pad_mode_from_attrs(ctx.attrs()));
  QE_ASSIGN_OR_RETURN(std::vector<int64_t> pads, constant_ints(ctx, 1, "pads"));
  std::vector<int64_t> axes;
  if (ctx.has_input(3)) {
    QE_ASSIGN_OR_RETURN(axes, constant_ints(ctx, 3, "axes"));
  }
  QE_ASSIGN_OR_RETURN(PadParams p, resolve_pads(static_cast<int64_t>(x.rank()), pads, ctx.has_input(3) ? &axes : nullptr, mode));
  const Shape& out = ctx.output(0).shape;
  std::vector<std::vector<int64_t>> maps(x.rank());
  for (size_t d = 0; d < x.rank(); ++d) {
    maps[d].resize(static_cast<size_t>(out[d]));
    for (int64_t o = 0; o < out[d]; ++o) maps[d][static_cast<size_t>(o)] = pad_source_index(mode, o - p.begin[d], x[d]);
  }
  return std::unique_ptr<OpKernel>(new AxisMapKernel(kernels::plan_axis_map(x.dims(), maps, elem), 2));
}

Result<std::unique_ptr<OpKernel>> create_expand(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_known_outputs(ctx));
  QE_ASSIGN_OR_RETURN(size_t elem, element_bytes(ctx.input(0).dtype));
  const Shape& x = ctx.input(0).shape;
  const Shape& out = ctx.output(0).shape;
  if (out.rank() < x.rank()) return internal_error("Expand output has a lower rank than its input");
  // The input right-aligned against the output, missing leading dims of size 1.
  std::vector<int64_t> in_dims(out.rank() - x.rank(), 1);
  in_dims.insert(in_dims.end(), x.begin(), x.end());
  std::vector<std::vector<int64_t>> maps(out.rank());
  for (size_t d = 0; d < out.rank(); ++d) {
    maps[d].resize(static_cast<size_t>(out[d]));
    for (int64_t o = 0; o < out[d]; ++o) maps[d][static_cast<size_t>(o)] = in_dims[d] == 1 ? 0 : o;
  }
  return std::unique_ptr<OpKernel>(new AxisMapKernel(kernels::plan_axis_map(in_dims, maps, elem), -1));
}

// ---------------------------------------------------------------------------------------------
// Transpose

class TransposeKernel final : public OpKernel {
 public:
  explicit TransposeKernel(kernels::TransposePlan plan) : plan_(std::move(plan)) {}
  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    kernels::transpose(ctx.pool, plan_, in[0].data, out[0].data);
    return Status::ok();
  }

 private:
  kernels::TransposePlan plan_;
};

Result<kernels::TransposePlan> transpose_plan(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_known_outputs(ctx));
  QE_ASSIGN_OR_RETURN(size_t elem, element_bytes(ctx.input(0).dtype));
  const Shape& x = ctx.input(0).shape;
  QE_ASSIGN_OR_RETURN(std::vector<int64_t> perm, resolve_perm(ctx.attrs(), static_cast<int64_t>(x.rank())));
  return kernels::plan_transpose(x.dims(), perm, elem);
}

// Names the case kernels::transpose runs with AVX2 register tiles: 32-bit or 8-bit elements
// whose innermost output dim is strided in the input.
Result<std::unique_ptr<OpKernel>> create_transpose_avx2(const BindContext& ctx) {
  QE_RETURN_IF_ERROR(require_cpu_level(IsaLevel::kAvx2));
  QE_ASSIGN_OR_RETURN(kernels::TransposePlan p, transpose_plan(ctx));
  if (p.elem != 4 && p.elem != 1) return decline("elements of ", p.elem, " bytes (32-bit and 8-bit only)");
  if (p.out_dims.size() < 2 || p.src_strides.back() == 1) return decline("rows stay contiguous: plain row copies");
  return std::unique_ptr<OpKernel>(new TransposeKernel(std::move(p)));
}

Result<std::unique_ptr<OpKernel>> create_transpose(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(kernels::TransposePlan p, transpose_plan(ctx));
  return std::unique_ptr<OpKernel>(new TransposeKernel(std::move(p)));
}

}  // namespace

void register_data_index_kernels(KernelRegistry& r) {
  r.add(OpKind::kGather, {"gather_blocks", create_gather});
  r.add(OpKind::kConcat, {"concat_blocks", create_concat});
  r.add(OpKind::kSplit, {"split_blocks", create_split});
  r.add(OpKind::kSlice, {"slice_axismap", create_slice});
  r.add(OpKind::kPad, {"pad_axismap", create_pad});
  r.add(OpKind::kExpand, {"expand_axismap", create_expand});
  r.add(OpKind::kTranspose, {"transpose_tiles_avx2", create_transpose_avx2});
  r.add(OpKind::kTranspose, {"transpose_blocked", create_transpose});
}

}  // namespace qe
