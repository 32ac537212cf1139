// Integer pooling, elementwise Add/Mul and lookup tables against their scalar references, bit
// for bit: max / average pools over geometry sweeps (1-D to 3-D, strides, dilations, paddings,
// ceil-mode end windows, count_include_pad both ways), global average pool, Add/Mul at every
// ISA level with tails, per-plane broadcast, ties and fused clamps, and the LUT builders and
// apply — at 1 and 2 threads where the kernel takes a plane range.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/core/cpu_features.h"
#include "engine/core/thread_pool.h"
#include "kernels/int8/qadd.h"
#include "kernels/int8/qlut.h"
#include "kernels/int8/qpool.h"
#include "kernels/int8/quantize_act.h"
#include "kernels/quant/fake_quant.h"
#include "support/int8_test_support.h"

using namespace qe;
using namespace qe::kernels;
using namespace qe::test;

namespace {

std::vector<uint8_t> random_bytes(std::mt19937_64& rng, int64_t n) {
  std::vector<uint8_t> v(static_cast<size_t>(n));
  for (auto& b : v) b = static_cast<uint8_t>(rnd(rng, 0, 255));
  return v;
}

// A random pooling geometry; false when no output exists.
bool random_pool(std::mt19937_64& rng, PoolParams& p) {
  const int rank = rnd(rng, 1, 6) == 1 ? 3 : (rnd(rng, 0, 4) == 0 ? 1 : 2);
  p = PoolParams{};
  p.planes = rnd(rng, 1, 9);
  for (int a = 3 - rank; a < 3; ++a) {
    p.in[a] = rnd(rng, 1, rank == 3 ? 7 : 19);
    p.kernel[a] = rnd(rng, 1, 5);
    p.stride[a] = rnd(rng, 1, 3);
    p.dilation[a] = rnd(rng, 0, 4) == 0 ? 2 : 1;
    p.pad[a] = rnd(rng, 0, static_cast<int>(p.kernel[a]) - 1);
    p.pad_end[a] = rnd(rng, 0, static_cast<int>(p.kernel[a]) - 1);
    const int64_t span = (p.kernel[a] - 1) * p.dilation[a] + 1;
    const int64_t padded = p.in[a] + p.pad[a] + p.pad_end[a];
    if (padded < span) return false;
    p.out[a] = (padded - span) / p.stride[a] + 1;
    // ceil_mode: one more window that starts inside the input or left padding.
    if (rnd(rng, 0, 3) == 0 && (p.out[a]) * p.stride[a] < p.in[a] + p.pad[a]) ++p.out[a];
  }
  p.count_include_pad = rnd(rng, 0, 1) == 1;
  return true;
}

RequantOutput random_out(std::mt19937_64& rng, bool s) {
  RequantOutput o;
  o.qmin = s ? -128 : 0;
  o.qmax = s ? 127 : 255;
  o.zero_point = rnd(rng, o.qmin, o.qmax);
  if (rnd(rng, 0, 3) == 0) o.qmin = o.zero_point;  // fused Relu
  return o;
}

void require_same(const std::vector<uint8_t>& got, const std::vector<uint8_t>& want, const std::string& what) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) FAIL(what << ": element " << i << " is " << int(got[i]) << ", expected " << int(want[i]));
  }
}

}  // namespace

TEST_CASE("qmax_pool equals the reference; padding never wins") {
  std::mt19937_64 rng(31);
  int checked = 0;
  for (int round = 0; round < 400; ++round) {
    PoolParams p;
    if (!random_pool(rng, p)) continue;
    const bool s = rnd(rng, 0, 1) == 1;
    // Low values make a padded 0 (or -128) a tempting winner if padding leaked in.
    std::vector<uint8_t> x = random_bytes(rng, p.planes * p.in_size());
    if (round % 3 == 0) {
      for (auto& v : x) v = static_cast<uint8_t>(s ? 0x80 + rnd(rng, 0, 3) : rnd(rng, 0, 3));
    }
    std::vector<uint8_t> want(static_cast<size_t>(p.planes * p.out_size())), got(want.size());
    qmax_pool_ref(p, s, x.data(), want.data(), 0, p.planes);
    for (IsaLevel level : all_levels()) {
      for (int threads : {1, 2}) {
        std::fill(got.begin(), got.end(), 0x5A);
        pool_for_planes(&pool_of(threads), p.planes, 1,
                        [&](int64_t b, int64_t e) { qmax_pool(p, s, x.data(), got.data(), b, e, level); });
        require_same(got, want, std::string("max pool ") + isa_level_name(level) + " threads " + std::to_string(threads));
      }
    }
    ++checked;
  }
  CHECK(checked > 200);
}

