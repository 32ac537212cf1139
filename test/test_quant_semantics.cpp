// Quantizer semantics against hand-computed numbers (QONNX Quant / BipolarQuant / FloatQuant /
// Trunc, ONNX QuantizeLinear / DequantizeLinear). Every expected value is worked out in the
// comment next to it from the formulas in docs QUANTIZATION.md, never by the code under test.
// FakeQuant and Trunc run as real graphs (add_fake_quant / a Trunc node in a Session); the ONNX
// ops through run_single_op. Also: QuantParams round trips and the errors bad parameters give.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/evaluate.h"
#include "engine/session.h"
#include "graph/quant_params.h"
#include "graph/schema.h"

using namespace qe;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

Tensor tensor(Shape s, std::vector<float> v) { return Tensor::from_vector(std::move(s), v); }
Tensor vec(std::vector<float> v) { return tensor(Shape{static_cast<int64_t>(v.size())}, v); }

QuantParams int_params(int bits, bool is_signed, bool narrow, Tensor scale, Tensor zero_point = Tensor(),
                       RoundingMode r = RoundingMode::kHalfEven) {
  QuantParams p;
  p.kind = QuantKind::kInt;
  p.bits = bits;
  p.is_signed = is_signed;
  p.narrow = narrow;
  p.rounding = r;
  p.scale = std::move(scale);
  p.zero_point = zero_point.defined() ? zero_point : Tensor(DType::kF32, p.scale.shape());
  return p;
}

// x -> FakeQuant -> y as a graph run by a Session.
Result<std::vector<float>> try_fake_quant(const Tensor& x, const QuantParams& p, int threads = 1) {
  Graph g;
  ValueId in = g.add_value("x", DType::kF32, x.shape(), true);
  g.add_input(in);
  QE_ASSIGN_OR_RETURN(ValueId out, add_fake_quant(g, in, p, "fq"));
  g.add_output(out);
  SessionOptions so;
  so.num_threads = threads;
  QE_ASSIGN_OR_RETURN(auto session, Session::create(std::move(g), so));
  QE_ASSIGN_OR_RETURN(std::vector<Tensor> y, session->run({x}));
  return std::vector<float>(y[0].data<float>(), y[0].data<float>() + y[0].numel());
}

std::vector<float> fake_quant(const Tensor& x, const QuantParams& p, int threads = 1) {
  auto r = try_fake_quant(x, p, threads);
  INFO(r.status().to_string());
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

// Equal as numbers, NaN equal to NaN; the sign of zero is checked where a test cares.
void check_values(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << ", want " << want[i]);
    if (std::isnan(want[i])) {
      CHECK(std::isnan(got[i]));
    } else {
      CHECK(got[i] == want[i]);
    }
  }
}

}  // namespace

TEST_CASE("Quant int8: half-even rounding, ties, clipping at both ends") {
  // scale 0.5, zp 0, signed 8-bit: grid [-128, 127].
  // x/s = 0.5, 1.5, 2.5, -0.5, -1.5, 200, -200, 0.2  -> half even 0, 2, 2, -0, -2, clip 127,
  // clip -128, 0  -> times 0.5.
  auto y = fake_quant(vec({0.25f, 0.75f, 1.25f, -0.25f, -0.75f, 100.f, -100.f, 0.1f}),
                      int_params(8, true, false, scalar_tensor(0.5f)));
  check_values(y, {0.f, 1.f, 1.f, 0.f, -1.f, 63.5f, -64.f, 0.f});
  CHECK(std::signbit(y[3]));  // -0.25 / 0.5 = -0.5 rounds to -0, as numpy's round does
}

TEST_CASE("Quant narrow and unsigned grids") {
  SECTION("signed narrow 8-bit: [-127, 127]") {
    // -100 / 0.5 = -200 -> -127 -> -63.5; 100 / 0.5 = 200 -> 127 -> 63.5
    check_values(fake_quant(vec({-100.f, 100.f}), int_params(8, true, true, scalar_tensor(0.5f))), {-63.5f, 63.5f});
  }
  SECTION("unsigned 4-bit: [0, 15]") {
    // scale 0.25: x/s = -4, 1.2000000477 (0.3f), 15.6 (3.9f), 40 -> round -4, 1, 16, 40
    // -> clip 0, 1, 15, 15 -> 0, 0.25, 3.75, 3.75
    check_values(fake_quant(vec({-1.f, 0.3f, 3.9f, 10.f}), int_params(4, false, false, scalar_tensor(0.25f))),
                 {0.f, 0.25f, 3.75f, 3.75f});
  }
  SECTION("unsigned narrow 4-bit: [0, 14]") {
    // 3.9 / 0.25 = 15.6 -> 16 -> 14 -> 3.5
    check_values(fake_quant(vec({3.9f, -1.f}), int_params(4, false, true, scalar_tensor(0.25f))), {3.5f, 0.f});
  }
  SECTION("signed 2-bit: [-2, 1]") {
    // scale 1: 1.4 -> 1; 1.6 -> 2 -> 1; -2.6 -> -3 -> -2; -1.5 -> -2
    check_values(fake_quant(vec({1.4f, 1.6f, -2.6f, -1.5f}), int_params(2, true, false, scalar_tensor(1.f))),
                 {1.f, 1.f, -2.f, -2.f});
  }
  SECTION("1-bit integer grids: signed [-1, 0], unsigned [0, 1]") {
    // 0.6 -> 1, -0.6 -> -1, 2 -> 2
    check_values(fake_quant(vec({0.6f, -0.6f, 2.f}), int_params(1, true, false, scalar_tensor(1.f))), {0.f, -1.f, 0.f});
    check_values(fake_quant(vec({0.6f, -0.6f, 2.f}), int_params(1, false, false, scalar_tensor(1.f))), {1.f, 0.f, 1.f});
  }
}

