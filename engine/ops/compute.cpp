// Gemm and MatMul bindings, and the compute family's registration. Candidates, best first:
//   Gemm:   gemm_f32_<MRxNR>_<isa> (constant operand prepacked, alpha folded in), gemm_f32_ref
//   MatMul: matmul_f32_<MRxNR>_<isa> (batch folded into M when B is shared), matmul_f32_ref
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "engine/core/thread_pool.h"
#include "engine/ops/compute_common.h"
#include "engine/ops/fused_activation.h"

namespace qe {

namespace {

using kernels::GemmF32Config;

// ---------------------------------------------------------------------------------------------
// Gemm: Y = act(alpha * op(A) op(B) + beta * C).

struct GemmSetup {
  int64_t M = 0, N = 0, K = 0;
  bool trans_a = false, trans_b = false;
  float alpha = 1.f, beta = 1.f;
  bool has_c = false;
  Shape c_shape;
  kernels::Activation act;
};

Result<GemmSetup> gemm_setup(const BindContext& ctx) {
  GemmSetup s;
  QE_ASSIGN_OR_RETURN(int64_t ta, ctx.attrs().get_int("transA", 0));
  QE_ASSIGN_OR_RETURN(int64_t tb, ctx.attrs().get_int("transB", 0));
  QE_ASSIGN_OR_RETURN(s.alpha, ctx.attrs().get_float("alpha", 1.f));
  QE_ASSIGN_OR_RETURN(s.beta, ctx.attrs().get_float("beta", 1.f));
  QE_ASSIGN_OR_RETURN(s.act, read_fused_activation(ctx.attrs()));
  s.trans_a = ta != 0;
  s.trans_b = tb != 0;
  const Shape& a = ctx.input(0).shape;
  const Shape& b = ctx.input(1).shape;
  s.M = s.trans_a ? a[1] : a[0];
  s.K = s.trans_a ? a[0] : a[1];
  s.N = s.trans_b ? b[0] : b[1];
  s.has_c = ctx.has_input(2) && s.beta != 0.f;
  if (s.has_c) s.c_shape = ctx.input(2).shape;
  return s;
}

// Y = beta * C broadcast to [M, N] (C has rank <= 2, unidirectionally broadcastable).
void prefill_broadcast_c(const float* c, const Shape& cs, float beta, float* y, int64_t M, int64_t N) {
  int64_t cm = cs.rank() == 2 ? cs[0] : 1;
  int64_t cn = cs.rank() >= 1 ? cs[cs.rank() - 1] : 1;
  for (int64_t m = 0; m < M; ++m) {
    const float* row = c + (cm == 1 ? 0 : m) * cn;
    for (int64_t n = 0; n < N; ++n) y[m * N + n] = beta * row[cn == 1 ? 0 : n];
  }
}

class GemmRefKernel final : public OpKernel {
 public:
  explicit GemmRefKernel(GemmSetup s) : s_(std::move(s)) {}
  Status run(const RunContext&, std::span<const TensorView> in, std::span<const TensorView> out) override {
    kernels::GemmF32Args g;
    g.M = s_.M;
    g.N = s_.N;
    g.K = s_.K;
    g.A = in[0].as<const float>();
    g.lda = in[0].shape[1];
    g.trans_a = s_.trans_a;
    g.B = in[1].as<const float>();
    g.ldb = in[1].shape[1];
    g.trans_b = s_.trans_b;
    g.C = out[0].as<float>();
    g.ldc = s_.N;
    g.alpha = s_.alpha;
    g.ep.act = s_.act;
    if (s_.has_c) {
      prefill_broadcast_c(in[2].as<const float>(), s_.c_shape, s_.beta, g.C, s_.M, s_.N);
      g.ep.accumulate = true;
    }
    kernels::gemm_f32_ref(g);
    return Status::ok();
  }

 private:
  GemmSetup s_;
};

Result<std::unique_ptr<OpKernel>> create_gemm_ref(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(GemmSetup s, gemm_setup(ctx));
  return std::unique_ptr<OpKernel>(std::make_unique<GemmRefKernel>(std::move(s)));
}

class GemmFastKernel final : public OpKernel {
 public:
  GemmFastKernel(const GemmF32Config* cfg, GemmSetup s, int threads) : cfg_(cfg), s_(std::move(s)) {
    ws_.slots = threads;
    tiling_ = kernels::plan_gemm_tiling(*cfg, s_.M, s_.N, s_.K, 1, threads);
  }