TEST_CASE("qmax_pool with W stride 2 on wide rows (the vector even/odd split) equals the reference") {
  std::mt19937_64 rng(32);
  for (int round = 0; round < 120; ++round) {
    PoolParams p;
    p.planes = rnd(rng, 1, 4);
    p.in[1] = rnd(rng, 1, 9);
    // Several 32- and 64-byte blocks plus a tail, odd and even widths; past 128 bytes (two
    // 64-byte vectors of the AVX-512 form) every few rounds.
    // Rows past 2048 bytes exceed the AVX-512 form's stack buffer and take the portable form.
    p.in[2] = round % 20 == 19 ? rnd(rng, 2040, 2100) : round % 4 == 3 ? rnd(rng, 120, 300) : rnd(rng, 30, 130);
    for (int a = 1; a < 3; ++a) {
      p.kernel[a] = rnd(rng, 1, 4);
      p.stride[a] = a == 2 ? 2 : rnd(rng, 1, 2);
      p.dilation[a] = rnd(rng, 0, 3) == 0 ? 2 : 1;
      p.pad[a] = rnd(rng, 0, static_cast<int>(p.kernel[a]) - 1);
      p.pad_end[a] = rnd(rng, 0, static_cast<int>(p.kernel[a]) - 1);
      const int64_t span = (p.kernel[a] - 1) * p.dilation[a] + 1;
      const int64_t padded = p.in[a] + p.pad[a] + p.pad_end[a];
      if (padded < span) p.pad_end[a] += span - padded;
      p.out[a] = (p.in[a] + p.pad[a] + p.pad_end[a] - span) / p.stride[a] + 1;
    }
    const bool s = round % 2 == 1;
    std::vector<uint8_t> x = random_bytes(rng, p.planes * p.in_size());
    std::vector<uint8_t> want(static_cast<size_t>(p.planes * p.out_size())), got(want.size());
    qmax_pool_ref(p, s, x.data(), want.data(), 0, p.planes);
    for (IsaLevel level : all_levels()) {
      std::fill(got.begin(), got.end(), 0x5A);
      qmax_pool(p, s, x.data(), got.data(), 0, p.planes, level);
      require_same(got, want, std::string("wide stride-2 max pool ") + isa_level_name(level) + ", W " + std::to_string(p.in[2]));
    }
  }
}

TEST_CASE("qavg_pool equals the reference (count_include_pad both ways, both modes)") {
  std::mt19937_64 rng(32);
  int checked = 0;
  for (int round = 0; round < 400; ++round) {
    PoolParams p;
    if (!random_pool(rng, p)) continue;
    QPoolQuant q;
    q.in_signed = rnd(rng, 0, 1) == 1;
    q.out_signed = rnd(rng, 0, 1) == 1;
    q.in_zero_point = q.in_signed ? rnd(rng, -128, 127) : rnd(rng, 0, 255);
    q.mode = rnd(rng, 0, 1) ? RequantMode::kFixedPoint : RequantMode::kFloat;
    q.out = random_out(rng, q.out_signed);
    // s_in / s_out around 1, sometimes exactly 1 or 2 (ties at even counts).
    const double ratio = rnd(rng, 0, 2) == 0 ? static_cast<double>(rnd(rng, 1, 2)) : std::exp(rnd(rng, -200, 200) / 100.0);
    const std::vector<RequantMultiplier> by_count = qavg_pool_multipliers(ratio, p.kernel[0] * p.kernel[1] * p.kernel[2]);
    q.by_count = by_count.data();
    const std::vector<uint8_t> x = random_bytes(rng, p.planes * p.in_size());
    std::vector<uint8_t> want(static_cast<size_t>(p.planes * p.out_size())), got(want.size());
    qavg_pool_ref(p, q, x.data(), want.data(), 0, p.planes);
    for (int threads : {1, 2}) {
      std::fill(got.begin(), got.end(), 0x5A);
      pool_for_planes(&pool_of(threads), p.planes, 1, [&](int64_t b, int64_t e) { qavg_pool(p, q, x.data(), got.data(), b, e); });
      require_same(got, want, "avg pool threads " + std::to_string(threads));
    }
    ++checked;
  }
  CHECK(checked > 200);
}

