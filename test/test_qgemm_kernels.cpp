// Integer GEMM and conv kernels against their scalar references, bit for bit: every ISA family
// the machine has (scalar, AVX2, AVX-512 VNNI) at 1 and 2 threads, both GEMM forms, int8 /
// int4 / uint4 weights, uint8 / int8 activations with zero and nonzero zero points, the three
// output kinds and both requantization modes, sizes around the tile edges, odd K; convs with
// strides, padding, dilation and groups against the direct loops; the GEMM shapes of ResNet18
// and MobileNetV2 (scaled down along N); and requantize.h itself.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/core/cpu_features.h"
#include "engine/core/thread_pool.h"
#include "kernels/int8/qconv.h"
#include "kernels/int8/qgemm.h"
#include "kernels/int8/requantize.h"

using namespace qe;
using namespace qe::kernels;

namespace {

std::vector<const QGemmIsa*> isa_families() {
  std::vector<const QGemmIsa*> v = {&qgemm_isa_scalar};
  if (cpu_features().avx2) v.push_back(&qgemm_isa_avx2);
  if (cpu_features().avx512_vnni) v.push_back(&qgemm_isa_avx512vnni);
  return v;
}

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  int64_t uni(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(g); }
  double real(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(g); }
  bool coin() { return uni(0, 1) == 1; }
};

// Random weights of `type` for a [channels x K] matrix stored as described by `src`.
struct Weights {
  std::vector<uint8_t> bytes, zps;
  QWeightsSrc src;
};
Weights make_weights(Rng& r, QWeightType type, int64_t channels, int64_t K, bool k_major) {
  Weights w;
  const int64_t n = channels * K;
  w.src.type = type;
  w.src.k_major = k_major;
  w.src.ld = k_major ? channels : K;
  if (type == QWeightType::kInt8) {
    w.bytes.resize(static_cast<size_t>(n));
    for (auto& b : w.bytes) b = static_cast<uint8_t>(r.uni(-128, 127));
  } else {
    w.bytes.resize(static_cast<size_t>((n + 1) / 2));
    for (auto& b : w.bytes) b = static_cast<uint8_t>(r.uni(0, 255));
    if (type == QWeightType::kUint4) {
      w.zps.resize(static_cast<size_t>(channels));
      for (auto& z : w.zps) z = static_cast<uint8_t>(r.uni(0, 15));
    }
  }
  w.src.data = w.bytes.data();
  w.src.zero_points = w.zps.empty() ? nullptr : w.zps.data();
  return w;
}

// Output parameters that spread typical sums over the 8-bit range (and clip some).
struct OutSetup {
  std::vector<RequantMultiplier> mult;
  std::vector<float> scale, fbias;
  QOutput out;
};
void make_output(Rng& r, OutSetup& s, QOutKind kind, RequantMode mode, int64_t channels, int64_t K, bool wt_is_int8) {
  s.out.kind = kind;
  const bool per_channel = r.uni(0, 3) != 0;
  // Standard deviation of a sum: K products of ~75 (activation) times ~74 (int8) or ~4.6 (int4).
  const double w_std = wt_is_int8 ? 74.0 : 4.6;
  const double typical = std::sqrt(static_cast<double>(std::max<int64_t>(K, 1))) * 75.0 * w_std;
  // Dyadic multipliers j / 2^s make exact ties common, so half-even rounding is exercised.
  const bool dyadic = r.uni(0, 2) == 0;
  const int s_exp = static_cast<int>(std::lround(std::log2(typical / 40.0)));
  // The float form as the lowering builds it: m = x_scale * w_scale[c] and a divisor y_scale
  // (a power of two keeps the dyadic ties; otherwise any value).
  const int div_kind = mode == RequantMode::kFloat ? static_cast<int>(r.uni(0, 2)) : 0;
  const double divisor = div_kind == 1 ? std::ldexp(1.0, -static_cast<int>(r.uni(3, 9))) : div_kind == 2 ? r.real(1e-3, 1e-1) : 1.0;
  for (int64_t c = 0; c < channels; ++c) {
    const double m = dyadic ? std::ldexp(static_cast<double>(r.uni(1, 3)), -std::max(1, s_exp)) : r.real(10.0, 120.0) / typical;
    s.mult.push_back(make_requant_multiplier(m * divisor));
    s.scale.push_back(static_cast<float>(r.real(1e-4, 1e-2)));
    s.fbias.push_back(static_cast<float>(r.real(-1, 1)));
  }
  s.out.requant.mode = mode;
  s.out.requant.mult = s.mult.data();
  s.out.requant.per_channel = per_channel;
  switch (r.uni(0, 2)) {
    case 0: s.out.requant.out = {static_cast<int32_t>(r.uni(0, 255)), 0, 255}; break;
    case 1: s.out.requant.out = {static_cast<int32_t>(r.uni(-128, 127)), -128, 127}; break;
    default: {  // fused Relu on int8
      const int32_t zp = static_cast<int32_t>(r.uni(-128, 20));
      s.out.requant.out = {zp, zp, 127};
    }
  }
  s.out.requant.out.divisor = static_cast<float>(divisor);
  s.out.dequant_scale = s.scale.data();
  s.out.float_bias = r.coin() ? s.fbias.data() : nullptr;
}