  // op(A) is row-major by M unless transposed; op(B) is k-major unless transposed.
  void prepack_a(const float* a, int64_t lda) {
    a_packed_ = AlignedBuffer(static_cast<size_t>(kernels::packed_size(s_.M, s_.K, cfg_->mr)) * sizeof(float));
    kernels::pack_operand(a, lda, s_.trans_a, s_.M, s_.K, cfg_->mr, tiling_.kc, s_.alpha,
                          static_cast<float*>(a_packed_.data()));
  }
  void prepack_b(const float* b, int64_t ldb) {
    b_packed_ = AlignedBuffer(static_cast<size_t>(kernels::packed_size(s_.N, s_.K, cfg_->nr)) * sizeof(float));
    kernels::pack_operand(b, ldb, !s_.trans_b, s_.N, s_.K, cfg_->nr, tiling_.kc, s_.alpha,
                          static_cast<float*>(b_packed_.data()));
  }
  // A constant C that is a row or a column (or a scalar) becomes a bias vector with beta folded.
  void fold_c(const Tensor& c) {
    const Shape& cs = s_.c_shape;
    int64_t cm = cs.rank() == 2 ? cs[0] : 1;
    int64_t cn = cs.rank() >= 1 ? cs[cs.rank() - 1] : 1;
    if (cm != 1 && cn != 1) return;  // a full matrix: prefilled at run time
    const float* src = c.data<float>();
    bool per_row = cm != 1;
    int64_t len = per_row ? s_.M : s_.N;
    bias_.resize(static_cast<size_t>(len));
    for (int64_t i = 0; i < len; ++i) bias_[static_cast<size_t>(i)] = s_.beta * src[(per_row ? cm : cn) == 1 ? 0 : i];
    bias_per_row_ = per_row;
  }
  void finish_setup() {
    ws_.floats_per_slot =
        kernels::gemm_tile_scratch_floats(tiling_, a_packed_.data() == nullptr, b_packed_.data() == nullptr);
  }
  size_t workspace_bytes() const override { return ws_.bytes(); }

  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    float* y = out[0].as<float>();
    kernels::PackedGemm g;
    g.cfg = cfg_;
    g.M = s_.M;
    g.N = s_.N;
    g.K = s_.K;
    // alpha lives in the prepacked operand, else in the runtime-packed A.
    kernels::MatrixPacker a_packer(in[0].as<const float>(), in[0].shape[1], s_.trans_a, 0,
                                   b_packed_.data() ? 1.f : s_.alpha);
    kernels::MatrixPacker b_packer(in[1].as<const float>(), in[1].shape[1], !s_.trans_b);
    g.a_packed = static_cast<const float*>(a_packed_.data());
    g.a_packer = &a_packer;
    g.b_packed = static_cast<const float*>(b_packed_.data());
    g.b_packer = &b_packer;
    g.c = y;
    g.ldc = s_.N;
    g.ep.act = s_.act;
    if (!bias_.empty()) {
      (bias_per_row_ ? g.ep.row_bias : g.ep.col_bias) = bias_.data();
    } else if (s_.has_c) {
      prefill_broadcast_c(in[2].as<const float>(), s_.c_shape, s_.beta, y, s_.M, s_.N);
      g.ep.accumulate = true;
    }
    kernels::gemm_f32_run(*ctx.pool, g, tiling_, static_cast<float*>(ctx.workspace), ws_.stride(), ws_.slots);
    return Status::ok();
  }

