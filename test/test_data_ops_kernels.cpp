// The data-movement kernels against their per-element references over shape sweeps: odd
// sizes, size-1 dims, every element size, 1 and 2 threads (kernels/data/*).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/core/thread_pool.h"
#include "kernels/data/axis_map.h"
#include "kernels/data/blocks.h"
#include "engine/core/cpu_features.h"
#include "kernels/data/cast.h"
#include "kernels/data/data_isa.h"
#include "kernels/data/resize.h"
#include "kernels/data/transpose.h"

using namespace qe;
using namespace qe::kernels;

namespace {

std::vector<uint8_t> random_bytes(size_t n, std::mt19937_64& rng) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

std::vector<int64_t> random_dims(std::mt19937_64& rng, size_t rank, int64_t max_dim) {
  std::vector<int64_t> d(rank);
  for (auto& x : d) x = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(max_dim));
  return d;
}

int64_t numel(const std::vector<int64_t>& d) {
  return std::accumulate(d.begin(), d.end(), int64_t{1}, std::multiplies<int64_t>());
}

}  // namespace

TEST_CASE("transpose matches transpose_ref over random permutations, sizes and element sizes") {
  std::mt19937_64 rng(1234);
  ThreadPool pool(2);
  int checked = 0;
  for (int iter = 0; iter < 400; ++iter) {
    size_t rank = 1 + rng() % 5;
    std::vector<int64_t> dims = random_dims(rng, rank, rank <= 2 ? 70 : 13);
    if (iter % 7 == 0) dims[rng() % rank] = 1;
    std::vector<int64_t> perm(rank);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    const size_t elems[] = {1, 2, 4, 8, 3};
    size_t elem = elems[iter % 5];
    size_t bytes = static_cast<size_t>(numel(dims)) * elem;
    auto src = random_bytes(bytes, rng);
    std::vector<uint8_t> want(bytes), got(bytes, 0xCD), got2(bytes, 0xCD);
    TransposePlan p = plan_transpose(dims, perm, elem);
    transpose_ref(p, src.data(), want.data());
    transpose(nullptr, p, src.data(), got.data());
    transpose(&pool, p, src.data(), got2.data());
    INFO("iter " << iter << " rank " << rank << " elem " << elem);
    REQUIRE(got == want);
    REQUIRE(got2 == want);
    ++checked;
  }
  CHECK(checked == 400);
}

TEST_CASE("transpose_ref is the definition: out[i0..] = in[perm-indexed]") {
  // A 2x3x4 float array transposed with perm (2, 0, 1), checked index by index.
  std::vector<float> in(24);
  std::iota(in.begin(), in.end(), 0.f);
  std::vector<float> out(24);
  TransposePlan p = plan_transpose({2, 3, 4}, {2, 0, 1}, 4);
  transpose_ref(p, in.data(), out.data());
  for (int64_t k = 0; k < 4; ++k)
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j) CHECK(out[static_cast<size_t>((k * 2 + i) * 3 + j)] == in[static_cast<size_t>((i * 3 + j) * 4 + k)]);
}

TEST_CASE("large NCHW <-> NHWC transposes, blocked path over 2 threads") {
  std::mt19937_64 rng(7);
  ThreadPool pool(2);
  for (auto dims : {std::vector<int64_t>{1, 64, 56, 56}, std::vector<int64_t>{2, 3, 224, 224},
                    std::vector<int64_t>{1, 56, 56, 64}, std::vector<int64_t>{4, 197, 3, 64}}) {
    for (auto perm : {std::vector<int64_t>{0, 2, 3, 1}, std::vector<int64_t>{0, 3, 1, 2}, std::vector<int64_t>{0, 2, 1, 3}}) {
      size_t bytes = static_cast<size_t>(numel(dims)) * 4;
      auto src = random_bytes(bytes, rng);
      std::vector<uint8_t> want(bytes), got(bytes);
      TransposePlan p = plan_transpose(dims, perm, 4);
      transpose_ref(p, src.data(), want.data());
      transpose(&pool, p, src.data(), got.data());
      CHECK(got == want);
    }
  }
}