std::string describe(const QGemmArgs& g, QWeightType wt, const QGemmIsa& isa, int threads) {
  std::ostringstream os;
  os << isa.name << " threads=" << threads << (g.form == QForm::kConv ? " conv" : " fc") << " M=" << g.M
     << " N=" << g.N << " K=" << g.K << " w=" << qweight_type_name(wt) << " act=" << (g.act_signed ? "s8" : "u8")
     << " zp=" << g.act_zero_point << " out=" << qout_kind_name(g.out.kind)
     << " mode=" << requant_mode_name(g.out.requant.mode);
  return os.str();
}

void require_same_bytes(const std::vector<uint8_t>& got, const std::vector<uint8_t>& want, size_t elem,
                        const std::string& what) {
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) FAIL(what << ": first mismatch at element " << i / elem);
  }
}

struct Case {
  QForm form;
  int64_t M, N, K;
  QWeightType wt;
  bool act_signed;
  bool zero_zp;
  QOutKind kind;
  RequantMode mode;
  // Optional overrides of make_output: the clamp range (qmin <= qmax), and multipliers near 1
  // (fixed form: shifts below 32).
  bool custom_range = false;
  RequantOutput range{};
  bool big_mult = false;
};

// Runs one case through the reference and every family at 1 and 2 threads.
void check_gemm(const Case& cs, uint64_t seed) {
  Rng r(seed);
  const bool conv = cs.form == QForm::kConv;
  const int64_t channels = conv ? cs.M : cs.N;
  const bool k_major = conv ? false : r.coin();
  Weights w = make_weights(r, cs.wt, channels, cs.K, k_major);
  std::vector<uint8_t> act;
  // kConv: B [K x N]; kFc: X [M x K], with one spare column to exercise the leading dimension.
  const int64_t ld = (conv ? cs.N : cs.K) + 1;
  act.assign(static_cast<size_t>((conv ? cs.K : cs.M) * ld), 0);
  for (auto& a : act) a = static_cast<uint8_t>(r.uni(0, 255));
  std::vector<int32_t> bias(static_cast<size_t>(channels));
  for (auto& b : bias) b = static_cast<int32_t>(r.uni(-20000, 20000));
  OutSetup os;
  make_output(r, os, cs.kind, cs.mode, channels, cs.K, cs.wt == QWeightType::kInt8);
  if (cs.custom_range) os.out.requant.out = cs.range;
  if (cs.big_mult) {
    for (auto& m : os.mult) m = make_requant_multiplier(r.coin() ? 0.5 + 0.25 * static_cast<double>(r.uni(0, 1)) : r.real(0.3, 0.99));
  }
  QGemmArgs g;
  g.form = cs.form;
  g.M = cs.M;
  g.N = cs.N;
  g.K = cs.K;
  g.act = act.data();
  g.ld_act = ld;
  g.act_signed = cs.act_signed;
  g.act_zero_point = cs.zero_zp ? 0 : static_cast<int32_t>(cs.act_signed ? r.uni(-128, 127) : r.uni(0, 255));
  g.bias = r.uni(0, 4) ? bias.data() : nullptr;
  g.out = os.out;
  const size_t elem = cs.kind == QOutKind::kRequant ? 1 : 4;
  const int64_t ldc = cs.N + 3;
  g.ldc = ldc;
  std::vector<uint8_t> want(static_cast<size_t>(cs.M * ldc) * elem, 0xAB);
  g.c = want.data();
  qgemm_ref(g, w.src);
  PackedQWeights pw = pack_qweights(cs.form, channels, cs.K, w.src);
  for (const QGemmIsa* isa : isa_families()) {
    for (int threads : {1, 2}) {
      ThreadPool pool(threads);
      QGemmPlan plan = plan_qgemm(*isa, cs.form, cs.M, cs.N, cs.K, 1, threads, cs.wt);
      std::vector<uint8_t> scratch(static_cast<size_t>(plan.scratch_bytes() + 64));
      uint8_t* aligned = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(scratch.data()) + 63) & ~uintptr_t{63});
      std::vector<uint8_t> got(want.size(), 0xAB);
      g.c = got.data();
      qgemm_packed(pool, plan, pw, g, aligned);
      require_same_bytes(got, want, elem, describe(g, cs.wt, *isa, threads));
    }
  }
}

