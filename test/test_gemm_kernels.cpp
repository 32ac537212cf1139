// Packed GEMM fast paths (every microkernel family this CPU can run) against gemm_f32_ref over
// shape sweeps: odd M/N/K, tails of MR/NR, K across the K block, transposes, prepacked and
// runtime-packed operands, every epilogue, 1 and 2 threads.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "engine/core/cpu_features.h"
#include "engine/core/tensor.h"
#include "engine/core/thread_pool.h"
#include "kernels/gemm/gemm_f32.h"
#include "support/op_test_support.h"
#include "support/test_support.h"

using namespace qe;
using namespace qe::kernels;
using namespace qe::test;

namespace {

struct Case {
  int64_t M, N, K;
  bool trans_a, trans_b;
  float alpha;
  bool prepack_a, prepack_b;
  bool row_bias, col_bias, accumulate;
  Activation act;
};

void run_case(const GemmF32Config& cfg, const Case& c, int threads) {
  Tensor a = test::random_tensor(c.trans_a ? Shape{c.K, c.M} : Shape{c.M, c.K}, 1 + c.M * 7 + c.K);
  Tensor b = test::random_tensor(c.trans_b ? Shape{c.N, c.K} : Shape{c.K, c.N}, 2 + c.N * 13 + c.K);
  Tensor rb = test::random_tensor(Shape{c.M}, 3);
  Tensor cb = test::random_tensor(Shape{c.N}, 4);
  Tensor c0 = test::random_tensor(Shape{c.M, c.N}, 5);
  int64_t lda = c.trans_a ? c.M : c.K, ldb = c.trans_b ? c.K : c.N;

  GemmEpilogue ep;
  ep.row_bias = c.row_bias ? rb.data<float>() : nullptr;
  ep.col_bias = c.col_bias ? cb.data<float>() : nullptr;
  ep.accumulate = c.accumulate;
  ep.act = c.act;

  Tensor want = c0.clone();
  GemmF32Args r;
  r.M = c.M;
  r.N = c.N;
  r.K = c.K;
  r.A = a.data<float>();
  r.lda = lda;
  r.trans_a = c.trans_a;
  r.B = b.data<float>();
  r.ldb = ldb;
  r.trans_b = c.trans_b;
  r.C = want.data<float>();
  r.ldc = c.N;
  r.alpha = c.alpha;
  r.ep = ep;
  gemm_f32_ref(r);

  Tensor got = c0.clone();
  ThreadPool pool(threads);
  GemmTiling t = plan_gemm_tiling(cfg, c.M, c.N, c.K, 1, threads);
  std::vector<float> a_packed, b_packed;
  PackedGemm g;
  g.cfg = &cfg;
  g.M = c.M;
  g.N = c.N;
  g.K = c.K;
  // alpha goes into one operand: the prepacked A if any, else B.
  MatrixPacker a_packer(a.data<float>(), lda, c.trans_a);
  MatrixPacker b_packer(b.data<float>(), ldb, !c.trans_b, 0, c.prepack_a ? 1.f : c.alpha);
  if (c.prepack_a) {
    a_packed.resize(static_cast<size_t>(packed_size(c.M, c.K, cfg.mr)));
    pack_operand(a.data<float>(), lda, c.trans_a, c.M, c.K, cfg.mr, t.kc, c.alpha, a_packed.data());
    g.a_packed = a_packed.data();
  } else {
    g.a_packer = &a_packer;
  }
  if (c.prepack_b) {
    b_packed.resize(static_cast<size_t>(packed_size(c.N, c.K, cfg.nr)));
    pack_operand(b.data<float>(), ldb, !c.trans_b, c.N, c.K, cfg.nr, t.kc, c.prepack_a ? 1.f : c.alpha,
                 b_packed.data());
    g.b_packed = b_packed.data();
  } else {
    g.b_packer = &b_packer;
  }
  g.c = got.data<float>();
  g.ldc = c.N;
  g.ep = ep;
  int64_t per = gemm_tile_scratch_floats(t, !c.prepack_a, !c.prepack_b);
  std::vector<float> scratch(static_cast<size_t>(per * threads + 1));
  gemm_f32_run(pool, g, t, scratch.data(), per, threads);

  std::string what = std::string(cfg.name) + " M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) +
                     " K=" + std::to_string(c.K) + " tA=" + std::to_string(c.trans_a) +
                     " tB=" + std::to_string(c.trans_b) + " threads=" + std::to_string(threads);
  check_close_k(got.data<float>(), want.data<float>(), c.M * c.N, c.K, what);
}

}  // namespace

TEST_CASE("at least one SIMD GEMM family runs on x86-64 machines with AVX2") {
  if (cpu_features().level >= IsaLevel::kAvx2) CHECK(!available_gemm_configs().empty());
  CHECK(gemm_f32_config(IsaLevel::kScalar) == nullptr);
}

TEST_CASE("packed GEMM matches the reference over shape sweeps") {
  for (const GemmF32Config* cfg : available_gemm_configs()) {
    for (int64_t M : {1, 3, 8, 13, 33}) {
      for (int64_t N : {1, 7, 24, 47, 49, 100}) {
        for (int64_t K : {1, 5, 64, 257, 641, 1500}) {
          for (int threads : {1, 2}) {
            Case c{M, N, K, false, false, 1.f, true, false, false, false, false, {}};
            run_case(*cfg, c, threads);
          }
        }
      }
    }
  }
}