TEST_CASE("axis_map_copy matches axis_map_copy_ref over random maps") {
  std::mt19937_64 rng(99);
  ThreadPool pool(2);
  for (int iter = 0; iter < 500; ++iter) {
    size_t rank = 1 + rng() % 4;
    std::vector<int64_t> in_dims = random_dims(rng, rank, rank == 1 ? 300 : 17);
    std::vector<std::vector<int64_t>> maps(rank);
    for (size_t d = 0; d < rank; ++d) {
      int64_t n = in_dims[d];
      std::vector<int64_t>& m = maps[d];
      switch (rng() % 6) {
        case 0:  // identity
          for (int64_t i = 0; i < n; ++i) m.push_back(i);
          break;
        case 1: {  // slice with a step, possibly negative
          int64_t step = static_cast<int64_t>(rng() % 3) + 1;
          bool neg = rng() % 2;
          for (int64_t i = 0; i < n; i += step) m.push_back(neg ? n - 1 - i : i);
          break;
        }
        case 2: {  // constant pad on both sides
          int64_t b = static_cast<int64_t>(rng() % 5), e = static_cast<int64_t>(rng() % 5);
          for (int64_t i = 0; i < b; ++i) m.push_back(-1);
          for (int64_t i = 0; i < n; ++i) m.push_back(i);
          for (int64_t i = 0; i < e; ++i) m.push_back(-1);
          break;
        }
        case 3: {  // edge pad / broadcast-like repeats
          for (int64_t i = 0; i < 6; ++i) m.push_back(0);
          for (int64_t i = 0; i < n; ++i) m.push_back(i);
          for (int64_t i = 0; i < 5; ++i) m.push_back(n - 1);
          break;
        }
        case 4: {  // nearest upsample by 2 and 3
          int64_t f = 2 + static_cast<int64_t>(rng() % 2);
          for (int64_t i = 0; i < n * f; ++i) m.push_back(i / f);
          break;
        }
        default: {  // random gather, some fills
          int64_t len = 1 + static_cast<int64_t>(rng() % 20);
          for (int64_t i = 0; i < len; ++i) m.push_back(rng() % 8 == 0 ? -1 : static_cast<int64_t>(rng() % static_cast<uint64_t>(n)));
        }
      }
    }
    const size_t elems[] = {1, 2, 4, 8, 3};
    size_t elem = elems[iter % 5];
    int64_t out_n = 1;
    for (const auto& m : maps) out_n *= static_cast<int64_t>(m.size());
    auto src = random_bytes(static_cast<size_t>(numel(in_dims)) * elem, rng);
    auto fill = random_bytes(elem, rng);
    std::vector<uint8_t> want(static_cast<size_t>(out_n) * elem), got(want.size(), 0xCD), got2(want.size(), 0xCD);
    axis_map_copy_ref(in_dims, maps, elem, src.data(), want.data(), fill.data());
    AxisMapPlan p = plan_axis_map(in_dims, maps, elem);
    axis_map_copy(nullptr, p, src.data(), got.data(), fill.data());
    axis_map_copy(&pool, p, src.data(), got2.data(), fill.data());
    INFO("iter " << iter << " rank " << rank << " elem " << elem);
    REQUIRE(got == want);
    REQUIRE(got2 == want);
  }
}