TEST_CASE("Quant with zero points, including negative ones") {
  SECTION("uint8, scale 0.5, zp 10") {
    // x/s + zp = 0, -0.5, 12, 410, -2 -> round 0, -0, 12, 410, -2 -> clip [0, 255]: 0, -0, 12,
    // 255, 0 -> (q - 10) * 0.5 = -5, -5, 1, 122.5, -5
    check_values(fake_quant(vec({-5.f, -5.25f, 1.f, 200.f, -6.f}),
                            int_params(8, false, false, scalar_tensor(0.5f), scalar_tensor(10.f))),
                 {-5.f, -5.f, 1.f, 122.5f, -5.f});
  }
  SECTION("int8, scale 1, zp -3") {
    // x + zp = -0.5, -129, 127, 4.5 -> round -0, -129, 127, 4 -> clip: -0, -128, 127, 4
    // -> q + 3 = 3, -125, 130, 7
    check_values(fake_quant(vec({2.5f, -126.f, 130.f, 7.5f}),
                            int_params(8, true, false, scalar_tensor(1.f), scalar_tensor(-3.f))),
                 {3.f, -125.f, 130.f, 7.f});
  }
  SECTION("the zero point is added before rounding") {
    // 1.5 / 1 + 1 = 2.5 -> half even 2 -> (2 - 1) * 1 = 1; rounding first would give
    // round(1.5) + 1 = 3 -> 2.
    check_values(fake_quant(vec({1.5f}), int_params(8, true, false, scalar_tensor(1.f), scalar_tensor(1.f))), {1.f});
  }
}

TEST_CASE("Quant: every rounding mode on the QONNX table") {
  // The rounding-mode table of the QONNX IntQuant spec; scale 1 so x / s = x.
  const std::vector<float> x = {5.5f, 2.5f, 1.6f, 1.1f, 1.0f, -1.0f, -1.1f, -1.6f, -2.5f, -5.5f};
  struct Row {
    RoundingMode mode;
    std::vector<float> want;
  };
  const std::vector<Row> rows = {
      {RoundingMode::kHalfEven, {6, 2, 2, 1, 1, -1, -1, -2, -2, -6}},
      {RoundingMode::kCeil, {6, 3, 2, 2, 1, -1, -1, -1, -2, -5}},
      {RoundingMode::kFloor, {5, 2, 1, 1, 1, -1, -2, -2, -3, -6}},
      {RoundingMode::kUp, {6, 3, 2, 2, 1, -1, -2, -2, -3, -6}},
      {RoundingMode::kDown, {5, 2, 1, 1, 1, -1, -1, -1, -2, -5}},
      {RoundingMode::kHalfUp, {6, 3, 2, 1, 1, -1, -1, -2, -3, -6}},
      {RoundingMode::kHalfDown, {5, 2, 2, 1, 1, -1, -1, -2, -2, -5}},
  };
  for (const Row& r : rows) {
    INFO("mode " << rounding_mode_name(r.mode));
    check_values(fake_quant(vec(x), int_params(8, true, false, scalar_tensor(1.f), Tensor(), r.mode)), r.want);
    // The same ties after a division: x * 0.25 / 0.25 is exact, results scale by 0.25.
    std::vector<float> xq, wq;
    for (size_t i = 0; i < x.size(); ++i) {
      xq.push_back(x[i] * 0.25f);
      wq.push_back(r.want[i] * 0.25f);
    }
    check_values(fake_quant(vec(xq), int_params(8, true, false, scalar_tensor(0.25f), Tensor(), r.mode)), wq);
  }
  // "HALF_EVEN" is another spelling of ROUND.
  auto m = parse_rounding_mode("half_even");
  REQUIRE(m.is_ok());
  CHECK(*m == RoundingMode::kHalfEven);
}