const int64_t kSizes[] = {1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 47, 48, 49, 64, 65, 100};

}  // namespace

TEST_CASE("qgemm matches the reference over forms, types, outputs and sizes", "[qgemm]") {
  uint64_t seed = 1;
  const QOutKind kinds[] = {QOutKind::kRequant, QOutKind::kRequant, QOutKind::kInt32, QOutKind::kFloat};
  for (QForm form : {QForm::kConv, QForm::kFc}) {
    for (QWeightType wt : {QWeightType::kInt8, QWeightType::kInt4, QWeightType::kUint4}) {
      for (int ok = 0; ok < 4; ++ok) {
        for (bool act_signed : {false, true}) {
          Rng r(1000 + seed);
          for (int i = 0; i < 6; ++i) {
            Case cs;
            cs.form = form;
            cs.wt = wt;
            cs.kind = kinds[ok];
            cs.mode = ok == 1 ? RequantMode::kFixedPoint : RequantMode::kFloat;
            cs.act_signed = act_signed;
            cs.zero_zp = i % 3 == 0;
            const size_t ns = sizeof(kSizes) / sizeof(kSizes[0]);
            cs.M = kSizes[r.uni(0, ns - 1)];
            cs.N = kSizes[r.uni(0, ns - 1)];
            cs.K = kSizes[r.uni(0, ns - 1)];
            check_gemm(cs, ++seed);
          }
        }
      }
    }
  }
}

TEST_CASE("qgemm sweeps each dimension across the tile edges", "[qgemm]") {
  uint64_t seed = 77;
  for (QForm form : {QForm::kConv, QForm::kFc}) {
    for (int dim = 0; dim < 3; ++dim) {
      for (int64_t s : kSizes) {
        Rng r(seed);
        Case cs;
        cs.form = form;
        cs.wt = static_cast<QWeightType>(r.uni(0, 2));
        cs.kind = static_cast<QOutKind>(r.uni(0, 2));
        cs.mode = r.coin() ? RequantMode::kFixedPoint : RequantMode::kFloat;
        cs.act_signed = r.coin();
        cs.zero_zp = r.uni(0, 3) == 0;
        cs.M = dim == 0 ? s : r.uni(1, 20);
        cs.N = dim == 1 ? s : r.uni(1, 70);
        cs.K = dim == 2 ? s : r.uni(1, 70);
        check_gemm(cs, ++seed);
      }
    }
  }
  // Long K (several hundred quads) and a wide conv tile split across threads.
  check_gemm({QForm::kConv, 24, 200, 1001, QWeightType::kInt8, true, false, QOutKind::kRequant,
              RequantMode::kFixedPoint},
             9001);
  check_gemm({QForm::kConv, 9, 700, 37, QWeightType::kUint4, false, false, QOutKind::kFloat, RequantMode::kFloat},
             9002);
  check_gemm({QForm::kFc, 1, 1000, 517, QWeightType::kInt4, false, false, QOutKind::kRequant, RequantMode::kFloat},
             9003);
  check_gemm({QForm::kFc, 13, 300, 131, QWeightType::kUint4, true, false, QOutKind::kInt32, RequantMode::kFloat},
             9004);
}