TEST_CASE("axis_map plan: a channel slice of NCHW is one memcpy per plane") {
  std::vector<int64_t> in = {2, 8, 5, 7};
  std::vector<std::vector<int64_t>> maps = {{0, 1}, {2, 3, 4}, {0, 1, 2, 3, 4}, {0, 1, 2, 3, 4, 5, 6}};
  AxisMapPlan p = plan_axis_map(in, maps, 4);
  REQUIRE(p.segments.size() == 1);
  CHECK(p.segments[0].kind == AxisMapSegment::kCopy);
  CHECK(p.row_len == 5 * 7);  // H and W merge into one row
  CHECK(p.outer_dims == std::vector<int64_t>{2, 3});
  // A spatial pad: per row a fill, one copy of the input row, a fill.
  AxisMapPlan pad = plan_axis_map({1, 1, 4, 6}, {{0}, {0}, {-1, 0, 1, 2, 3, -1}, {-1, -1, 0, 1, 2, 3, 4, 5, -1}}, 4);
  REQUIRE(pad.segments.size() == 3);
  CHECK(pad.segments[0].kind == AxisMapSegment::kFill);
  CHECK(pad.segments[1].kind == AxisMapSegment::kCopy);
  CHECK(pad.segments[1].len == 6);
  CHECK(pad.segments[2].kind == AxisMapSegment::kFill);
}

TEST_CASE("gather, concat and split blocks against index loops") {
  std::mt19937_64 rng(5);
  ThreadPool pool(2);
  for (int iter = 0; iter < 60; ++iter) {
    int64_t outer = 1 + static_cast<int64_t>(rng() % 40), axis = 1 + static_cast<int64_t>(rng() % 9);
    size_t block = 1 + rng() % 3000;
    auto data = random_bytes(static_cast<size_t>(outer * axis) * block, rng);
    std::vector<int64_t> idx(1 + rng() % 12);
    for (auto& i : idx) i = static_cast<int64_t>(rng() % static_cast<uint64_t>(axis));
    int64_t n = static_cast<int64_t>(idx.size());
    std::vector<uint8_t> got(static_cast<size_t>(outer * n) * block);
    gather_blocks(iter % 2 ? &pool : nullptr, data.data(), outer, axis, block, idx.data(), n, got.data());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < n; ++j)
        REQUIRE(std::memcmp(&got[static_cast<size_t>(o * n + j) * block], &data[static_cast<size_t>(o * axis + idx[static_cast<size_t>(j)]) * block], block) == 0);

    // Concat three pieces of the rows and split them back.
    size_t w[3] = {1 + rng() % 500, rng() % 3, 1 + rng() % 4000};
    size_t total = w[0] + w[1] + w[2];
    std::vector<std::vector<uint8_t>> parts(3);
    const void* srcs[3];
    void* dsts[3];
    std::vector<std::vector<uint8_t>> back(3);
    for (int i = 0; i < 3; ++i) {
      parts[static_cast<size_t>(i)] = random_bytes(w[i] * static_cast<size_t>(outer), rng);
      back[static_cast<size_t>(i)].assign(parts[static_cast<size_t>(i)].size(), 0);
      srcs[i] = parts[static_cast<size_t>(i)].data();
      dsts[i] = back[static_cast<size_t>(i)].data();
    }
    std::vector<uint8_t> cat(total * static_cast<size_t>(outer));
    concat_blocks(&pool, srcs, w, 3, outer, cat.data());
    for (int64_t o = 0; o < outer; ++o) {
      REQUIRE(std::memcmp(&cat[static_cast<size_t>(o) * total + w[0] + w[1]], &parts[2][static_cast<size_t>(o) * w[2]], w[2]) == 0);
    }
    split_blocks(&pool, cat.data(), dsts, w, 3, outer);
    for (int i = 0; i < 3; ++i) REQUIRE(back[static_cast<size_t>(i)] == parts[static_cast<size_t>(i)]);
  }
}

