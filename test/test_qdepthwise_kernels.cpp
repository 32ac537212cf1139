// Integer depthwise conv and the vector requantization helpers against their scalar references,
// bit for bit: requantize_array_<isa> against requantize_ref over random and extreme
// accumulators, ties and multipliers from 1e-9 to 100; qdepthwise_<isa> and the generic path
// against qdepthwise_ref over geometry sweeps (every padding combination of 3x3 and 5x5 at
// strides 1 and 2, odd and even sizes, other kernels, strides and dilations), u8/s8 inputs and
// outputs, zero points, both requantization modes, fused Relu clamps and float output, at
// every ISA level and at 1 and 2 threads; plus the MobileNetV2 shapes of the benchmark, and the
// channel-group path for narrow planes (widths 1..16, channel counts around multiples of 16).
#include <catch2/catch.hpp>

#include <climits>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/core/cpu_features.h"
#include "engine/core/thread_pool.h"
#include "kernels/int8/qdepthwise.h"
#include "kernels/int8/requant_vec.h"
#include "support/int8_test_support.h"
#include "support/test_support.h"

using namespace qe;
using namespace qe::kernels;
using namespace qe::test;

namespace {

double log_uniform(std::mt19937_64& rng, double lo, double hi) {
  return std::exp(std::uniform_real_distribution<double>(std::log(lo), std::log(hi))(rng));
}

// A random output side: u8 or s8 range, zero point inside it, sometimes a Relu / Relu6 clamp.
RequantOutput random_out(std::mt19937_64& rng, bool out_signed) {
  RequantOutput o;
  o.qmin = out_signed ? -128 : 0;
  o.qmax = out_signed ? 127 : 255;
  o.zero_point = rnd(rng, o.qmin, o.qmax);
  const int k = rnd(rng, 0, 3);
  if (k == 1) o.qmin = o.zero_point;  // Relu
  if (k == 2) {                       // Relu6-like
    o.qmin = o.zero_point;
    o.qmax = rnd(rng, o.qmin, o.qmax);
  }
  // The float form's divisor (the output scale): a power of two, a third (ties), or any value.
  const int d = rnd(rng, 0, 3);
  if (d == 1) o.divisor = std::ldexp(1.f, rnd(rng, -2, 2));
  if (d == 2) o.divisor = 3.f * std::ldexp(1.f, rnd(rng, -3, 1));
  if (d == 3) o.divisor = static_cast<float>(log_uniform(rng, 0.25, 4.0));
  return o;
}

}  // namespace

TEST_CASE("requantize_array: vector forms equal requantize_ref bit for bit") {
  std::mt19937_64 rng(11);
  const int32_t extremes[] = {INT32_MIN, INT32_MIN + 1, INT32_MAX, INT32_MAX - 1, 0, 1, -1, 2, -2, 3, -3,
                              (1 << 30), -(1 << 30), 1 << 20, -(1 << 20) - 1};
  for (RequantMode mode : {RequantMode::kFloat, RequantMode::kFixedPoint}) {
    for (int round = 0; round < 60; ++round) {
      const int64_t n = round < 40 ? round + 1 : rnd(rng, 100, 3000);
      std::vector<int32_t> acc(n), mu(n), sh(n), want(n), got(n);
      std::vector<float> m(n);
      for (int64_t i = 0; i < n; ++i) {
        const int k = rnd(rng, 0, 9);
        if (k == 0) {
          acc[i] = extremes[rnd(rng, 0, 14)];
        } else if (k <= 3) {
          acc[i] = rnd(rng, -300, 300);
        } else if (k <= 5) {
          acc[i] = rnd(rng, -100000, 100000);
        } else {
          acc[i] = static_cast<int32_t>(std::uniform_int_distribution<int64_t>(INT32_MIN, INT32_MAX)(rng));
        }
        // Powers of two (and 3 * 2^-k) make exact ties; the rest spans 1e-9 .. 100.
        double mm;
        const int mk = rnd(rng, 0, 3);
        if (mk == 0) {
          mm = std::ldexp(1.0, -rnd(rng, 1, 40));
        } else if (mk == 1) {
          mm = 3.0 * std::ldexp(1.0, -rnd(rng, 2, 30));
        } else {
          mm = log_uniform(rng, 1e-9, 100.0);
        }
        const RequantMultiplier r = make_requant_multiplier(mm);
        m[i] = r.m;
        mu[i] = r.fx_mult;
        sh[i] = r.fx_shift;
      }
      const RequantOutput o = random_out(rng, rnd(rng, 0, 1) == 1);
      for (int64_t i = 0; i < n; ++i) {
        want[i] = requantize_ref(acc[i], mode, RequantMultiplier{m[i], mu[i], sh[i]}, o);
      }
      for (IsaLevel level : all_levels()) {
        std::fill(got.begin(), got.end(), -999);
        requantize_array_ukernel(level)(acc.data(), m.data(), mu.data(), sh.data(), n, mode, o, got.data());
        for (int64_t i = 0; i < n; ++i) {
          if (got[i] != want[i]) {
            FAIL(isa_level_name(level) << " " << requant_mode_name(mode) << ": acc " << acc[i] << " m " << m[i]
                                       << " (M " << mu[i] << ", n " << sh[i] << ") zp " << o.zero_point << " ["
                                       << o.qmin << ", " << o.qmax << "] gives " << got[i] << ", expected "
                                       << want[i]);
          }
        }
      }
    }
  }
}