 private:
  const GemmF32Config* cfg_;
  GemmSetup s_;
  kernels::GemmTiling tiling_;
  AlignedBuffer a_packed_, b_packed_;
  std::vector<float> bias_;
  bool bias_per_row_ = false;
  GemmWorkspace ws_;
};

template <IsaLevel L>
Result<std::unique_ptr<OpKernel>> create_gemm_fast(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(const GemmF32Config* cfg, gemm_config_for(L));
  QE_ASSIGN_OR_RETURN(GemmSetup s, gemm_setup(ctx));
  auto k = std::make_unique<GemmFastKernel>(cfg, s, threads_for_work(s.M * s.N * s.K, ctx.num_threads()));
  // Prefer prepacking B (the weights of a fully connected layer); alpha goes into the packed
  // operand, or into the runtime-packed A when nothing is constant.
  if (const Tensor* b = ctx.constant_input(1)) {
    k->prepack_b(b->data<float>(), ctx.input(1).shape[1]);
  } else if (const Tensor* a = ctx.constant_input(0)) {
    k->prepack_a(a->data<float>(), ctx.input(0).shape[1]);
  }
  if (s.has_c) {
    if (const Tensor* c = ctx.constant_input(2)) k->fold_c(*c);
  }
  k->finish_setup();
  return std::unique_ptr<OpKernel>(std::move(k));
}

// ---------------------------------------------------------------------------------------------
// MatMul with numpy semantics: batch dims broadcast, 1-D operands promoted and squeezed.

struct MatMulSetup {
  int64_t M = 0, N = 0, K = 0;
  int64_t items = 1;                          // product of the output batch dims
  std::vector<int64_t> a_offset, b_offset;    // per item, in floats
  bool fold_batch = false;                    // B shared and A contiguous: one GEMM of items*M rows
  kernels::Activation act;
};

Result<MatMulSetup> matmul_setup(const BindContext& ctx) {
  MatMulSetup s;
  QE_ASSIGN_OR_RETURN(s.act, read_fused_activation(ctx.attrs()));
  Shape a = ctx.input(0).shape;
  Shape b = ctx.input(1).shape;
  if (a.rank() == 1) a = Shape{1, a[0]};
  if (b.rank() == 1) b = Shape{b[0], 1};
  s.M = a[a.rank() - 2];
  s.K = a[a.rank() - 1];
  s.N = b[b.rank() - 1];
  size_t ra = a.rank() - 2, rb = b.rank() - 2;
  size_t rank = std::max(ra, rb);
  std::vector<int64_t> out(rank), sa(rank, 0), sb(rank, 0);
  int64_t stride_a = s.M * s.K, stride_b = s.K * s.N;
  for (size_t i = rank; i-- > 0;) {
    int64_t da = i + ra >= rank ? a[i + ra - rank] : 1;
    int64_t db = i + rb >= rank ? b[i + rb - rank] : 1;
    out[i] = da == 1 ? db : da;  // 1 broadcasts to anything, 0 included (max() got [1] × [0] wrong)
    sa[i] = da == 1 ? 0 : stride_a;
    sb[i] = db == 1 ? 0 : stride_b;
    stride_a *= da;
    stride_b *= db;
  }
  for (int64_t d : out) s.items *= d;
  s.a_offset.resize(static_cast<size_t>(s.items));
  s.b_offset.resize(static_cast<size_t>(s.items));
  std::vector<int64_t> idx(rank, 0);
  bool b_shared = true, a_contiguous = true;
  for (int64_t it = 0; it < s.items; ++it) {
    int64_t oa = 0, ob = 0;
    for (size_t i = 0; i < rank; ++i) {
      oa += idx[i] * sa[i];
      ob += idx[i] * sb[i];
    }
    s.a_offset[static_cast<size_t>(it)] = oa;
    s.b_offset[static_cast<size_t>(it)] = ob;
    b_shared = b_shared && ob == 0;
    a_contiguous = a_contiguous && oa == it * s.M * s.K;
    for (size_t i = rank; i-- > 0;) {
      if (++idx[i] < out[i]) break;
      idx[i] = 0;
    }
  }
  s.fold_batch = b_shared && a_contiguous;
  return s;
}

class MatMulRefKernel final : public OpKernel {
 public:
  explicit MatMulRefKernel(MatMulSetup s) : s_(std::move(s)) {}
  Status run(const RunContext&, std::span<const TensorView> in, std::span<const TensorView> out) override {
    for (int64_t it = 0; it < s_.items; ++it) {
      kernels::GemmF32Args g;
      g.M = s_.M;
      g.N = s_.N;
      g.K = s_.K;
      g.A = in[0].as<const float>() + s_.a_offset[static_cast<size_t>(it)];
      g.lda = s_.K;
      g.B = in[1].as<const float>() + s_.b_offset[static_cast<size_t>(it)];
      g.ldb = s_.N;
      g.C = out[0].as<float>() + it * s_.M * s_.N;
      g.ldc = s_.N;
      g.ep.act = s_.act;
      kernels::gemm_f32_ref(g);
    }
    return Status::ok();
  }

 private:
  MatMulSetup s_;
};

Result<std::unique_ptr<OpKernel>> create_matmul_ref(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(MatMulSetup s, matmul_setup(ctx));
  return std::unique_ptr<OpKernel>(std::make_unique<MatMulRefKernel>(std::move(s)));
}

// Operand matrices of a batched MatMul, item i at a precomputed (broadcast) offset.
class OffsetPacker final : public kernels::PanelPacker {
 public:
  OffsetPacker(const float* x, int64_t ldx, bool k_major, const std::vector<int64_t>& offsets)
      : x_(x), ldx_(ldx), k_major_(k_major), offsets_(offsets) {}
  void pack(int64_t item, int64_t k0, int64_t kc, int64_t r0, int64_t rc, int width, float* dst) const override {
    kernels::pack_panels(x_ + offsets_[static_cast<size_t>(item)], ldx_, k_major_, r0, rc, k0, kc, width, 1.f, dst);
  }