TEST_CASE("cast agrees with element-wise double round trips where exact") {
  const DType types[] = {DType::kF32, DType::kF64, DType::kF16, DType::kBF16, DType::kI64, DType::kI32,  DType::kI16,
                         DType::kI8,  DType::kU64, DType::kU32, DType::kU16,  DType::kU8,  DType::kBool};
  // Small integers are exact in every type (0/1 for bool), so each pair must round trip them.
  std::vector<double> vals = {0, 1, 2, 7, 100, 127, 3, 1, 0, 64};
  ThreadPool pool(2);
  for (DType from : types) {
    for (DType to : types) {
      REQUIRE(cast_supported(from, to));
      int64_t n = static_cast<int64_t>(vals.size());
      std::vector<uint8_t> src(static_cast<size_t>(n) * 8), dst(static_cast<size_t>(n) * 8);
      for (int64_t i = 0; i < n; ++i) write_element_from_double(src.data(), from, i, vals[static_cast<size_t>(i)]);
      cast(&pool, src.data(), from, dst.data(), to, n);
      for (int64_t i = 0; i < n; ++i) {
        double v = read_element_as_double(src.data(), from, i);
        double want = to == DType::kBool ? (v != 0) : v;
        INFO(dtype_name(from) << " -> " << dtype_name(to) << " element " << i);
        CHECK(read_element_as_double(dst.data(), to, i) == want);
      }
    }
  }
  CHECK_FALSE(cast_supported(DType::kI4, DType::kF32));
  CHECK_FALSE(cast_supported(DType::kF32, DType::kString));
}

TEST_CASE("resize: the float 2-D path agrees with the double N-d reference (linear and cubic)") {
  std::mt19937_64 rng(3);
  ThreadPool pool(2);
  for (int iter = 0; iter < 60; ++iter) {
    std::vector<int64_t> in = {1 + static_cast<int64_t>(rng() % 3), 1 + static_cast<int64_t>(rng() % 4),
                               1 + static_cast<int64_t>(rng() % 20), 1 + static_cast<int64_t>(rng() % 20)};
    std::vector<int64_t> out = {in[0], in[1], 1 + static_cast<int64_t>(rng() % 40), 1 + static_cast<int64_t>(rng() % 40)};
    ResizeTapOptions o;
    o.interp = iter % 3 == 2 ? ResizeInterp::kCubic : ResizeInterp::kLinear;
    o.exclude_outside = iter % 5 == 0;
    const ResizeCoord coords[] = {ResizeCoord::kHalfPixel, ResizeCoord::kAlignCorners, ResizeCoord::kAsymmetric,
                                  ResizeCoord::kPytorchHalfPixel};
    o.coord = coords[iter % 4];
    std::vector<ResizeAxisTaps> taps, torch_taps;
    for (size_t d = 0; d < 4; ++d) {
      ResizeAxisSpec s;
      s.in_len = in[d];
      s.out_len = out[d];
      s.scale = static_cast<double>(out[d]) / static_cast<double>(in[d]);
      s.out_length = static_cast<double>(out[d]);
      taps.push_back(resize_axis_taps(s, o));
      ResizeAxisTaps t = taps.back();
      if (d >= 2 && o.interp == ResizeInterp::kLinear) REQUIRE(resize_linear_taps_torch_f32(s, o.coord, &t));
      torch_taps.push_back(std::move(t));
    }
    ResizePlan ref = plan_resize(in, taps);
    ResizePlan fast = plan_resize(in, torch_taps);
    REQUIRE(fast.separable_2d);
    int64_t n_in = numel(in), n_out = numel(out);
    std::vector<float> x(static_cast<size_t>(n_in));
    for (auto& v : x) v = static_cast<float>(static_cast<int64_t>(rng() % 2001) - 1000) / 100.f;
    std::vector<float> want(static_cast<size_t>(n_out)), got(static_cast<size_t>(n_out)), got2(static_cast<size_t>(n_out));
    resize_nd<float>(nullptr, ref, x.data(), want.data(), 0.0);
    resize_2d_f32(nullptr, fast, x.data(), got.data(), 0.f);
    resize_2d_f32(&pool, fast, x.data(), got2.data(), 0.f);
    INFO("iter " << iter);
    REQUIRE(got == got2);
    // The float path forms its coordinates in float (as PyTorch does): a lambda off by a float
    // ulp of the coordinate (< 40) times a step between inputs (< 20).
    for (size_t i = 0; i < got.size(); ++i) REQUIRE(std::fabs(got[i] - want[i]) <= 1e-4);
  }
}