TEST_CASE("Quant per-channel broadcasting") {
  SECTION("scale [1,3,1] on x [2,3,2], signed 4-bit [-8, 7]") {
    // c0 s=1:    0.4->0, 9->7, -0.6->-1, 2.5->2 (even)
    // c1 s=0.5:  0.4/.5=0.8->1 =0.5, -9/.5=-18->-8 =-4, 1.25/.5=2.5->2 =1, 3.3/.5=6.6->7 =3.5
    // c2 s=0.25: 0.4/.25=1.6->2 =0.5, 1.1/.25=4.4->4 =1, -0.125/.25=-0.5->-0, -3/.25=-12->-8 =-2
    Tensor x = tensor(Shape{2, 3, 2}, {0.4f, 9.f, 0.4f, -9.f, 0.4f, 1.1f, -0.6f, 2.5f, 1.25f, 3.3f, -0.125f, -3.f});
    auto y = fake_quant(x, int_params(4, true, false, tensor(Shape{1, 3, 1}, {1.f, 0.5f, 0.25f})));
    check_values(y, {0.f, 7.f, 0.5f, -4.f, 0.5f, 1.f, -1.f, 2.f, 1.f, 3.5f, -0.f, -2.f});
  }
  SECTION("conv weight (C,1,1,1) with per-channel zero points") {
    // x [2,1,1,3]; c0: s=1, zp=0; c1: s=2, zp=-1 (unsigned 8-bit would clip; use signed 8-bit)
    // c0: 1.4->1, -2.5->-2, 300->127
    // c1: 3/2-1=0.5->0 -> (0+1)*2 = 2; -7/2-1=-4.5->-4 -> -6; 1000/2-1=499->127 -> 256
    Tensor x = tensor(Shape{2, 1, 1, 3}, {1.4f, -2.5f, 300.f, 3.f, -7.f, 1000.f});
    auto y = fake_quant(
        x, int_params(8, true, false, tensor(Shape{2, 1, 1, 1}, {1.f, 2.f}), tensor(Shape{2, 1, 1, 1}, {0.f, -1.f})));
    check_values(y, {1.f, -2.f, 127.f, 2.f, -6.f, 256.f});
  }
  SECTION("channels last: scale [3] on x [2,3] (one scale per element of a row)") {
    // s = 1, 0.5, 2; 8-bit signed.  row0: 0.7->1, 0.7/.5=1.4->1 =0.5, 5/2=2.5->2 =4
    // row1: -0.5->-0, -0.75/.5=-1.5->-2 =-1, 7/2=3.5->4 =8
    auto y = fake_quant(tensor(Shape{2, 3}, {0.7f, 0.7f, 5.f, -0.5f, -0.75f, 7.f}),
                        int_params(8, true, false, vec({1.f, 0.5f, 2.f})));
    check_values(y, {1.f, 0.5f, 4.f, -0.f, -1.f, 8.f});
  }
  SECTION("per-group scales expanded over two axes: scale [2,1,2] on x [2,2,2]") {
    // The varying dims (0 and 2) are not adjacent: the index-mapping path.
    // scale[a][0][c]: a0: (1, 0.5), a1: (0.25, 2). x[a][b][c], 4-bit signed [-8, 7].
    // a0b0: 1.4/1->1 =1, 1.4/.5=2.8->3 =1.5;   a0b1: -2/1 =-2, 10/.5=20->7 =3.5
    // a1b0: 1/.25=4 =1, 3/2=1.5->2 =4;         a1b1: -5/.25=-20->-8 =-2, -3/2=-1.5->-2 =-4
    Tensor x = tensor(Shape{2, 2, 2}, {1.4f, 1.4f, -2.f, 10.f, 1.f, 3.f, -5.f, -3.f});
    auto y = fake_quant(x, int_params(4, true, false, tensor(Shape{2, 1, 2}, {1.f, 0.5f, 0.25f, 2.f})));
    check_values(y, {1.f, 1.5f, -2.f, 3.5f, 1.f, 4.f, -2.f, -4.f});
  }
  SECTION("scale and zero point of different broadcast shapes") {
    // scale [2,1] = (1, 2), zp [1,2] = (0, 1), x [2,2], 8-bit signed:
    // (0,0): 0.5+0=0.5->0 =0; (0,1): 0.5+1=1.5->2 -> (2-1)*1 = 1
    // (1,0): 3/2+0=1.5->2 =4; (1,1): 3/2+1=2.5->2 -> (2-1)*2 = 2
    auto y = fake_quant(tensor(Shape{2, 2}, {0.5f, 0.5f, 3.f, 3.f}),
                        int_params(8, true, false, tensor(Shape{2, 1}, {1.f, 2.f}), tensor(Shape{1, 2}, {0.f, 1.f})));
    check_values(y, {0.f, 1.f, 4.f, 2.f});
  }
}

TEST_CASE("Quant 16- and 32-bit grids (bias) are exact") {
  const float s = 1.f / 1024.f;
  // 1000.3f = 1000.29998779296875; * 1024 = 1024307.1875 -> 1024307 -> /1024 = 1000.2998046875
  // 3e6 * 1024 = 3.072e9 > 2^31-1 -> 2147483647 / 1024 = 2097151.999..., nearest float 2097152
  // -3e6 -> -2147483648 / 1024 = -2097152
  check_values(fake_quant(vec({1000.3f, 3e6f, -3e6f}), int_params(32, true, false, scalar_tensor(s))),
               {1000.2998046875f, 2097152.f, -2097152.f});
  // 16-bit: 40 * 1024 = 40960 > 32767 -> 32767/1024 = 31.9990234375; -40 -> -32768/1024 = -32
  check_values(fake_quant(vec({40.f, -40.f}), int_params(16, true, false, scalar_tensor(s))), {31.9990234375f, -32.f});
  // 24-bit unsigned near the top: 16777215 * 1 stays, 16777216 clips to 2^24 - 1 = 16777215
  check_values(fake_quant(vec({16777215.f, 16777216.f}), int_params(24, false, false, scalar_tensor(1.f))),
               {16777215.f, 16777215.f});
}

TEST_CASE("Quant special values: NaN stays NaN, infinities clip") {
  // scale 0.5, signed 8-bit: +inf -> 127 * 0.5 = 63.5, -inf -> -128 * 0.5 = -64
  check_values(fake_quant(vec({kNaN, kInf, -kInf}), int_params(8, true, false, scalar_tensor(0.5f))),
               {kNaN, 63.5f, -64.f});
}

TEST_CASE("BipolarQuant: sign times scale, per tensor and per channel") {
  QuantParams p;
  p.kind = QuantKind::kBipolar;
  p.bits = 1;
  p.scale = scalar_tensor(0.5f);
  // x >= 0 -> +s (including +0 and -0), else -s; NaN >= 0 is false -> -s
  check_values(fake_quant(vec({0.3f, -0.2f, 0.f, -0.f, -5.f, kNaN}), p), {0.5f, -0.5f, 0.5f, 0.5f, -0.5f, -0.5f});
  p.scale = tensor(Shape{2, 1}, {1.f, 3.f});
  // row 0 scale 1: (1, -1); row 1 scale 3: (-2 -> -3, 0 -> 3)
  check_values(fake_quant(tensor(Shape{2, 2}, {1.f, -1.f, -2.f, 0.f}), p), {1.f, -1.f, -3.f, 3.f});
}