TEST_CASE("qavg_pool_ref agrees with the float average pool to one step") {
  // Independent of the integer code: dequantize, average in fp32, quantize; the integer result
  // may differ by one at rounding boundaries (fp32 sum order, multiplier rounding).
  std::mt19937_64 rng(33);
  for (int round = 0; round < 100; ++round) {
    PoolParams p;
    if (!random_pool(rng, p)) continue;
    const int32_t zi = rnd(rng, 0, 255), zo = rnd(rng, 0, 255);
    const double si = 0.02, so = 0.02 * std::exp(rnd(rng, -50, 50) / 100.0);
    QPoolQuant q;
    q.in_zero_point = zi;
    q.out = RequantOutput{zo, 0, 255};
    const std::vector<RequantMultiplier> by_count = qavg_pool_multipliers(si / so, p.kernel[0] * p.kernel[1] * p.kernel[2]);
    q.by_count = by_count.data();
    const std::vector<uint8_t> x = random_bytes(rng, p.planes * p.in_size());
    std::vector<uint8_t> yq(static_cast<size_t>(p.planes * p.out_size()));
    qavg_pool_ref(p, q, x.data(), yq.data(), 0, p.planes);
    std::vector<float> xf(x.size()), yf(yq.size());
    for (size_t i = 0; i < x.size(); ++i) xf[i] = static_cast<float>((x[i] - zi) * si);
    avg_pool_f32_ref(p, xf.data(), yf.data(), 0, p.planes);
    for (size_t i = 0; i < yf.size(); ++i) {
      const double want = std::min(255.0, std::max(0.0, std::nearbyint(yf[i] / so) + zo));
      if (std::abs(want - yq[i]) > 1) FAIL("element " << i << ": " << int(yq[i]) << " vs float " << want);
    }
  }
}

TEST_CASE("qglobal_avg_pool equals the reference") {
  std::mt19937_64 rng(34);
  for (int64_t size : {1, 2, 7, 15, 16, 17, 49, 63, 64, 65, 196, 784, 3136}) {
    for (int round = 0; round < 6; ++round) {
      QPoolQuant q;
      q.in_signed = round & 1;
      q.out_signed = (round >> 1) & 1;
      q.in_zero_point = q.in_signed ? rnd(rng, -128, 127) : rnd(rng, 0, 255);
      q.mode = round >= 3 ? RequantMode::kFixedPoint : RequantMode::kFloat;
      q.global = make_requant_multiplier(std::exp(rnd(rng, -100, 100) / 100.0) / static_cast<double>(size));
      q.out = random_out(rng, q.out_signed);
      const int64_t planes = rnd(rng, 1, 40);
      const std::vector<uint8_t> x = random_bytes(rng, planes * size);
      std::vector<uint8_t> want(static_cast<size_t>(planes)), got(want.size());
      qglobal_avg_pool_ref(q, x.data(), want.data(), size, 0, planes);
      qglobal_avg_pool(q, x.data(), got.data(), size, 0, planes);
      require_same(got, want, "global avg pool size " + std::to_string(size));
    }
  }
}