TEST_CASE("qgemm short K, wide N: byte epilogues over clamp ranges and multipliers", "[qgemm]") {
  // The AVX-512 kConv epilogue packs 64 pixels per row to bytes with saturation and folds the
  // clamp into it when the range is the type's; fused Relu / Relu6 ranges, extreme zero points
  // and shifts below 32 take the other branches. N crosses several 64-pixel blocks and a tail.
  const RequantOutput ranges[] = {
      {0, 0, 255},     {255, 0, 255},   {37, 0, 255},    {0, -128, 127},   {-128, -128, 127}, {127, -128, 127},
      {5, 5, 255},     {20, 20, 120},   {-128, -128, -20}, {-3, -3, 127},  {-50, -10, 40},    {0, 0, 127},
      {200, 190, 210}, {-128, 0, 127},  {1000, 0, 255},  {-2000, -128, 127}, {7, 7, 7},
  };
  uint64_t seed = 7000;
  for (const RequantOutput& ro : ranges) {
    for (RequantMode mode : {RequantMode::kFloat, RequantMode::kFixedPoint}) {
      for (int variant = 0; variant < 3; ++variant) {
        Rng r(seed);
        Case cs{QForm::kConv, 0, 0, 0, QWeightType::kInt8, r.coin(), r.coin(), QOutKind::kRequant, mode};
        const int64_t Ks[] = {3, 16, 24, 32, 64};
        cs.K = Ks[r.uni(0, 4)];
        cs.M = variant == 2 ? r.uni(1, 12) : 8 * r.uni(1, 3);
        cs.N = variant == 0 ? 64 * r.uni(2, 5) : r.uni(65, 400);
        cs.wt = static_cast<QWeightType>(r.uni(0, 2));
        cs.custom_range = true;
        cs.range = ro;
        cs.big_mult = variant == 1;
        check_gemm(cs, ++seed);
      }
    }
  }
  // Long K with many pixels (the 4 x 64 blocks) and with few (8 x 48).
  check_gemm({QForm::kConv, 16, 300, 1000, QWeightType::kInt8, false, false, QOutKind::kRequant,
              RequantMode::kFixedPoint},
             7901);
  check_gemm({QForm::kConv, 13, 49, 900, QWeightType::kInt8, true, false, QOutKind::kRequant, RequantMode::kFloat},
             7902);
}

namespace {

struct ShapeLine {
  std::string form, name;
  int64_t M, N, K;
};
std::vector<ShapeLine> read_shapes() {
  const char* dir = std::getenv("QENGINE_SOURCE_DIR");
  std::string path = std::string(dir ? dir : ".") + "/test/data/shapes/qgemm_shapes.txt";
  std::ifstream f(path);
  std::vector<ShapeLine> v;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream is(line);
    ShapeLine s;
    if (is >> s.form >> s.M >> s.N >> s.K >> s.name) v.push_back(s);
  }
  return v;
}

}  // namespace

TEST_CASE("qgemm on the ResNet18 / MobileNetV2 shapes (N scaled down)", "[qgemm]") {
  std::vector<ShapeLine> shapes = read_shapes();
  REQUIRE(shapes.size() >= 30);
  uint64_t seed = 500;
  for (const ShapeLine& s : shapes) {
    INFO(s.name);
    Case cs;
    cs.form = s.form == "fc" ? QForm::kFc : QForm::kConv;
    cs.M = s.M;
    cs.N = cs.form == QForm::kConv ? std::min<int64_t>(s.N, 53) : s.N;
    cs.K = s.K;
    cs.wt = static_cast<QWeightType>(seed % 3);
    cs.kind = static_cast<QOutKind>(seed % 3);
    cs.mode = seed % 2 ? RequantMode::kFixedPoint : RequantMode::kFloat;
    cs.act_signed = seed % 4 == 1;
    cs.zero_zp = false;
    check_gemm(cs, ++seed);
  }
}