TEST_CASE("FloatQuant minifloat: FP8 e4m3 and e5m2") {
  QuantParams p;
  p.kind = QuantKind::kFloat;
  p.bits = 8;
  p.scale = scalar_tensor(1.f);
  p.minifloat = MinifloatFormat::e4m3();  // bias 7, m 3, max 448, NaN, subnormals, saturating
  SECTION("e4m3 normal range, ties, saturation") {
    // 0.3 = 1.2 * 2^-2: step 2^(-2-3) = 1/32; 0.3 * 32 = 9.6 -> 10 -> 0.3125
    // 464 = 14.5 * 32 (2^8 range, step 2^5): half even -> 14 -> 448 (not above max)
    // 470 / 32 = 14.69 -> 15 -> 480 > 448 -> saturates to 448; -1000 -> -448
    // 1.0625 = 1 + 1/16: step 1/8, 8.5 -> 8 -> 1.0;  1.1875 = 9.5 / 8 -> 10 -> 1.25
    check_values(fake_quant(vec({0.3f, 464.f, 470.f, -1000.f, 1.0625f, 1.1875f, 0.f, kNaN, kInf}), p),
                 {0.3125f, 448.f, 448.f, -448.f, 1.f, 1.25f, 0.f, kNaN, 448.f});
  }
  SECTION("e4m3 subnormals and their absence") {
    // smallest normal 2^(1-7) = 2^-6; subnormal step 2^(-6-3) = 2^-9
    // 0.003 = 1.536 * 2^-9 -> step 2^-9: 1.536 -> 2 -> 2^-8 = 0.00390625
    // 0.0009 / 2^-9 = 0.4608 -> 0
    // 0.02 = 1.28 * 2^-6 (normal): step 2^-9: 10.24 -> 10 -> 0.01953125
    const std::vector<float> x = {0.003f, 0.0009f, 0.02f, 0.01f, -0.003f};
    check_values(fake_quant(vec(x), p), {0.00390625f, 0.f, 0.01953125f, 0.009765625f, -0.00390625f});
    // 0.01 with subnormals: 1.28 * 2^-7 -> step 2^-9: 5.12 -> 5 -> 5/512 = 0.009765625 (above)
    // Without subnormals the range below 2^-6 is one step of 2^-6:
    // 0.003 * 64 = 0.192 -> 0; 0.0009 -> 0; 0.01 * 64 = 0.64 -> 1 -> 0.015625; 0.02 normal as before
    p.minifloat.has_subnormal = false;
    auto y = fake_quant(vec(x), p);
    check_values(y, {0.f, 0.f, 0.01953125f, 0.015625f, -0.f});
    CHECK(std::signbit(y[4]));
  }
  SECTION("non-saturating: NaN when the format has no infinity, inf when it has") {
    p.minifloat.saturation = false;  // e4m3fn: has_nan, no inf
    check_values(fake_quant(vec({1000.f, 448.f, kInf}), p), {kNaN, 448.f, kNaN});
    p.minifloat = MinifloatFormat::e5m2();  // bias 15, m 2, max 57344, has_inf
    p.minifloat.saturation = false;
    // 62000 = 1.89 * 2^15: step 2^13: 7.57 -> 8 -> 65536 > 57344 -> inf
    check_values(fake_quant(vec({62000.f, -62000.f, kInf}), p), {kInf, -kInf, kInf});
  }
  SECTION("e5m2 with a scale") {
    p.minifloat = MinifloatFormat::e5m2();
    p.scale = scalar_tensor(2.f);
    // 0.6 / 2 = 0.3 = 1.2 * 2^-2: step 2^-4: 4.8 -> 5 -> 0.3125 -> * 2 = 0.625
    // 120000 / 2 = 60000 = 1.83 * 2^15: step 2^13: 7.32 -> 7 -> 57344 -> 114688
    // 124000 / 2 = 62000 -> 65536 > 57344 -> saturate 57344 -> 114688
    check_values(fake_quant(vec({0.6f, 120000.f, 124000.f}), p), {0.625f, 114688.f, 114688.f});
  }
}

namespace {

// x -> Trunc(x, scale, zp, in_bits, out_scale, out_bits) -> y as a graph run by a Session.
std::vector<float> run_trunc(const std::vector<float>& x, float scale, float zp, float in_bits, float out_scale,
                             float out_bits, const std::string& rounding, int version, bool is_signed = true,
                             bool v1_in_v2_slots = false) {
  Graph g;
  ValueId in = g.add_value("x", DType::kF32, Shape{static_cast<int64_t>(x.size())}, true);
  g.add_input(in);
  std::vector<ValueId> ins = {in, g.add_constant("s", scalar_tensor(scale)), g.add_constant("z", scalar_tensor(zp)),
                              g.add_constant("ib", scalar_tensor(in_bits))};
  if (version == 2) ins.push_back(g.add_constant("os", scalar_tensor(out_scale)));
  if (v1_in_v2_slots) ins.push_back(kNoValue);  // v1 laid out in the v2 positions, out_scale empty
  ins.push_back(g.add_constant("ob", scalar_tensor(out_bits)));
  ValueId out = g.add_value("y");
  Attributes a;
  a.set("rounding_mode", rounding);
  a.set("version", int64_t{version});
  a.set("signed", int64_t{is_signed ? 1 : 0});
  g.add_node(OpKind::kTrunc, "trunc", ins, {out}, a);
  g.add_output(out);
  auto s = Session::create(std::move(g));
  INFO(s.status().to_string());
  REQUIRE(s.is_ok());
  auto y = (*s)->run({vec(x)});
  INFO(y.status().to_string());
  REQUIRE(y.is_ok());
  return std::vector<float>((*y)[0].data<float>(), (*y)[0].data<float>() + x.size());
}

}  // namespace