// A pool quantized directly (DQ → GlobalAveragePool → Q): the integer runtime divides by the
// output scale, and the exact simulation's pool outputs the dequantized mean fp32(acc) * m.
TEST_CASE("qglobal_avg_pool: the divided form and the fp32 output follow requantize.h") {
  std::mt19937_64 rng(36);
  for (int64_t size : {1, 7, 49, 64, 196, 3136}) {
    for (int round = 0; round < 8; ++round) {
      QPoolQuant q;
      q.in_signed = round & 1;
      q.out_signed = (round >> 1) & 1;
      q.in_zero_point = q.in_signed ? rnd(rng, -128, 127) : rnd(rng, 0, 255);
      const float x_scale = static_cast<float>(std::exp(rnd(rng, -500, 0) / 100.0));
      q.global = make_requant_multiplier(static_cast<float>(static_cast<double>(x_scale) / static_cast<double>(size)));
      q.out = random_out(rng, q.out_signed);
      // Output scales near the input's, so that many quotients land close to half-integers.
      q.out.divisor = x_scale * static_cast<float>(rnd(rng, 1, 40)) / 8.f;
      const int64_t planes = rnd(rng, 1, 40);
      const std::vector<uint8_t> x = random_bytes(rng, planes * size);
      std::vector<int32_t> acc(static_cast<size_t>(planes), 0);
      for (int64_t pl = 0; pl < planes; ++pl) {
        for (int64_t i = 0; i < size; ++i) {
          const uint8_t b = x[static_cast<size_t>(pl * size + i)];
          acc[static_cast<size_t>(pl)] += (q.in_signed ? static_cast<int8_t>(b) : b) - q.in_zero_point;
        }
      }
      std::vector<uint8_t> want(static_cast<size_t>(planes)), got(want.size()), got_ref(want.size());
      for (int64_t pl = 0; pl < planes; ++pl) {
        const int32_t v = requantize_float_ref(acc[static_cast<size_t>(pl)], q.global.m, q.out);
        want[static_cast<size_t>(pl)] = static_cast<uint8_t>(v);
      }
      qglobal_avg_pool_ref(q, x.data(), got_ref.data(), size, 0, planes);
      qglobal_avg_pool(q, x.data(), got.data(), size, 0, planes);
      require_same(got_ref, want, "divided global avg pool (reference) size " + std::to_string(size));
      require_same(got, want, "divided global avg pool size " + std::to_string(size));

      q.float_out = true;
      std::vector<float> yf(static_cast<size_t>(planes));
      qglobal_avg_pool(q, x.data(), yf.data(), size, 0, planes);
      for (int64_t pl = 0; pl < planes; ++pl) {
        const float mean = static_cast<float>(acc[static_cast<size_t>(pl)]) * q.global.m;
        if (yf[static_cast<size_t>(pl)] != mean) FAIL("fp32 global avg pool plane " << pl << ": " << yf[static_cast<size_t>(pl)] << " vs " << mean);
      }
    }
  }
}

TEST_CASE("qadd / qmul: every ISA level equals the reference (tails, broadcast, ties, clamps)") {
  std::mt19937_64 rng(35);
  for (int round = 0; round < 300; ++round) {
    const bool as = rnd(rng, 0, 1), bs = rnd(rng, 0, 1), ys = rnd(rng, 0, 1);
    const int32_t za = as ? rnd(rng, -128, 127) : rnd(rng, 0, 255);
    const int32_t zb = bs ? rnd(rng, -128, 127) : rnd(rng, 0, 255);
    const int32_t zy = ys ? rnd(rng, -128, 127) : rnd(rng, 0, 255);
    // Scales with exact power-of-two ratios half the time: sums land on .5 ties.
    const bool ties = rnd(rng, 0, 1);
    const double sy = 0.05;
    const double sa = ties ? sy * std::ldexp(1.0, rnd(rng, -2, 1)) : sy * std::exp(rnd(rng, -150, 150) / 100.0);
    const double sb = ties ? sy * std::ldexp(1.0, rnd(rng, -2, 1)) : sy * std::exp(rnd(rng, -150, 150) / 100.0);
    const int64_t planes = rnd(rng, 1, 6);
    const int64_t inner = round < 70 ? round + 1 : rnd(rng, 1, 400);
    const bool per_plane = rnd(rng, 0, 2) == 0;
    const bool relu = rnd(rng, 0, 3) == 0;
    const std::vector<uint8_t> a = random_bytes(rng, planes * inner);
    const std::vector<uint8_t> b = random_bytes(rng, per_plane ? planes : planes * inner);
    for (int op = 0; op < 2; ++op) {
      QBinaryParams q = op == 0 ? make_qadd_params(sa, za, as, sb, zb, bs, sy, zy, ys)
                                : make_qmul_params(sa, za, as, sb * 40, zb, bs, sy, zy, ys,
                                                   rnd(rng, 0, 1) ? RequantMode::kFixedPoint : RequantMode::kFloat);
      q.b_broadcast = per_plane ? QBroadcast::kPerPlane : QBroadcast::kSame;
      if (relu) q.out.qmin = zy;
      std::vector<uint8_t> want(static_cast<size_t>(planes * inner)), got(want.size());
      (op == 0 ? qadd_ref : qmul_ref)(q, a.data(), b.data(), want.data(), inner, 0, planes);
      for (IsaLevel level : all_levels()) {
        for (int threads : {1, 2}) {
          std::fill(got.begin(), got.end(), 0x5A);
          QBinaryFn fn = op == 0 ? qadd_ukernel(level) : qmul_ukernel(level);
          pool_of(threads).parallel_for(planes, [&](int64_t b0, int64_t b1) { fn(q, a.data(), b.data(), got.data(), inner, b0, b1); });
          require_same(got, want, std::string(op == 0 ? "add " : "mul ") + isa_level_name(level) + " inner " +
                                      std::to_string(inner) + (per_plane ? " per-plane" : ""));
        }
      }
    }
  }
}