TEST_CASE("AVX2 32-bit and 8-bit transpose micro-kernels match the portable transpose_2d") {
  if (cpu_features().level < IsaLevel::kAvx2) {
    WARN("no AVX2 on this machine: the micro-kernel is not exercised");
    return;
  }
  std::mt19937_64 rng(17);
  for (int iter = 0; iter < 200; ++iter) {
    int64_t rows = 1 + static_cast<int64_t>(rng() % 70), cols = 1 + static_cast<int64_t>(rng() % 70);
    int64_t src_ld = rows + static_cast<int64_t>(rng() % 5), dst_ld = cols + static_cast<int64_t>(rng() % 5);
    std::vector<uint32_t> src(static_cast<size_t>(cols * src_ld));
    for (auto& v : src) v = static_cast<uint32_t>(rng());
    std::vector<uint32_t> want(static_cast<size_t>(rows * dst_ld), 7), got(want.size(), 7);
    transpose_2d(src.data(), src_ld, want.data(), dst_ld, rows, cols, 4);
    transpose_2d_x32_avx2(src.data(), src_ld, got.data(), dst_ld, rows, cols);
    INFO(rows << "x" << cols << " lds " << src_ld << " " << dst_ld);
    REQUIRE(got == want);
    std::vector<uint8_t> src8(src.size());
    for (size_t i = 0; i < src8.size(); ++i) src8[i] = static_cast<uint8_t>(src[i]);
    std::vector<uint8_t> want8(want.size(), 3), got8(want.size(), 3);
    transpose_2d(src8.data(), src_ld, want8.data(), dst_ld, rows, cols, 1);
    transpose_2d_x8_avx2(src8.data(), src_ld, got8.data(), dst_ld, rows, cols);
    REQUIRE(got8 == want8);
  }
}

TEST_CASE("F16C casts match the portable conversion (NaNs stay NaNs)") {
  std::mt19937_64 rng(23);
  // Every half value, and random float bit patterns plus the rounding boundaries.
  std::vector<uint16_t> halves(65536);
  for (size_t i = 0; i < halves.size(); ++i) halves[i] = static_cast<uint16_t>(i);
  std::vector<float> f_fast(halves.size()), f_ref(halves.size());
  cast(nullptr, halves.data(), DType::kF16, f_fast.data(), DType::kF32, 65536);
  cast_ref(halves.data(), DType::kF16, f_ref.data(), DType::kF32, 65536);
  int bad = 0;
  for (size_t i = 0; i < halves.size(); ++i) {
    bool same = std::isnan(f_ref[i]) ? std::isnan(f_fast[i]) : std::memcmp(&f_fast[i], &f_ref[i], 4) == 0;
    bad += !same;
  }
  CHECK(bad == 0);
  std::vector<float> fs(200003);
  for (size_t i = 0; i < fs.size(); ++i) {
    uint32_t bits = static_cast<uint32_t>(rng());
    if (i % 3 == 0) bits = (bits & 0x80001FFFu) | (static_cast<uint32_t>(rng() % 40 + 100) << 23);  // near half's range
    std::memcpy(&fs[i], &bits, 4);
  }
  std::vector<uint16_t> h_fast(fs.size()), h_ref(fs.size());
  ThreadPool pool(2);
  cast(&pool, fs.data(), DType::kF32, h_fast.data(), DType::kF16, static_cast<int64_t>(fs.size()));
  cast_ref(fs.data(), DType::kF32, h_ref.data(), DType::kF16, static_cast<int64_t>(fs.size()));
  bad = 0;
  for (size_t i = 0; i < fs.size(); ++i) {
    bool nan = (h_ref[i] & 0x7C00) == 0x7C00 && (h_ref[i] & 0x3FF);
    bool same = nan ? ((h_fast[i] & 0x7C00) == 0x7C00 && (h_fast[i] & 0x3FF)) : h_fast[i] == h_ref[i];
    if (!same && bad++ < 3) UNSCOPED_INFO("float bits " << std::hex << *reinterpret_cast<uint32_t*>(&fs[i]) << " fast " << h_fast[i] << " ref " << h_ref[i]);
  }
  CHECK(bad == 0);
}