TEST_CASE("requantize_array: the float form's division is exact at ties and near them") {
  // A multiplication by 1 / d in place of the division would round differently at and near
  // ties. acc * 0.5 / 3 is an exact tie whenever acc = 3 (mod 6); a random d puts quotients
  // within an ulp or two of a tie without hitting it.
  std::mt19937_64 rng(12);
  for (int round = 0; round < 200; ++round) {
    const int64_t n = 1000 + round;
    RequantOutput o;
    o.qmin = -128;
    o.qmax = 127;
    o.zero_point = rnd(rng, -20, 20);
    const bool exact_ties = round % 2 == 0;
    const float m = exact_ties ? 0.5f : static_cast<float>(log_uniform(rng, 1e-4, 1.0));
    o.divisor = exact_ties ? 3.f : static_cast<float>(log_uniform(rng, 1e-3, 10.0));
    std::vector<int32_t> acc(static_cast<size_t>(n)), mu(static_cast<size_t>(n), 0), sh(static_cast<size_t>(n), 31),
        want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    std::vector<float> ms(static_cast<size_t>(n), m);
    // Accumulators whose exact quotient is a half-integer, and their neighbours.
    for (int64_t i = 0; i < n; ++i) {
      const double target = rnd(rng, -100, 100) + 0.5;
      const int32_t centre = static_cast<int32_t>(std::llround(target * o.divisor / m));
      acc[static_cast<size_t>(i)] = centre + rnd(rng, -2, 2);
    }
    for (int64_t i = 0; i < n; ++i) {
      want[static_cast<size_t>(i)] = requantize_ref(acc[static_cast<size_t>(i)], RequantMode::kFloat,
                                                    RequantMultiplier{m, 0, 31}, o);
      // The definition, spelled out: one fp32 product, one fp32 quotient, round half to even with
      // the zero point (an odd one moves exact ties, as in the quantizer's round(x / s + z)).
      const float q = static_cast<float>(acc[static_cast<size_t>(i)]) * m / o.divisor;
      const float c = std::min(std::max(q, static_cast<float>(o.qmin - o.zero_point)), static_cast<float>(o.qmax - o.zero_point));
      REQUIRE(want[static_cast<size_t>(i)] == static_cast<int32_t>(std::nearbyint(static_cast<double>(c) + o.zero_point)));
    }
    for (IsaLevel level : all_levels()) {
      requantize_array_ukernel(level)(acc.data(), ms.data(), mu.data(), sh.data(), n, RequantMode::kFloat, o, got.data());
      for (int64_t i = 0; i < n; ++i) {
        if (got[static_cast<size_t>(i)] != want[static_cast<size_t>(i)]) {
          FAIL(isa_level_name(level) << ": acc " << acc[static_cast<size_t>(i)] << " m " << m << " d " << o.divisor
                                     << " gives " << got[static_cast<size_t>(i)] << ", expected " << want[static_cast<size_t>(i)]);
        }
      }
    }
  }
}