TEST_CASE("qadd_ref matches the float definition") {
  // The reference against a direct evaluation of the documented formula in double where it is
  // exact: products of small integers and power-of-two multipliers.
  const QBinaryParams q = make_qadd_params(0.5, 3, false, 0.25, -2, true, 1.0, 10, false);
  std::vector<uint8_t> a(256), b(256), y(256);
  for (int i = 0; i < 256; ++i) {
    a[i] = static_cast<uint8_t>(i);
    b[i] = static_cast<uint8_t>(255 - i);
  }
  qadd_ref(q, a.data(), b.data(), y.data(), 256, 0, 1);
  for (int i = 0; i < 256; ++i) {
    const double t = (i - 3) * 0.5 + (static_cast<int8_t>(255 - i) + 2) * 0.25;
    const double want = std::min(255.0, std::max(0.0, std::nearbyint(t) + 10));
    CHECK(y[i] == want);
  }
}

TEST_CASE("qlut: builders follow their formulas, apply equals the scalar lookup") {
  std::mt19937_64 rng(36);
  for (int round = 0; round < 40; ++round) {
    QLutSide in, out;
    in.is_signed = rnd(rng, 0, 1);
    in.scale = static_cast<float>(std::exp(rnd(rng, -400, 0) / 100.0));
    in.zero_point = in.is_signed ? rnd(rng, -128, 127) : rnd(rng, 0, 255);
    out.is_signed = rnd(rng, 0, 1);
    out.scale = 1.f / 255.f;
    out.zero_point = out.is_signed ? -128 : 0;
    out.qmin = out.is_signed ? -128 : 0;
    out.qmax = out.is_signed ? 127 : 255;
    auto sigmoid = [](float v) { return 1.f / (1.f + std::exp(-v)); };
    uint8_t table[256];
    build_qlut(sigmoid, in, out, table);
    for (int q = in.is_signed ? -128 : 0; q <= (in.is_signed ? 127 : 255); ++q) {
      const float v = sigmoid(static_cast<float>(q - in.zero_point) * in.scale) / out.scale;
      const int32_t want = std::min(out.qmax, std::max(out.qmin, static_cast<int32_t>(std::nearbyint(v)) + out.zero_point));
      const uint8_t raw = table[static_cast<uint8_t>(q)];
      const int32_t got = out.is_signed ? static_cast<int8_t>(raw) : raw;
      if (got != want) FAIL("sigmoid table entry " << q << " is " << got << ", expected " << want);
    }
    // Requantize-by-LUT against requantize_ref.
    const RequantMode mode = rnd(rng, 0, 1) ? RequantMode::kFixedPoint : RequantMode::kFloat;
    const RequantMultiplier m = make_requant_multiplier(std::exp(rnd(rng, -200, 200) / 100.0));
    const RequantOutput o = random_out(rng, out.is_signed);
    build_requant_lut(in.is_signed, in.zero_point, mode, m, o, table);
    for (int q = in.is_signed ? -128 : 0; q <= (in.is_signed ? 127 : 255); ++q) {
      const uint8_t raw = table[static_cast<uint8_t>(q)];
      CHECK((out.is_signed ? static_cast<int8_t>(raw) : raw) == requantize_ref(q - in.zero_point, mode, m, o));
    }
    const int64_t n = rnd(rng, 0, 300);
    const std::vector<uint8_t> x = random_bytes(rng, n);
    std::vector<uint8_t> want(static_cast<size_t>(n)), got(static_cast<size_t>(n), 0x5A);
    apply_qlut_ref(table, x.data(), want.data(), n);
    apply_qlut(table, x.data(), got.data(), n);
    require_same(got, want, "apply_qlut");
  }
}