TEST_CASE("Trunc v2 and v1 (quantized average pooling)") {
  // Sum of a 2x2 window on a grid of scale 0.5; out_scale 2 -> t = 2^round(log2(2 / 0.5)) = 4.
  // v = round(x / 0.5) = 6, 7, -7, 1000, -1; v / 4 = 1.5, 1.75, -1.75, 250, -0.25
  const std::vector<float> x = {3.f, 3.5f, -3.5f, 500.f, -0.5f};
  SECTION("v2 FLOOR, signed 8-bit output grid") {
    // clip to [-128, 127]: 1.5, 1.75, -1.75, 127, -0.25 -> floor 1, 1, -2, 127, -1 -> * 2
    check_values(run_trunc(x, 0.5f, 0.f, 10.f, 2.f, 8.f, "FLOOR", 2), {2.f, 2.f, -4.f, 254.f, -2.f});
  }
  SECTION("v2 ROUND") {
    // half even: 2, 2, -2, 127, -0 -> * 2
    check_values(run_trunc(x, 0.5f, 0.f, 10.f, 2.f, 8.f, "ROUND", 2), {4.f, 4.f, -4.f, 254.f, 0.f});
  }
  SECTION("v2 unsigned with a zero point") {
    // zp 8: v = round(x / 0.5 + 8) = 14, 1 (for 3, -3.5); / 4 = 3.5, 0.25 -> floor 3, 0
    // -> (y - 8 / 4) * 2 = 2, -4
    check_values(run_trunc({3.f, -3.5f}, 0.5f, 8.f, 10.f, 2.f, 8.f, "FLOOR", 2, false), {2.f, -4.f});
  }
  SECTION("v1: shift by in_bits - out_bits, keep the input scale, no clipping") {
    // t = 2^(10 - 8) = 4: floor(1.5, 1.75, -1.75, 250, -0.25) = 1, 1, -2, 250, -1 -> * 0.5
    check_values(run_trunc(x, 0.5f, 0.f, 10.f, 0.f, 8.f, "FLOOR", 1), {0.5f, 0.5f, -1.f, 125.f, -0.5f});
    check_values(run_trunc(x, 0.5f, 0.f, 10.f, 0.f, 8.f, "FLOOR", 1, true, true), {0.5f, 0.5f, -1.f, 125.f, -0.5f});
    // in_bits 12, out_bits 8: t = 16; floor(6/16, 7/16, -7/16, 1000/16, -1/16) = 0, 0, -1, 62, -1
    check_values(run_trunc(x, 0.5f, 0.f, 12.f, 0.f, 8.f, "FLOOR", 1), {0.f, 0.f, -0.5f, 31.f, -0.5f});
  }
}