TEST_CASE("packed GEMM: transposes, alpha and which operand is prepacked") {
  for (const GemmF32Config* cfg : available_gemm_configs()) {
    for (int variant = 0; variant < 16; ++variant) {
      bool ta = variant & 1, tb = variant & 2, pa = variant & 4, pb = variant & 8;
      for (auto [M, N, K] : {std::tuple<int64_t, int64_t, int64_t>{9, 50, 300}, {17, 3, 31}, {2, 130, 600}}) {
        Case c{M, N, K, ta, tb, 0.75f, pa, pb, false, false, false, {}};
        run_case(*cfg, c, 2);
      }
    }
  }
}

TEST_CASE("packed GEMM epilogues: biases, accumulate, every fused activation") {
  std::vector<Activation> acts = {
      {ActKind::kNone, 0, 0},       {ActKind::kRelu, 0, 0},     {ActKind::kClip, -0.5f, 0.7f},
      {ActKind::kLeakyRelu, 0.1f, 0}, {ActKind::kHardSigmoid, 0.2f, 0.5f}, {ActKind::kHardSwish, 0, 0},
      {ActKind::kSigmoid, 0, 0},
  };
  for (const GemmF32Config* cfg : available_gemm_configs()) {
    for (const Activation& act : acts) {
      for (int ep = 0; ep < 8; ++ep) {
        for (auto [M, N, K] : {std::tuple<int64_t, int64_t, int64_t>{11, 61, 290}, {8, 48, 16}, {1, 5, 3}}) {
          Case c{M, N, K, false, false, 1.f, true, false, bool(ep & 1), bool(ep & 2), bool(ep & 4), act};
          run_case(*cfg, c, 1 + (ep & 1));
        }
      }
    }
  }
}

TEST_CASE("packed GEMM with K = 0 only applies the epilogue") {
  for (const GemmF32Config* cfg : available_gemm_configs()) {
    Case c{5, 9, 0, false, false, 1.f, false, false, true, true, true, {ActKind::kRelu, 0, 0}};
    run_case(*cfg, c, 2);
  }
}

TEST_CASE("tiling gives every thread work and covers the problem") {
  for (const GemmF32Config* cfg : available_gemm_configs()) {
    GemmTiling t = plan_gemm_tiling(*cfg, 512, 49, 4608, 1, 2);
    CHECK(t.tasks() >= 4);
    CHECK(t.kc * 8 >= 4608);
    t = plan_gemm_tiling(*cfg, 64, 12544, 147, 1, 2);
    CHECK(t.tasks() >= 8);
    CHECK(t.mc >= 64);  // large N is split along N, not M
    CHECK(t.kc == 147);
    for (int64_t M : {1, 9, 100, 1000}) {
      for (int64_t N : {1, 47, 500, 5000}) {
        t = plan_gemm_tiling(*cfg, M, N, 300, 1, 2);
        CHECK(t.mc % cfg->mr == 0);
        CHECK(t.nc % cfg->nr == 0);
        CHECK(t.tiles_m * t.mc >= M);
        CHECK((t.tiles_m - 1) * t.mc < M);
        CHECK(t.tiles_n * t.nc >= N);
        CHECK((t.tiles_n - 1) * t.nc < N);
      }
    }
  }
}

TEST_CASE("packed GEMM with B read in place (full panels direct, the tail packed)") {
  for (const GemmF32Config* cfg : available_gemm_configs()) {
    for (int64_t N : {1, 47, 48, 49, 100, 200}) {
      for (int64_t K : {3, 64, 700}) {
        for (int threads : {1, 2}) {
          const int64_t M = 19;
          Tensor a = test::random_tensor(Shape{M, K}, 1);
          Tensor b = test::random_tensor(Shape{K, N}, 2);
          Tensor bias = test::random_tensor(Shape{M}, 3);
          Tensor want(DType::kF32, Shape{M, N}), got(DType::kF32, Shape{M, N});
          GemmF32Args r;
          r.M = M;
          r.N = N;
          r.K = K;
          r.A = a.data<float>();
          r.lda = K;
          r.B = b.data<float>();
          r.ldb = N;
          r.C = want.data<float>();
          r.ldc = N;
          r.ep.row_bias = bias.data<float>();
          r.ep.act.kind = ActKind::kRelu;
          gemm_f32_ref(r);
          GemmTiling t = plan_gemm_tiling(*cfg, M, N, K, 1, threads);
          MatrixPacker a_packer(a.data<float>(), K, false);
          PackedGemm g;
          g.cfg = cfg;
          g.M = M;
          g.N = N;
          g.K = K;
          g.a_packer = &a_packer;
          g.b_direct = b.data<float>();
          g.ldb = N;
          g.c = got.data<float>();
          g.ldc = N;
          g.ep = r.ep;
          int64_t per = gemm_tile_scratch_floats(t, true, true);
          std::vector<float> scratch(static_cast<size_t>(per * threads + 1));
          ThreadPool pool(threads);
          gemm_f32_run(pool, g, t, scratch.data(), per, threads);
          check_close_k(got.data<float>(), want.data<float>(), M * N, K,
                      std::string(cfg->name) + " direct B N=" + std::to_string(N) + " K=" + std::to_string(K));
        }
      }
    }
  }
}