namespace {

struct DwCase {
  QDepthwiseParams p;
  int64_t pad_end[2] = {0, 0};
  QOutType type = QOutType::kU8;
  RequantMode mode = RequantMode::kFloat;
  bool per_channel = true;
};

// Output size from the paddings; false when no output position exists.
bool finish_geometry(DwCase& c) {
  for (int a = 0; a < 2; ++a) {
    const int64_t span = (c.p.kernel[a] - 1) * c.p.dilation[a] + 1;
    const int64_t padded = c.p.in[a] + c.p.pad[a] + c.pad_end[a];
    if (padded < span) return false;
    c.p.out[a] = (padded - span) / c.p.stride[a] + 1;
  }
  return true;
}

void randomize_types(DwCase& c, std::mt19937_64& rng) {
  c.p.in_signed = rnd(rng, 0, 1) == 1;
  c.p.in_zero_point = c.p.in_signed ? rnd(rng, -128, 127) : rnd(rng, 0, 255);
  const int t = rnd(rng, 0, 4);
  c.type = t == 4 ? QOutType::kF32 : (t >= 2 ? QOutType::kS8 : QOutType::kU8);
  c.mode = rnd(rng, 0, 1) ? RequantMode::kFixedPoint : RequantMode::kFloat;
  c.per_channel = rnd(rng, 0, 3) != 0;
}

std::string describe(const DwCase& c) {
  std::ostringstream s;
  const QDepthwiseParams& p = c.p;
  s << "N" << p.batch << " C" << p.channels << " " << p.in[0] << "x" << p.in[1] << " k" << p.kernel[0] << "x"
    << p.kernel[1] << " s" << p.stride[0] << "," << p.stride[1] << " d" << p.dilation[0] << "," << p.dilation[1]
    << " pad " << p.pad[0] << "," << p.pad[1] << "," << c.pad_end[0] << "," << c.pad_end[1] << " -> " << p.out[0]
    << "x" << p.out[1] << (p.in_signed ? " s8" : " u8") << " zp " << p.in_zero_point << " out "
    << (c.type == QOutType::kF32 ? "f32" : c.type == QOutType::kS8 ? "s8" : "u8") << " "
    << requant_mode_name(c.mode);
  return s.str();
}

// Runs one case at every level and thread count against qdepthwise_ref.
void check_case(const DwCase& c, std::mt19937_64& rng) {
  const QDepthwiseParams& p = c.p;
  const int64_t C = p.channels, ks = p.kernel_size();
  std::vector<uint8_t> x(static_cast<size_t>(p.planes() * p.in_size()));
  for (auto& v : x) v = static_cast<uint8_t>(rnd(rng, 0, 255));
  std::vector<int8_t> w(static_cast<size_t>(C * ks));
  for (auto& v : w) v = static_cast<int8_t>(rnd(rng, -128, 127));
  std::vector<int32_t> bias(static_cast<size_t>(C));
  for (auto& v : bias) v = rnd(rng, -20000, 20000);
  const bool with_bias = rnd(rng, 0, 5) != 0;
  // Multipliers around 1 / (typical |acc|) so outputs cover the range and clip at both ends.
  std::vector<RequantMultiplier> mult(static_cast<size_t>(C));
  std::vector<float> dq(static_cast<size_t>(C));
  const double typical = 128.0 * 80.0 * std::sqrt(static_cast<double>(ks)) + 1.0;
  for (int64_t ch = 0; ch < C; ++ch) {
    mult[ch] = make_requant_multiplier(log_uniform(rng, 4.0, 400.0) / typical);
    dq[ch] = static_cast<float>(log_uniform(rng, 1e-6, 1e-2));
  }
  QDepthwiseOutput o;
  o.type = c.type;
  o.requant.mode = c.mode;
  o.requant.mult = mult.data();
  o.requant.per_channel = c.per_channel;
  o.requant.out = random_out(rng, c.type == QOutType::kS8);
  o.dequant = dq.data();
  const size_t esize = c.type == QOutType::kF32 ? 4 : 1;
  const size_t ybytes = static_cast<size_t>(p.planes() * p.out_size()) * esize;
  std::vector<uint8_t> want(ybytes), got(ybytes);
  qdepthwise_ref(p, x.data(), w.data(), with_bias ? bias.data() : nullptr, o, want.data());
  for (IsaLevel level : all_levels()) {
    for (int threads : {1, 2}) {
      std::vector<uint8_t> ws(static_cast<size_t>(qdepthwise_workspace_bytes(p, threads)), 0xAB);
      std::fill(got.begin(), got.end(), 0xCD);
      qdepthwise_run(qdepthwise_ukernel(level), p, x.data(), w.data(), with_bias ? bias.data() : nullptr, o,
                     got.data(), &pool_of(threads), ws.data(), threads);
      if (std::memcmp(got.data(), want.data(), ybytes) != 0) {
        size_t i = 0;
        while (got[i] == want[i]) ++i;
        FAIL(qdepthwise_ukernel_name(level) << " threads " << threads << " " << describe(c) << ": first byte "
                                            << i / esize << " element differs");
      }
    }
  }
}

}  // namespace