namespace {

struct ConvCase {
  int64_t batch, cin, cout, group, h, w, k, stride, dil, pad;
  int64_t depth = 1, kd = 1;  // 3-D: depth kernel kd, stride 1, padding kd / 2
  int64_t out_trim = 0;       // output rows / columns fewer than the padding allows (end pad < begin pad)
};

QConvParams conv_params(const ConvCase& cc) {
  QConvParams p;
  p.batch = cc.batch;
  p.in_channels = cc.cin;
  p.out_channels = cc.cout;
  p.group = cc.group;
  p.in[0] = cc.depth;
  p.in[1] = cc.h;
  p.in[2] = cc.w;
  p.kernel[0] = cc.kd;
  p.pad[0] = cc.kd / 2;
  p.kernel[1] = p.kernel[2] = cc.k;
  p.stride[1] = p.stride[2] = cc.stride;
  p.dilation[1] = p.dilation[2] = cc.dil;
  p.pad[1] = p.pad[2] = cc.pad;
  for (int i = 0; i < 3; ++i) p.out[i] = (p.in[i] + 2 * p.pad[i] - p.dilation[i] * (p.kernel[i] - 1) - 1) / p.stride[i] + 1;
  for (int i = 1; i < 3; ++i) p.out[i] = std::max<int64_t>(1, p.out[i] - cc.out_trim);
  return p;
}

void check_conv(const ConvCase& cc, uint64_t seed) {
  Rng r(seed);
  const QConvParams p = conv_params(cc);
  const int64_t K = p.gemm_k();
  const QWeightType wt = static_cast<QWeightType>(r.uni(0, 2));
  Weights w = make_weights(r, wt, p.out_channels, K, false);
  QConvInput in;
  std::vector<uint8_t> x(static_cast<size_t>(p.batch * p.in_channels * p.in_size()));
  for (auto& v : x) v = static_cast<uint8_t>(r.uni(0, 255));
  in.x = x.data();
  in.is_signed = r.coin();
  in.zero_point = static_cast<int32_t>(in.is_signed ? r.uni(-128, 127) : r.uni(0, 255));
  std::vector<int32_t> bias(static_cast<size_t>(p.out_channels));
  for (auto& b : bias) b = static_cast<int32_t>(r.uni(-5000, 5000));
  OutSetup os;
  const QOutKind kind = static_cast<QOutKind>(r.uni(0, 2));
  make_output(r, os, kind, r.coin() ? RequantMode::kFixedPoint : RequantMode::kFloat, p.out_channels, K,
              wt == QWeightType::kInt8);
  const size_t elem = kind == QOutKind::kRequant ? 1 : 4;
  const size_t n = static_cast<size_t>(p.batch * p.out_channels * p.out_size()) * elem;
  std::vector<uint8_t> want(n, 0xCD);
  qconv_ref(p, in, w.src, bias.data(), os.out, want.data());
  QConvWeights pw = pack_qconv_weights(p, w.src);
  for (const QGemmIsa* isa : isa_families()) {
    for (int threads : {1, 2}) {
      ThreadPool pool(threads);
      QConvPlan plan = plan_qconv(p, threads, isa);
      std::vector<uint8_t> scratch(static_cast<size_t>(plan.scratch_bytes() + 64));
      uint8_t* aligned = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(scratch.data()) + 63) & ~uintptr_t{63});
      std::vector<uint8_t> got(n, 0xCD);
      qconv(plan, pool, pw, in, bias.data(), os.out, got.data(), aligned);
      std::ostringstream what;
      what << isa->name << " threads=" << threads << " conv " << cc.cin << "->" << cc.cout << " g" << cc.group << " "
           << cc.depth << "x" << cc.h << "x" << cc.w << " k" << cc.kd << "x" << cc.k << " s" << cc.stride << " d" << cc.dil << " p" << cc.pad
           << " w=" << qweight_type_name(wt) << " out=" << qout_kind_name(kind) << (plan.pointwise ? " pointwise" : "");
      require_same_bytes(got, want, elem, what.str());
    }
  }
}

}  // namespace

TEST_CASE("qconv matches the direct loops", "[qconv]") {
  const ConvCase cases[] = {
      {1, 8, 16, 1, 9, 11, 1, 1, 1, 0},   // pointwise
      {2, 5, 7, 1, 13, 17, 1, 1, 1, 0},   // pointwise, odd channels, 2 images
      {1, 6, 10, 1, 9, 9, 1, 2, 1, 0},    // strided 1x1 (downsample)
      {1, 3, 16, 1, 15, 15, 3, 1, 1, 1},  // K = 27
      {2, 8, 12, 1, 11, 13, 3, 2, 1, 1},
      {1, 6, 9, 1, 13, 13, 3, 1, 2, 2},   // dilation 2
      {1, 8, 12, 2, 9, 7, 3, 1, 1, 1},    // groups 2
      {1, 10, 6, 2, 11, 9, 3, 2, 2, 3},   // groups, stride, dilation, big pad
      {1, 3, 8, 1, 23, 21, 7, 2, 1, 3},   // 7x7 stride 2 stem
      {1, 4, 5, 1, 5, 40, 3, 1, 1, 1},    // long rows: whole 16-pixel runs
      {1, 16, 33, 1, 7, 7, 3, 1, 1, 0},   // no padding, 5x5 output
      {2, 24, 48, 1, 112, 112, 1, 1, 1, 0},  // MobileNet v1 0.75's first pointwise: many pixel tiles
      {1, 64, 64, 1, 56, 56, 3, 1, 1, 1},    // a whole ResNet-style 3x3 layer
  };
  uint64_t seed = 3000;
  for (const ConvCase& c : cases) check_conv(c, ++seed);
}