TEST_CASE("quantize_act: every ISA level equals the reference (ties, saturation, NaN, tails)") {
  std::mt19937 rng(77);
  std::uniform_real_distribution<float> u(-3.f, 3.f);
  for (int n : {1, 7, 8, 15, 16, 17, 33, 100, 1000}) {
    for (bool is_signed : {false, true}) {
      qe::kernels::QuantizeActArgs a;
      a.scale = 0.0125f;  // exact halves of it occur below: ties
      a.is_signed = is_signed;
      a.zero_point = is_signed ? -3 : 128;
      a.lo = is_signed ? -128 : 0;
      a.hi = is_signed ? 127 : 255;
      std::vector<float> x(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) {
        switch (i % 5) {
          case 0: x[static_cast<size_t>(i)] = u(rng); break;
          case 1: x[static_cast<size_t>(i)] = (static_cast<float>(i % 40) - 20.f + 0.5f) * a.scale; break;  // tie
          case 2: x[static_cast<size_t>(i)] = 1e6f * u(rng); break;  // saturates
          case 3: x[static_cast<size_t>(i)] = i % 10 == 3 ? std::nanf("") : -std::numeric_limits<float>::infinity(); break;
          default: x[static_cast<size_t>(i)] = u(rng) * 0.01f; break;
        }
      }
      std::vector<uint8_t> want(static_cast<size_t>(n));
      qe::kernels::quantize_act_ref(x.data(), want.data(), n, a);
      for (qe::IsaLevel level : {qe::IsaLevel::kAvx2, qe::IsaLevel::kAvx512}) {
        auto fn = qe::kernels::quantize_act_ukernel(level);
        if (!fn) continue;
        std::vector<uint8_t> got(static_cast<size_t>(n), 0xAB);
        fn(x.data(), got.data(), n, a);
        INFO("n " << n << " signed " << is_signed << " level " << qe::isa_level_name(level));
        CHECK(got == want);
      }
      // The reference follows its formula on a few hand-checked values.
      if (n == 1000) {
        const float xs[] = {0.00625f, 0.01875f, -0.00625f};  // 0.5, 1.5, -0.5 steps: ties to even
        uint8_t y[3];
        qe::kernels::quantize_act_ref(xs, y, 3, a);
        const int32_t z = a.zero_point;
        auto val = [&](uint8_t b) { return is_signed ? static_cast<int32_t>(static_cast<int8_t>(b)) : static_cast<int32_t>(b); };
        CHECK(val(y[0]) == z + 0);
        CHECK(val(y[1]) == z + 2);
        CHECK(val(y[2]) == z + 0);
      }
    }
  }
}

TEST_CASE("dequantize_act equals DequantizeLinear's reference (every byte, odd lengths)") {
  std::mt19937_64 rng(38);
  for (int64_t n : {1, 3, 15, 16, 17, 63, 64, 65, 255, 256, 1000, 4099}) {
    for (bool is_signed : {false, true}) {
      qe::kernels::QuantizeActArgs a;
      a.is_signed = is_signed;
      a.zero_point = is_signed ? rnd(rng, -128, 127) : rnd(rng, 0, 255);
      a.scale = static_cast<float>(std::exp(rnd(rng, -1500, 500) / 100.0));
      std::vector<uint8_t> q(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) q[static_cast<size_t>(i)] = static_cast<uint8_t>(i < 256 ? i : rnd(rng, 0, 255));
      std::vector<int32_t> qi(q.size());
      for (size_t i = 0; i < q.size(); ++i) qi[i] = is_signed ? static_cast<int8_t>(q[i]) : q[i];
      std::vector<float> want(q.size()), got(q.size(), -1.f);
      qe::kernels::dequantize_linear_ref(qi.data(), want.data(), &a.scale, &a.zero_point, 1, 1, n);
      qe::kernels::dequantize_act(q.data(), got.data(), n, a);
      for (size_t i = 0; i < q.size(); ++i) {
        if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) FAIL("n " << n << " element " << i << ": " << got[i] << " vs " << want[i]);
      }
    }
  }
}