TEST_CASE("qdepthwise: 3x3 and 5x5, every padding combination, strides 1 and 2") {
  std::mt19937_64 rng(21);
  int checked = 0;
  for (int k : {3, 5}) {
    for (int pt = 0; pt < k; ++pt) {
      for (int pl = 0; pl < k; ++pl) {
        for (int pb = 0; pb < k; ++pb) {
          for (int pr = 0; pr < k; ++pr) {
            for (int s : {1, 2}) {
              DwCase c;
              c.p.batch = rnd(rng, 1, 2);
              c.p.channels = k == 3 ? rnd(rng, 1, 33) : rnd(rng, 1, 12);
              c.p.in[0] = rnd(rng, 1, 19);
              c.p.in[1] = rnd(rng, 1, 19);
              c.p.kernel[0] = c.p.kernel[1] = k;
              c.p.stride[0] = c.p.stride[1] = s;
              c.p.pad[0] = pt;
              c.p.pad[1] = pl;
              c.pad_end[0] = pb;
              c.pad_end[1] = pr;
              randomize_types(c, rng);
              if (!finish_geometry(c)) continue;
              check_case(c, rng);
              ++checked;
            }
          }
        }
      }
    }
  }
  CHECK(checked > 1000);
}

TEST_CASE("qdepthwise: sizes 1..19 odd and even, channels 1..33") {
  std::mt19937_64 rng(22);
  for (int h = 1; h <= 19; h += 3) {
    for (int wd = 1; wd <= 19; ++wd) {
      DwCase c;
      c.p.channels = rnd(rng, 1, 33);
      c.p.in[0] = h;
      c.p.in[1] = wd;
      const int k = rnd(rng, 0, 1) ? 3 : 5;
      c.p.kernel[0] = c.p.kernel[1] = k;
      c.p.stride[0] = c.p.stride[1] = rnd(rng, 1, 2);
      c.p.pad[0] = c.p.pad[1] = c.pad_end[0] = c.pad_end[1] = k / 2;
      randomize_types(c, rng);
      if (!finish_geometry(c)) continue;
      check_case(c, rng);
    }
  }
}

TEST_CASE("qdepthwise: other kernels, strides 1..3, dilation 2 (generic and runtime-kernel paths)") {
  std::mt19937_64 rng(23);
  const int kernels[][2] = {{7, 7}, {2, 3}, {3, 2}, {1, 1}, {1, 5}, {3, 1}, {4, 4}, {3, 3}, {5, 5}, {1, 9}};
  for (int round = 0; round < 300; ++round) {
    DwCase c;
    const auto& kk = kernels[round % 10];
    c.p.batch = rnd(rng, 1, 2);
    c.p.channels = rnd(rng, 1, 17);
    c.p.in[0] = rnd(rng, 1, 19);
    c.p.in[1] = rnd(rng, 1, 23);
    c.p.kernel[0] = kk[0];
    c.p.kernel[1] = kk[1];
    c.p.stride[0] = rnd(rng, 1, 3);
    c.p.stride[1] = rnd(rng, 1, 3);
    c.p.dilation[0] = rnd(rng, 1, 2);
    c.p.dilation[1] = rnd(rng, 1, 2);
    for (int a = 0; a < 2; ++a) {
      c.p.pad[a] = rnd(rng, 0, static_cast<int>(c.p.kernel[a]) - 1);
      c.pad_end[a] = rnd(rng, 0, static_cast<int>(c.p.kernel[a]) - 1);
    }
    randomize_types(c, rng);
    if (!finish_geometry(c)) continue;
    check_case(c, rng);
  }
}

namespace {

std::string shapes_path() {
  const char* s = std::getenv("QENGINE_SOURCE_DIR");
  std::string root = s ? s : std::string(__FILE__).substr(0, std::string(__FILE__).rfind("/test/"));
  return root + "/test/data/shapes/qdepthwise_shapes.txt";
}

}  // namespace