TEST_CASE("qconv im2col fast path: ResNet / MobileNet geometries and edge cases", "[qconv]") {
  const ConvCase cases[] = {
      {1, 3, 16, 1, 64, 64, 7, 2, 1, 3},     // ResNet stem 7x7/2 pad 3, 32x32 out: several 1024-pixel chunks
      {1, 3, 8, 1, 66, 45, 3, 2, 1, 1},      // MobileNet stem 3x3/2, odd width, chunks
      {1, 16, 24, 1, 56, 56, 3, 1, 1, 1},    // layer1 size
      {1, 16, 16, 1, 56, 56, 3, 2, 1, 1},    // layer2 3x3/2 from 56
      {1, 32, 24, 1, 28, 28, 3, 1, 1, 1},    // 28x28: panels wrap rows
      {1, 16, 40, 1, 56, 56, 1, 2, 1, 0},    // 1x1/2 downsample
      {1, 64, 48, 1, 14, 14, 3, 1, 1, 1},    // 14x14
      {1, 48, 64, 1, 14, 14, 3, 2, 1, 1},    // 14 -> 7
      {1, 40, 72, 1, 14, 14, 1, 2, 1, 0},    // 1x1/2 14 -> 7
      {1, 96, 40, 1, 7, 7, 3, 1, 1, 1},      // 7x7, K = 864
      {2, 9, 17, 1, 7, 7, 3, 1, 1, 1},       // 7x7, 2 images, quads straddle channels
      {1, 5, 9, 1, 13, 1, 3, 1, 1, 1},       // width 1: one pixel per output row
      {1, 4, 8, 1, 1, 37, 3, 1, 1, 1},       // height 1
      {1, 6, 8, 1, 17, 19, 3, 3, 1, 2},      // stride 3 (the generic strided run)
      {1, 6, 8, 1, 21, 19, 3, 2, 2, 2},      // stride 2, dilation 2
      {1, 5, 8, 1, 9, 10, 3, 1, 1, 4},       // padding wider than the kernel reach
      {1, 7, 8, 1, 19, 23, 5, 1, 1, 2, 1, 1, 3},  // 5x5 with the output trimmed (end pad < begin pad)
      {1, 4, 8, 2, 11, 12, 3, 2, 1, 1, 1, 1, 1},  // groups, trimmed
      {1, 4, 8, 1, 7, 9, 3, 1, 1, 1, 5, 3},  // 3-D: the generic packer
  };
  uint64_t seed = 4000;
  for (const ConvCase& c : cases) check_conv(c, ++seed);
}