namespace {

SingleOpResult run_op(OpKind op, const std::vector<Tensor>& in, const Attributes& attrs = {}, int threads = 1,
                      const std::vector<bool>& constant = {}) {
  auto r = run_single_op(op, in, attrs, 1, threads, constant);
  INFO(op_name(op) << ": " << r.status().to_string());
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

template <typename T>
Tensor ints(Shape s, std::vector<T> v) {
  return Tensor::from_vector(std::move(s), v);
}

std::vector<double> as_doubles(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(read_element_as_double(t.raw(), t.dtype(), i));
  return v;
}

Tensor int4_tensor(DType t, Shape s, const std::vector<int>& v) {
  Tensor out(t, std::move(s));
  for (size_t i = 0; i < v.size(); ++i) int4_set(out.data<uint8_t>(), static_cast<int64_t>(i), v[i]);
  return out;
}

}  // namespace

TEST_CASE("QuantizeLinear: saturating half-even to every integer container") {
  SECTION("default uint8, no zero point") {
    // rint(0, 1.5, 2.5, -1, 300) = 0, 2, 2, -1, 300 -> saturate [0, 255]
    auto r = run_op(OpKind::kQuantizeLinear, {vec({0.f, 1.5f, 2.5f, -1.f, 300.f}), scalar_tensor(1.f)});
    REQUIRE(r.outputs[0].dtype() == DType::kU8);
    CHECK(as_doubles(r.outputs[0]) == std::vector<double>{0, 2, 2, 0, 255});
  }
  SECTION("int8 with zero point -1, scale 2") {
    // rint(1.5) - 1 = 1; rint(-150) - 1 = -151 -> -128; rint(2.5) - 1 = 1; NaN -> zero point -1;
    // 1e10 / 2 and -inf saturate to 127 and -128; 16777215 / 2 = 8388607.5 -> 8388608 -> 127
    auto r = run_op(OpKind::kQuantizeLinear, {vec({3.f, -300.f, 5.f, kNaN, 1e10f, -kInf, 16777215.f}),
                                              scalar_tensor(2.f), Tensor::scalar<int8_t>(-1)});
    REQUIRE(r.outputs[0].dtype() == DType::kI8);
    CHECK(as_doubles(r.outputs[0]) == std::vector<double>{1, -128, 1, -1, 127, -128, 127});
  }
  SECTION("per axis (axis 1)") {
    // scale (1, 2, 4), zp int8 (0, 1, -1); x [[1, 2, 4], [-1.5, 5, -10]]
    // col0: 1, rint(-1.5) = -2; col1: rint(1)+1 = 2, rint(2.5)+1 = 3; col2: 1-1 = 0, rint(-2.5)-1 = -3
    Attributes a;
    a.set("axis", int64_t{1});
    auto r = run_op(OpKind::kQuantizeLinear,
                    {tensor(Shape{2, 3}, {1.f, 2.f, 4.f, -1.5f, 5.f, -10.f}), vec({1.f, 2.f, 4.f}),
                     ints<int8_t>(Shape{3}, {0, 1, -1})},
                    a);
    CHECK(as_doubles(r.outputs[0]) == std::vector<double>{1, 2, 0, -2, 3, -3});
  }
  SECTION("int4 packed, two per byte, odd tail padded with 0") {
    // rint(1, -9, 7.5, 3, -2) = 1, -9, 8, 3, -2 -> saturate [-8, 7] = 1, -8, 7, 3, -2
    // bytes: 1 | (-8 & 15) << 4 = 0x81; 7 | 3 << 4 = 0x37; (-2 & 15) = 0x0E | 0 << 4
    auto r = run_op(OpKind::kQuantizeLinear,
                    {vec({1.f, -9.f, 7.5f, 3.f, -2.f}), scalar_tensor(1.f), int4_tensor(DType::kI4, Shape{}, {0})});
    REQUIRE(r.outputs[0].dtype() == DType::kI4);
    const uint8_t* b = r.outputs[0].data<uint8_t>();
    CHECK(b[0] == 0x81);
    CHECK(b[1] == 0x37);
    CHECK(b[2] == 0x0E);
  }
  SECTION("uint4 from output_dtype, uint16 and int16 zero points") {
    Attributes a;
    a.set("output_dtype", int64_t{21});  // UINT4: [0, 15]
    auto r = run_op(OpKind::kQuantizeLinear, {vec({-3.f, 15.5f, 4.4f}), scalar_tensor(1.f)}, a);
    REQUIRE(r.outputs[0].dtype() == DType::kU4);
    CHECK(as_doubles(r.outputs[0]) == std::vector<double>{0, 15, 4});
    auto u16 = run_op(OpKind::kQuantizeLinear,
                      {vec({70000.f, -1.f, 1.5f}), scalar_tensor(1.f), Tensor::scalar<uint16_t>(0)});
    CHECK(as_doubles(u16.outputs[0]) == std::vector<double>{65535, 0, 2});
    auto i16 = run_op(OpKind::kQuantizeLinear,
                      {vec({70000.f, -70000.f, -2.5f}), scalar_tensor(1.f), Tensor::scalar<int16_t>(3)});
    // -2.5 -> rint -2 + 3 = 1
    CHECK(as_doubles(i16.outputs[0]) == std::vector<double>{32767, -32768, 1});
  }
  SECTION("blocked (opset 21): whole blocks and a partial last block") {
    // x [2,5], axis 1, block 2 -> scale [2,3]: row0 (1, 2, 4), row1 (0.5, 1, 2)
    // row0: 1/1, 1/1, 4/2, 4/2, 8/4 = 1, 1, 2, 2, 2
    // row1: 1/.5, 1/.5, 1/1, 3/1, 5/2 = 2, 2, 1, 3, rint(2.5) = 2
    Attributes a;
    a.set("axis", int64_t{1});
    a.set("block_size", int64_t{2});
    auto r = run_op(OpKind::kQuantizeLinear,
                    {tensor(Shape{2, 5}, {1, 1, 4, 4, 8, 1, 1, 1, 3, 5}), tensor(Shape{2, 3}, {1, 2, 4, .5f, 1, 2})}, a);
    CHECK(as_doubles(r.outputs[0]) == std::vector<double>{1, 1, 2, 2, 2, 2, 2, 1, 3, 2});
    // x [2,4], block 2 along axis 0 -> scale [1,4]: (1, 2, 4, 8); rows use the same block
    a.set("axis", int64_t{0});
    auto r2 = run_op(OpKind::kQuantizeLinear,
                     {tensor(Shape{2, 4}, {3, 3, 3, 3, 16, 16, 16, 16}), tensor(Shape{1, 4}, {1, 2, 4, 8})}, a);
    // 3/1, 3/2 = 1.5 -> 2, 3/4 = 0.75 -> 1, 3/8 -> 0; 16, 8, 4, 2
    CHECK(as_doubles(r2.outputs[0]) == std::vector<double>{3, 2, 1, 0, 16, 8, 4, 2});
  }
  SECTION("scale as a run-time input") {
    auto r = run_op(OpKind::kQuantizeLinear, {vec({3.f, 5.f}), scalar_tensor(2.f), Tensor::scalar<uint8_t>(10)}, {}, 1,
                    {false, false, true});
    // rint(1.5) + 10 = 12, rint(2.5) + 10 = 12
    CHECK(as_doubles(r.outputs[0]) == std::vector<double>{12, 12});
  }
}

TEST_CASE("DequantizeLinear: (q - zp) * scale from every container") {
  SECTION("int8, zp -1, scale 0.5") {
    // (-128 + 1) * .5 = -63.5; (0 + 1) * .5 = 0.5; (127 + 1) * .5 = 64
    auto r = run_op(OpKind::kDequantizeLinear,
                    {ints<int8_t>(Shape{3}, {-128, 0, 127}), scalar_tensor(0.5f), Tensor::scalar<int8_t>(-1)});
    REQUIRE(r.outputs[0].dtype() == DType::kF32);
    check_values(std::vector<float>(r.outputs[0].data<float>(), r.outputs[0].data<float>() + 3), {-63.5f, 0.5f, 64.f});
  }
  SECTION("int32 bias, no zero point") {
    auto r = run_op(OpKind::kDequantizeLinear, {ints<int32_t>(Shape{2}, {100000, -7}), scalar_tensor(0.25f)});
    check_values(std::vector<float>(r.outputs[0].data<float>(), r.outputs[0].data<float>() + 2), {25000.f, -1.75f});
  }
  SECTION("uint4 packed, per axis 0") {
    // x [2,2] uint4 = (15, 0 | 3, 8); scale (1, 0.5); zp uint4 (8, 0)
    // row0: (15-8)*1 = 7, (0-8)*1 = -8; row1: 3*.5 = 1.5, 8*.5 = 4
    Attributes a;
    a.set("axis", int64_t{0});
    auto r = run_op(OpKind::kDequantizeLinear,
                    {int4_tensor(DType::kU4, Shape{2, 2}, {15, 0, 3, 8}), vec({1.f, 0.5f}),
                     int4_tensor(DType::kU4, Shape{2}, {8, 0})},
                    a);
    check_values(std::vector<float>(r.outputs[0].data<float>(), r.outputs[0].data<float>() + 4), {7.f, -8.f, 1.5f, 4.f});
  }
  SECTION("float16 scale gives a float16 output") {
    // (200 - 128) * 0.5 = 36, exact in half precision
    Tensor s16 = Tensor::from_data(DType::kF16, Shape{}, Tensor::scalar<uint16_t>(float_to_half(0.5f)).raw());
    auto h = run_op(OpKind::kDequantizeLinear, {ints<uint8_t>(Shape{1}, {200}), s16, Tensor::scalar<uint8_t>(128)});
    REQUIRE(h.outputs[0].dtype() == DType::kF16);
    CHECK(half_to_float(h.outputs[0].data<uint16_t>()[0]) == 36.f);
  }
}

TEST_CASE("QuantParams round trip through a FakeQuant node") {
  Graph g;
  ValueId x = g.add_value("x", DType::kF32, Shape{4, 3}, true);
  g.add_input(x);
  QuantParams p = int_params(5, false, true, tensor(Shape{4, 1}, {0.5f, 0.25f, 1.f, 2.f}),
                             tensor(Shape{4, 1}, {1.f, 2.f, 3.f, 4.f}), RoundingMode::kHalfDown);
  p.axis = 0;
  p.group_size = 0;
  p.po2 = true;
  auto out = add_fake_quant(g, x, p, "wq");
  REQUIRE(out.is_ok());
  const NodeId id = g.value(*out).producer;
  REQUIRE(g.node(id).op == OpKind::kFakeQuant);
  CHECK(g.node(id).name == "wq");
  auto back = read_quant_params(g, id);
  REQUIRE(back.is_ok());
  CHECK(back->kind == QuantKind::kInt);
  CHECK(back->bits == 5);
  CHECK(!back->is_signed);
  CHECK(back->narrow);
  CHECK(back->rounding == RoundingMode::kHalfDown);
  CHECK(back->axis == 0);
  CHECK(back->po2);
  CHECK(back->min_int() == 0);
  CHECK(back->max_int() == 30);  // 2^5 - 1 - 1 (narrow unsigned)
  CHECK(back->scale.shape() == Shape({4, 1}));
  CHECK(back->scale.to_float_vector() == std::vector<float>{0.5f, 0.25f, 1.f, 2.f});
  CHECK(back->zero_point.to_float_vector() == std::vector<float>{1.f, 2.f, 3.f, 4.f});

  // Overwrite with a minifloat quantizer and read it back.
  QuantParams f;
  f.kind = QuantKind::kFloat;
  f.bits = 8;
  f.minifloat = MinifloatFormat::e5m2();
  f.minifloat.saturation = false;
  f.rounding = RoundingMode::kFloor;
  f.scale = scalar_tensor(0.125f);
  REQUIRE(set_quant_params(g, id, f).is_ok());
  auto fb = read_quant_params(g, id);
  REQUIRE(fb.is_ok());
  CHECK(fb->kind == QuantKind::kFloat);
  CHECK(fb->rounding == RoundingMode::kFloor);
  CHECK(fb->minifloat.exponent_bits == 5);
  CHECK(fb->minifloat.mantissa_bits == 2);
  CHECK(fb->minifloat.exponent_bias == 15.f);
  CHECK(fb->minifloat.max_val == 57344.f);
  CHECK(fb->minifloat.has_inf);
  CHECK(!fb->minifloat.saturation);
  CHECK(fb->scale.to_float_vector() == std::vector<float>{0.125f});
  CHECK(fb->zero_point.to_float_vector() == std::vector<float>{0.f});
  // Shape inference leaves the value as it was.
  REQUIRE(infer_shapes(g).is_ok());
  CHECK(g.value(*out).shape == Shape({4, 3}));
  CHECK(g.value(*out).dtype == DType::kF32);

  // Signed narrow grid bounds.
  QuantParams s8 = int_params(8, true, true, scalar_tensor(1.f));
  CHECK(s8.min_int() == -127);
  CHECK(s8.max_int() == 127);
}

TEST_CASE("Bad quantizer parameters are errors that name the node") {
  const Tensor x = tensor(Shape{2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  auto expect_error = [&](const QuantParams& p, const std::string& needle) {
    auto r = try_fake_quant(x, p);
    REQUIRE(!r.is_ok());
    const std::string msg = r.status().message();
    INFO(msg);
    CHECK(msg.find("'fq'") != std::string::npos);
    CHECK(msg.find(needle) != std::string::npos);
    return r.status().code();
  };
  CHECK(expect_error(int_params(8, true, false, scalar_tensor(0.f)), "scale") == StatusCode::kInvalidArgument);
  CHECK(expect_error(int_params(8, true, false, scalar_tensor(-1.f)), "scale") == StatusCode::kInvalidArgument);
  CHECK(expect_error(int_params(8, true, false, scalar_tensor(kNaN)), "scale") == StatusCode::kInvalidArgument);
  CHECK(expect_error(int_params(8, true, false, scalar_tensor(kInf)), "scale") == StatusCode::kInvalidArgument);
  CHECK(expect_error(int_params(8, true, false, scalar_tensor(1.f), scalar_tensor(0.5f)), "zero point") ==
        StatusCode::kInvalidArgument);
  CHECK(expect_error(int_params(8, true, false, vec({1.f, 2.f, 3.f})), "scale") == StatusCode::kInvalidArgument);
  CHECK(expect_error(int_params(8, true, false, tensor(Shape{4, 1}, {1, 1, 1, 1})), "scale") ==
        StatusCode::kInvalidArgument);
  QuantParams bip;
  bip.kind = QuantKind::kBipolar;
  bip.scale = scalar_tensor(1.f);
  bip.zero_point = scalar_tensor(1.f);
  CHECK(expect_error(bip, "zero point") == StatusCode::kInvalidArgument);
  QuantParams fl;
  fl.kind = QuantKind::kFloat;
  fl.scale = scalar_tensor(1.f);
  fl.minifloat.saturation = false;
  fl.minifloat.has_nan = false;
  fl.minifloat.has_inf = false;
  CHECK(expect_error(fl, "has_inf") == StatusCode::kInvalidArgument);

  // Bit widths outside 1..32: add_fake_quant refuses them, and so does binding a node whose
  // attribute was edited afterwards.
  Graph g;
  ValueId in = g.add_value("x", DType::kF32, x.shape(), true);
  g.add_input(in);
  CHECK(!add_fake_quant(g, in, int_params(33, true, false, scalar_tensor(1.f)), "bad").is_ok());
  CHECK(!add_fake_quant(g, in, int_params(0, true, false, scalar_tensor(1.f)), "bad").is_ok());
  auto out = add_fake_quant(g, in, int_params(8, true, false, scalar_tensor(1.f)), "fq");
  REQUIRE(out.is_ok());
  g.add_output(*out);
  g.node(g.value(*out).producer).attrs.set("bits", int64_t{40});
  auto s = Session::create(std::move(g));
  Status st = s.is_ok() ? (*s)->run({x}).status() : s.status();
  REQUIRE(!st.is_ok());
  CHECK(st.message().find("'fq'") != std::string::npos);
  CHECK(st.message().find("40") != std::string::npos);

  // A non-constant scale is declined (not an error of the model): FakeQuant needs constants.
  Graph d;
  ValueId dx = d.add_value("x", DType::kF32, x.shape(), true);
  ValueId ds = d.add_value("s", DType::kF32, Shape{}, true);
  ValueId dz = d.add_constant("z", scalar_tensor(0.f));
  d.add_input(dx);
  d.add_input(ds);
  ValueId dy = d.add_value("y");
  d.add_node(OpKind::kFakeQuant, "fq", {dx, ds, dz}, {dy}, fake_quant_attributes(int_params(8, true, false, scalar_tensor(1.f))));
  d.add_output(dy);
  auto ses = Session::create(std::move(d));
  Status dst = ses.is_ok() ? (*ses)->run({x, scalar_tensor(1.f)}).status() : ses.status();
  INFO(dst.to_string());
  CHECK(dst.code() == StatusCode::kUnsupported);
  CHECK(dst.message().find("not a constant") != std::string::npos);
}

TEST_CASE("Bad Trunc and QuantizeLinear parameters are errors") {
  // Trunc with a fractional bit width.
  Graph g;
  ValueId in = g.add_value("x", DType::kF32, Shape{2}, true);
  g.add_input(in);
  ValueId y = g.add_value("y");
  g.add_node(OpKind::kTrunc, "tr",
             {in, g.add_constant("s", scalar_tensor(1.f)), g.add_constant("z", scalar_tensor(0.f)),
              g.add_constant("ib", scalar_tensor(8.f)), g.add_constant("os", scalar_tensor(4.f)),
              g.add_constant("ob", scalar_tensor(4.5f))},
             {y});
  g.add_output(y);
  auto s = Session::create(std::move(g));
  Status st = s.is_ok() ? (*s)->run({vec({1.f, 2.f})}).status() : s.status();
  INFO(st.to_string());
  REQUIRE(!st.is_ok());
  CHECK(st.message().find("'tr'") != std::string::npos);
  CHECK(st.message().find("out_bitwidth") != std::string::npos);

  // QuantizeLinear: a per-axis scale of the wrong length; a float8 output type is declined.
  Attributes a;
  a.set("axis", int64_t{1});
  auto r = run_single_op(OpKind::kQuantizeLinear, {tensor(Shape{2, 3}, {1, 2, 3, 4, 5, 6}), vec({1.f, 2.f})}, a);
  REQUIRE(!r.is_ok());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(r.status().message().find("per-axis") != std::string::npos);
  Attributes f8;
  f8.set("output_dtype", int64_t{17});
  auto r8 = run_single_op(OpKind::kQuantizeLinear, {vec({1.f}), scalar_tensor(1.f)}, f8);
  REQUIRE(!r8.is_ok());
  CHECK(r8.status().code() == StatusCode::kUnsupported);
  CHECK(r8.status().message().find("float8") != std::string::npos);
}