TEST_CASE("qdepthwise: MobileNetV2 depthwise shapes (channels scaled down)") {
  std::ifstream f(shapes_path());
  REQUIRE(f.good());
  std::mt19937_64 rng(24);
  std::string line;
  int shapes = 0;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    int64_t ch, h, wd, k, s, pad;
    REQUIRE(static_cast<bool>(in >> ch >> h >> wd >> k >> s >> pad));
    DwCase c;
    c.p.channels = std::min<int64_t>(ch, 16);
    c.p.in[0] = h;
    c.p.in[1] = wd;
    c.p.kernel[0] = c.p.kernel[1] = k;
    c.p.stride[0] = c.p.stride[1] = s;
    c.p.pad[0] = c.p.pad[1] = c.pad_end[0] = c.pad_end[1] = pad;
    randomize_types(c, rng);
    REQUIRE(finish_geometry(c));
    check_case(c, rng);
    ++shapes;
  }
  CHECK(shapes == 17);
}

// The channels-in-lanes path (qdepthwise_cl_avx512.cpp) takes narrow planes: output widths 1..16,
// channel counts around the 16-lane groups, batches (groups never span images), every padding of
// 3x3 / 5x5 at strides 1 and 2, plus a few other kernels, strides and dilations it also accepts.
TEST_CASE("qdepthwise: small planes through the channel-group path") {
  std::mt19937_64 rng(25);
  const int channel_counts[] = {4, 5, 15, 16, 17, 31, 32, 33, 47, 50};
  int accepted = 0, total = 0;
  for (int round = 0; round < 400; ++round) {
    DwCase c;
    c.p.batch = rnd(rng, 1, 3);
    c.p.channels = channel_counts[round % 10];
    const int k = round % 5 == 4 ? 5 : 3;
    c.p.kernel[0] = c.p.kernel[1] = k;
    c.p.stride[0] = c.p.stride[1] = rnd(rng, 1, 2);
    c.p.in[0] = rnd(rng, 1, 18);
    c.p.in[1] = rnd(rng, 1, 2 * static_cast<int>(c.p.stride[1]) * 8 + 2);
    for (int a = 0; a < 2; ++a) {
      c.p.pad[a] = rnd(rng, 0, k - 1);
      c.pad_end[a] = rnd(rng, 0, k - 1);
    }
    if (round % 7 == 6) {  // other geometry the path accepts too
      c.p.kernel[0] = rnd(rng, 1, 4);
      c.p.kernel[1] = rnd(rng, 1, 6);
      c.p.stride[0] = rnd(rng, 1, 3);
      c.p.stride[1] = rnd(rng, 1, 3);
      c.p.dilation[0] = rnd(rng, 1, 2);
      c.p.dilation[1] = rnd(rng, 1, 2);
      for (int a = 0; a < 2; ++a) {
        c.p.pad[a] = rnd(rng, 0, static_cast<int>(c.p.kernel[a]) - 1);
        c.pad_end[a] = rnd(rng, 0, static_cast<int>(c.p.kernel[a]) - 1);
      }
    }
    randomize_types(c, rng);
    if (!finish_geometry(c)) continue;
    ++total;
    accepted += qdw_cl_accepts(c.p) ? 1 : 0;
    check_case(c, rng);
  }
  // Most of these must really take the path, or the sweep tests nothing new.
  CHECK(accepted > total * 3 / 4);
}

// MobileNetV2's narrow layers at full width: the task split gives runs of 16 channels (14x14) or
// 80 (7x7) plus a tail, so both threads run several groups, with and without batches.
TEST_CASE("qdepthwise: 14x14 and 7x7 layers at full channel counts, tasks over channel runs") {
  std::mt19937_64 rng(26);
  const int64_t shapes[][4] = {{576, 14, 1, 1}, {576, 14, 2, 1}, {960, 7, 1, 1}, {100, 7, 1, 3}, {40, 14, 1, 2}};
  for (const auto& s : shapes) {
    for (int type = 0; type < 3; ++type) {
      DwCase c;
      c.p.batch = s[3];
      c.p.channels = s[0];
      c.p.in[0] = c.p.in[1] = s[1];
      c.p.kernel[0] = c.p.kernel[1] = 3;
      c.p.stride[0] = c.p.stride[1] = s[2];
      c.p.pad[0] = c.p.pad[1] = c.pad_end[0] = c.pad_end[1] = 1;
      randomize_types(c, rng);
      c.type = static_cast<QOutType>(type);
      REQUIRE(finish_geometry(c));
      CHECK(qdw_cl_accepts(c.p));
      check_case(c, rng);
    }
  }
}