TEST_CASE("qconv im2col: fast packer matches the lane-by-lane packer on any pixel range", "[qconv]") {
  const ConvCase cases[] = {
      {1, 3, 8, 1, 80, 80, 7, 2, 1, 3},   {1, 10, 8, 1, 56, 56, 3, 1, 1, 1}, {1, 13, 8, 1, 28, 28, 3, 2, 1, 1},
      {1, 11, 8, 1, 7, 7, 3, 1, 1, 1},    {1, 9, 8, 1, 14, 14, 1, 2, 1, 0},  {1, 6, 8, 1, 23, 17, 3, 3, 2, 3},
      {1, 5, 8, 1, 40, 3, 3, 1, 1, 1},    {1, 6, 8, 1, 19, 23, 5, 1, 1, 2, 1, 1, 3},
  };
  Rng r(77);
  for (const ConvCase& cc : cases) {
    const QConvParams p = conv_params(cc);
    for (bool is_signed : {false, true}) {
      std::vector<uint8_t> x(static_cast<size_t>(p.in_channels * p.in_size()));
      for (auto& v : x) v = static_cast<uint8_t>(r.uni(0, 255));
      QConvInput in;
      in.x = x.data();
      in.is_signed = is_signed;
      in.zero_point = static_cast<int32_t>(is_signed ? r.uni(-128, 127) : r.uni(0, 255));
      // Each vector form of the packer: scalar, AVX-512 interleave, AVX-512 VBMI byte permutes.
      std::vector<std::pair<IsaLevel, bool>> forms = {{IsaLevel::kScalar, false}};
      if (cpu_features().avx512) forms.push_back({IsaLevel::kAvx512, false});
      if (cpu_features().avx512 && cpu_features().avx512_vbmi) forms.push_back({IsaLevel::kAvx512, true});
      for (const auto& [level, permute] : forms) {
      QConvPlan plan = plan_qconv(p, 1);
      plan.pack_level = level;
      plan.pack_permute = permute;
      const QIm2colPacker packer(plan, in);
      const int64_t K = p.gemm_k(), quads = (K + 3) / 4, P = p.out_size();
      for (int trial = 0; trial < 6; ++trial) {
        // Task ranges start on a panel; lengths cross the packer's chunks and end mid-panel.
        const int64_t r0 = r.uni(0, (P - 1) / 16) * 16, rc = r.uni(1, std::min<int64_t>(P - r0, 2500));
        const int64_t bytes = (rc + 15) / 16 * quads * 64;
        std::vector<uint8_t> got(static_cast<size_t>(bytes), 0xCD), want(static_cast<size_t>(bytes), 0xCD);
        packer.pack(0, r0, rc, quads, got.data());
        packer.pack_generic(0, r0, rc, quads, want.data());
        for (int64_t i = 0; i < bytes; ++i) {
          const int64_t panel = i / (quads * 64), q = i / 64 % quads, lane = i % 64 / 4, j = i % 4;
          if (panel * 16 + lane >= rc || q * 4 + j >= K) continue;  // padding lanes / K rows hold anything
          if (got[static_cast<size_t>(i)] != want[static_cast<size_t>(i)]) {
            FAIL(isa_level_name(level) << (permute ? " permute" : "") << " conv " << cc.cin << " " << cc.h << "x" << cc.w << " k" << cc.k << " s"
                                       << cc.stride << " r0=" << r0 << " rc=" << rc << ": pixel "
                                       << r0 + panel * 16 + lane << " k " << q * 4 + j);
          }
        }
      }
      }
    }
  }
}

TEST_CASE("requantize: fixed-point multipliers and half-even shifts", "[requantize]") {
  Rng r(42);
  RequantOutput wide{0, -2000000000, 2000000000};
  for (int i = 0; i < 20000; ++i) {
    const double m = std::exp(r.real(std::log(1e-7), std::log(0.9)));
    const RequantMultiplier rm = make_requant_multiplier(m);
    REQUIRE(rm.fx_mult >= (1 << 30));
    REQUIRE(rm.fx_shift >= 1);
    REQUIRE(rm.fx_shift <= 62);
    const double back = std::ldexp(static_cast<double>(rm.fx_mult), -rm.fx_shift);
    REQUIRE(std::abs(back - m) <= m * 1e-9);
    // |acc * m| below 2^20 keeps the fp32 product's own rounding error under 1/8.
    const int64_t lim = static_cast<int64_t>(std::min(2e9, 1048576.0 / m));
    const int32_t acc = static_cast<int32_t>(r.uni(-lim, lim));
    const int32_t fx = requantize_fixed_ref(acc, rm.fx_mult, rm.fx_shift, wide);
    const int32_t fl = requantize_float_ref(acc, rm.m, wide);
    INFO("acc=" << acc << " m=" << m);
    REQUIRE(std::abs(static_cast<int64_t>(fx) - fl) <= 1);
  }
  // Ties go to the even neighbour, everything else to the nearest.
  for (int n = 1; n <= 20; ++n) {
    for (int64_t q = -50; q <= 50; ++q) {
      const int64_t tie = (2 * q + 1) * (int64_t{1} << (n - 1));
      const int64_t even = (q % 2 == 0) ? q : q + 1;
      REQUIRE(round_shift_half_even(tie, n) == even);
      REQUIRE(round_shift_half_even(tie + 1, n) == q + 1);
      REQUIRE(round_shift_half_even(tie - 1, n) == q);
    }
  }
  for (int i = 0; i < 20000; ++i) {
    const int n = static_cast<int>(r.uni(20, 45));  // results within int32
    const int64_t v = r.uni(-(int64_t{1} << 50), int64_t{1} << 50);
    REQUIRE(round_shift_half_even(v, n) == static_cast<int64_t>(std::nearbyint(std::ldexp(static_cast<double>(v), -n))));
  }
}