 private:
  const float* x_;
  int64_t ldx_;
  bool k_major_;
  const std::vector<int64_t>& offsets_;
};

class MatMulFastKernel final : public OpKernel {
 public:
  MatMulFastKernel(const GemmF32Config* cfg, MatMulSetup s, int threads) : cfg_(cfg), s_(std::move(s)) {
    ws_.slots = threads;
    gemm_m_ = s_.fold_batch ? s_.items * s_.M : s_.M;
    gemm_items_ = s_.fold_batch ? 1 : s_.items;
    tiling_ = kernels::plan_gemm_tiling(*cfg, gemm_m_, s_.N, s_.K, gemm_items_, threads);
  }
  void prepack_b(const float* b) {
    b_packed_ = AlignedBuffer(static_cast<size_t>(kernels::packed_size(s_.N, s_.K, cfg_->nr)) * sizeof(float));
    kernels::pack_operand(b, s_.N, true, s_.N, s_.K, cfg_->nr, tiling_.kc, 1.f, static_cast<float*>(b_packed_.data()));
  }
  bool can_prepack_b() const { return s_.fold_batch; }
  void finish_setup() {
    ws_.floats_per_slot = kernels::gemm_tile_scratch_floats(tiling_, true, b_packed_.data() == nullptr);
  }
  size_t workspace_bytes() const override { return ws_.bytes(); }

  Status run(const RunContext& ctx, std::span<const TensorView> in, std::span<const TensorView> out) override {
    const float* a = in[0].as<const float>();
    float* y = out[0].as<float>();
    OffsetPacker a_packer(a, s_.K, false, s_.a_offset);
    const float* b = in[1].as<const float>();
    OffsetPacker b_packer(b, s_.N, true, s_.b_offset);
    const float* b_packed = static_cast<const float*>(b_packed_.data());
    auto get = [&](int64_t item, kernels::PackedGemm& g) {
      g.cfg = cfg_;
      g.M = gemm_m_;
      g.N = s_.N;
      g.K = s_.K;
      g.a_packer = &a_packer;
      g.a_item = item;
      g.b_packed = b_packed;
      g.b_direct = b_packed ? nullptr : b + s_.b_offset[static_cast<size_t>(item)];
      g.ldb = s_.N;
      g.b_packer = &b_packer;
      g.b_item = item;
      g.c = y + item * s_.M * s_.N;
      g.ldc = s_.N;
      g.ep.act = s_.act;
    };
    kernels::gemm_f32_batched(*ctx.pool, tiling_, gemm_items_, get, static_cast<float*>(ctx.workspace), ws_.stride(),
                              ws_.slots);
    return Status::ok();
  }

 private:
  const GemmF32Config* cfg_;
  MatMulSetup s_;
  int64_t gemm_m_ = 0, gemm_items_ = 0;
  kernels::GemmTiling tiling_;
  AlignedBuffer b_packed_;
  GemmWorkspace ws_;
};

template <IsaLevel L>
Result<std::unique_ptr<OpKernel>> create_matmul_fast(const BindContext& ctx) {
  QE_ASSIGN_OR_RETURN(const GemmF32Config* cfg, gemm_config_for(L));
  QE_ASSIGN_OR_RETURN(MatMulSetup s, matmul_setup(ctx));
  const int threads = threads_for_work(s.items * s.M * s.N * s.K, ctx.num_threads());
  auto k = std::make_unique<MatMulFastKernel>(cfg, std::move(s), threads);
  if (const Tensor* b = ctx.constant_input(1); b && k->can_prepack_b()) k->prepack_b(b->data<float>());
  k->finish_setup();
  return std::unique_ptr<OpKernel>(std::move(k));
}

}  // namespace

void register_compute_kernels(KernelRegistry& r) {
  register_conv_kernels(r);
  r.add(OpKind::kGemm, {"gemm_f32_8x48_avx512", &create_gemm_fast<IsaLevel::kAvx512>});
  r.add(OpKind::kGemm, {"gemm_f32_4x16_avx2", &create_gemm_fast<IsaLevel::kAvx2>});
  r.add(OpKind::kGemm, {"gemm_f32_ref", &create_gemm_ref});
  r.add(OpKind::kMatMul, {"matmul_f32_8x48_avx512", &create_matmul_fast<IsaLevel::kAvx512>});
  r.add(OpKind::kMatMul, {"matmul_f32_4x16_avx2", &create_matmul_fast<IsaLevel::kAvx2>});
  r.add(OpKind::kMatMul, {"matmul_f32_ref", &create_matmul_ref});
}

}  // namespace qe
