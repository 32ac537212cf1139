// Op-level tests of the shape and data-movement family through run_single_op: ONNX semantics
// (values from the ONNX operator docs and numpy), several dtypes per op, edge cases (negative
// indices and steps, clamping, empty tensors) and the errors a model can cause. Resize is in
// test_data_ops_resize.cpp, shape inference in test_data_ops_shape_inference.cpp, kernel sweeps
// against the references in test_data_ops_kernels.cpp.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "engine/evaluate.h"
#include "support/test_support.h"

using namespace qe;

namespace {

template <typename T>
Tensor iota_of(Shape s, T start = T(0)) {
  std::vector<T> v(static_cast<size_t>(s.numel()));
  T x = start;
  for (auto& e : v) e = x++;
  return Tensor::from_vector<T>(std::move(s), v);
}

Tensor ints(std::vector<int64_t> v) { return Tensor::from_vector(Shape{static_cast<int64_t>(v.size())}, v); }

template <typename T>
std::vector<T> values(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

std::vector<Tensor> run_ok(OpKind op, const std::vector<Tensor>& in, const Attributes& a = {}, int outputs = 1,
                           int threads = 1, const std::vector<bool>& constant = {}) {
  auto r = run_single_op(op, in, a, outputs, threads, constant);
  INFO(r.status().to_string());
  REQUIRE(r.is_ok());
  return std::move(r).value().outputs;
}

Status run_err(OpKind op, const std::vector<Tensor>& in, const Attributes& a = {}, int outputs = 1,
               const std::vector<bool>& constant = {}) {
  auto r = run_single_op(op, in, a, outputs, 1, constant);
  REQUIRE_FALSE(r.is_ok());
  return r.status();
}

Attributes attr_int(const std::string& k, int64_t v) {
  Attributes a;
  a.set(k, v);
  return a;
}

Attributes attr_ints(const std::string& k, std::vector<int64_t> v) {
  Attributes a;
  a.set(k, std::move(v));
  return a;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.bytes() == b.bytes() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Reshape family: the bytes move unchanged whatever the dtype.

TEMPLATE_TEST_CASE("Reshape keeps the bytes of every dtype", "", float, double, int8_t, uint8_t, int16_t, uint16_t,
                   int32_t, uint32_t, int64_t, uint64_t) {
  Tensor x = iota_of<TestType>(Shape{2, 3, 4});
  auto out = run_ok(OpKind::kReshape, {x, ints({4, 0, -1})});
  CHECK(out[0].shape() == Shape({4, 3, 2}));
  CHECK(same_bytes(out[0], x));
}

TEST_CASE("Reshape: 0 copies, -1 infers, allowzero keeps zeros") {
  Tensor x = iota_of<float>(Shape{2, 3, 4});
  CHECK(run_ok(OpKind::kReshape, {x, ints({0, -1})})[0].shape() == Shape({2, 12}));
  CHECK(run_ok(OpKind::kReshape, {x, ints({-1})})[0].shape() == Shape({24}));
  CHECK(run_ok(OpKind::kReshape, {x, ints({2, 0, 2, -1})})[0].shape() == Shape({2, 3, 2, 2}));
  // allowzero: a 0 is a real zero-size dim (only valid for an empty input).
  Tensor empty(DType::kF32, Shape{0, 3});
  Attributes az = attr_int("allowzero", 1);
  CHECK(run_ok(OpKind::kReshape, {empty, ints({3, 0})}, az)[0].shape() == Shape({3, 0}));
  // Without allowzero the same target copies dim 1 (3): 9 elements, not 0.
  Status st = run_err(OpKind::kReshape, {empty, ints({3, 0})});
  CHECK(contains(st.message(), "[0,3]"));
}

TEST_CASE("Reshape errors name the shapes and counts") {
  Tensor x = iota_of<float>(Shape{2, 3, 4});
  Status st = run_err(OpKind::kReshape, {x, ints({5, -1})});
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK(contains(st.message(), "[2,3,4]"));
  CHECK(contains(st.message(), "24"));
  CHECK(contains(st.message(), "5"));
  st = run_err(OpKind::kReshape, {x, ints({5, 5})});
  CHECK(contains(st.message(), "25"));
  st = run_err(OpKind::kReshape, {x, ints({-1, -1})});
  CHECK(contains(st.message(), "more than one -1"));
  st = run_err(OpKind::kReshape, {x, ints({2, 3, 4, 0})});
  CHECK(contains(st.message(), "rank"));
  Attributes az = attr_int("allowzero", 1);
  st = run_err(OpKind::kReshape, {Tensor(DType::kF32, Shape{0, 3}), ints({0, -1})}, az);
  CHECK(contains(st.message(), "allowzero"));
}

TEST_CASE("Flatten at every axis, negative axes, out of range") {
  Tensor x = iota_of<int32_t>(Shape{2, 3, 4, 5});
  int64_t expect_rows[] = {1, 2, 6, 24, 120};
  for (int64_t axis = -4; axis <= 4; ++axis) {
    auto out = run_ok(OpKind::kFlatten, {x}, attr_int("axis", axis));
    int64_t a = axis < 0 ? axis + 4 : axis;
    CHECK(out[0].shape() == Shape({expect_rows[a], 120 / expect_rows[a]}));
    CHECK(same_bytes(out[0], x));
  }
  CHECK(run_ok(OpKind::kFlatten, {x})[0].shape() == Shape({2, 60}));
  CHECK(contains(run_err(OpKind::kFlatten, {x}, attr_int("axis", 5)).message(), "axis 5"));
}

TEST_CASE("Squeeze and Unsqueeze") {
  Tensor x = iota_of<uint8_t>(Shape{1, 3, 1, 5});
  CHECK(run_ok(OpKind::kSqueeze, {x})[0].shape() == Shape({3, 5}));
  CHECK(run_ok(OpKind::kSqueeze, {x, ints({-2})})[0].shape() == Shape({1, 3, 5}));
  CHECK(run_ok(OpKind::kSqueeze, {x, ints({0, 2})})[0].shape() == Shape({3, 5}));
  CHECK(run_ok(OpKind::kSqueeze, {x, ints({})})[0].shape() == Shape({3, 5}));
  Status st = run_err(OpKind::kSqueeze, {x, ints({1})});
  CHECK(contains(st.message(), "axis 1"));
  CHECK(contains(st.message(), "size is 3"));
  CHECK(contains(run_err(OpKind::kSqueeze, {x, ints({4})}).message(), "axis 4"));

  Tensor y = iota_of<float>(Shape{3, 4, 5});
  auto u = run_ok(OpKind::kUnsqueeze, {y, ints({5, 4, 2})});  // unsorted
  CHECK(u[0].shape() == Shape({3, 4, 1, 5, 1, 1}));
  CHECK(same_bytes(u[0], y));
  CHECK(run_ok(OpKind::kUnsqueeze, {y, ints({-1})})[0].shape() == Shape({3, 4, 5, 1}));
  CHECK(run_ok(OpKind::kUnsqueeze, {Tensor::scalar<int64_t>(7), ints({0})})[0].shape() == Shape({1}));
  CHECK(contains(run_err(OpKind::kUnsqueeze, {y, ints({1, 1})}).message(), "repeats axis 1"));
  CHECK(contains(run_err(OpKind::kUnsqueeze, {y, ints({4})}).message(), "axis 4"));
}

TEST_CASE("Identity and Dropout copy; Dropout's mask is all true") {
  Tensor x = iota_of<double>(Shape{2, 5});
  CHECK(same_bytes(run_ok(OpKind::kIdentity, {x})[0], x));
  auto d = run_ok(OpKind::kDropout, {x, Tensor::scalar<float>(0.3f)}, {}, 2);
  CHECK(same_bytes(d[0], x));
  REQUIRE(d[1].dtype() == DType::kBool);
  CHECK(d[1].shape() == x.shape());
  for (int64_t i = 0; i < d[1].numel(); ++i) CHECK(d[1].data<uint8_t>()[i] == 1);
  // training_mode = false is inference; true with a ratio above 0 is declined.
  CHECK(same_bytes(run_ok(OpKind::kDropout, {x, Tensor::scalar<float>(0.5f), Tensor::scalar<bool>(false)})[0], x));
  Status st = run_err(OpKind::kDropout, {x, Tensor::scalar<float>(0.5f), Tensor::scalar<bool>(true)});
  CHECK(st.code() == StatusCode::kUnsupported);
  CHECK(same_bytes(run_ok(OpKind::kDropout, {x, Tensor::scalar<float>(0.f), Tensor::scalar<bool>(true)})[0], x));
  // A training_mode computed at run time is checked when the node runs.
  st = run_err(OpKind::kDropout, {x, Tensor::scalar<float>(0.5f), Tensor::scalar<bool>(true)}, {}, 1,
               {true, true, false});
  CHECK(st.code() == StatusCode::kUnsupported);
}

TEST_CASE("Shape with start and end, clamped") {
  Tensor x(DType::kF32, Shape{3, 4, 5});
  CHECK(values<int64_t>(run_ok(OpKind::kShape, {x})[0]) == std::vector<int64_t>{3, 4, 5});
  auto shape_of = [&](int64_t start, std::optional<int64_t> end) {
    Attributes a = attr_int("start", start);
    if (end) a.set("end", *end);
    return values<int64_t>(run_ok(OpKind::kShape, {x}, a)[0]);
  };
  CHECK(shape_of(1, std::nullopt) == std::vector<int64_t>{4, 5});
  CHECK(shape_of(-1, std::nullopt) == std::vector<int64_t>{5});
  CHECK(shape_of(0, -1) == std::vector<int64_t>{3, 4});
  CHECK(shape_of(1, 2) == std::vector<int64_t>{4});
  CHECK(shape_of(-10, 10) == std::vector<int64_t>{3, 4, 5});
  CHECK(shape_of(2, 1).empty());
  CHECK(run_ok(OpKind::kShape, {Tensor::scalar<float>(1.f)})[0].shape() == Shape({0}));
}

TEST_CASE("Constant and ConstantOfShape") {
  Attributes a;
  a.set("value", iota_of<int32_t>(Shape{2, 2}, 5));
  auto c = run_ok(OpKind::kConstant, {}, a);
  CHECK(values<int32_t>(c[0]) == std::vector<int32_t>{5, 6, 7, 8});
  CHECK(values<int64_t>(run_ok(OpKind::kConstant, {}, attr_ints("value_ints", {3, 1}))[0]) ==
        std::vector<int64_t>{3, 1});
  Attributes f;
  f.set("value_float", 2.5f);
  auto cf = run_ok(OpKind::kConstant, {}, f);
  CHECK(cf[0].shape().rank() == 0);
  CHECK(cf[0].data<float>()[0] == 2.5f);

  auto z = run_ok(OpKind::kConstantOfShape, {ints({2, 3})});
  CHECK(z[0].dtype() == DType::kF32);
  CHECK(values<float>(z[0]) == std::vector<float>(6, 0.f));
  Attributes v;
  v.set("value", Tensor::from_vector(Shape{1}, std::vector<int64_t>{-7}));
  auto o = run_ok(OpKind::kConstantOfShape, {ints({4})}, v);
  CHECK(values<int64_t>(o[0]) == std::vector<int64_t>(4, -7));
  CHECK(run_ok(OpKind::kConstantOfShape, {ints({0})}, v)[0].numel() == 0);
  Attributes h;
  h.set("value", Tensor::from_vector(Shape{1}, std::vector<uint16_t>{float_to_half(1.5f)}).reshaped(Shape{1}));
  Tensor half_value(DType::kF16, Shape{1});
  half_value.data<uint16_t>()[0] = float_to_half(1.5f);
  h.set("value", half_value);
  auto hv = run_ok(OpKind::kConstantOfShape, {ints({3})}, h);
  CHECK(hv[0].dtype() == DType::kF16);
  CHECK(half_to_float(hv[0].data<uint16_t>()[2]) == 1.5f);
  CHECK(contains(run_err(OpKind::kConstantOfShape, {ints({2, -1})}).message(), "negative"));
}

// ---------------------------------------------------------------------------------------------
// Cast

namespace {
Attributes cast_to(int onnx_type) { return attr_int("to", onnx_type); }
constexpr int kOnnxFloat = 1, kOnnxU8 = 2, kOnnxI8 = 3, kOnnxI32 = 6, kOnnxI64 = 7, kOnnxBool = 9, kOnnxF16 = 10,
              kOnnxDouble = 11, kOnnxU64 = 13;
}  // namespace

TEST_CASE("Cast between numeric types") {
  Tensor f = Tensor::from_vector(Shape{6}, std::vector<float>{-2.7f, -0.5f, 0.f, 0.5f, 1.9f, 300.f});
  CHECK(values<int32_t>(run_ok(OpKind::kCast, {f}, cast_to(kOnnxI32))[0]) == std::vector<int32_t>{-2, 0, 0, 0, 1, 300});
  // Out-of-range float to int8 wraps through int64 as numpy does on x86: 300 -> 44.
  CHECK(values<int8_t>(run_ok(OpKind::kCast, {f}, cast_to(kOnnxI8))[0]) == std::vector<int8_t>{-2, 0, 0, 0, 1, 44});
  auto b = run_ok(OpKind::kCast, {f}, cast_to(kOnnxBool))[0];
  CHECK(b.dtype() == DType::kBool);
  CHECK(values<uint8_t>(b) == std::vector<uint8_t>{1, 1, 0, 1, 1, 1});
  auto h = run_ok(OpKind::kCast, {f}, cast_to(kOnnxF16))[0];
  REQUIRE(h.dtype() == DType::kF16);
  CHECK(half_to_float(h.data<uint16_t>()[0]) == Approx(-2.7f).epsilon(1e-3));
  CHECK(half_to_float(h.data<uint16_t>()[5]) == 300.f);
  auto back = run_ok(OpKind::kCast, {h}, cast_to(kOnnxDouble))[0];
  CHECK(back.data<double>()[3] == 0.5);

  Tensor big = Tensor::from_vector(Shape{3}, std::vector<int64_t>{(int64_t{1} << 53) + 1, -1, 257});
  auto d = run_ok(OpKind::kCast, {big}, cast_to(kOnnxDouble))[0];
  CHECK(d.data<double>()[1] == -1.0);
  CHECK(values<uint8_t>(run_ok(OpKind::kCast, {big}, cast_to(kOnnxU8))[0])[2] == 1);  // 257 wraps
  CHECK(values<uint64_t>(run_ok(OpKind::kCast, {big}, cast_to(kOnnxU64))[0])[1] == ~uint64_t{0});

  Tensor bools(DType::kBool, Shape{3});
  bools.data<uint8_t>()[0] = 1;
  bools.data<uint8_t>()[2] = 1;
  CHECK(values<float>(run_ok(OpKind::kCast, {bools}, cast_to(kOnnxFloat))[0]) == std::vector<float>{1, 0, 1});
  CHECK(values<int64_t>(run_ok(OpKind::kCast, {bools}, cast_to(kOnnxI64))[0]) == std::vector<int64_t>{1, 0, 1});

  Tensor nan = Tensor::from_vector(Shape{1}, std::vector<float>{std::nanf("")});
  CHECK(values<uint8_t>(run_ok(OpKind::kCast, {nan}, cast_to(kOnnxBool))[0])[0] == 1);
  CHECK(values<int64_t>(run_ok(OpKind::kCast, {nan}, cast_to(kOnnxI64))[0])[0] == INT64_MIN);

  CHECK(run_err(OpKind::kCast, {f}, cast_to(8)).code() == StatusCode::kUnsupported);  // string
  CHECK(run_err(OpKind::kCast, {f}, cast_to(99)).code() == StatusCode::kInvalidArgument);
  CHECK(run_err(OpKind::kCast, {f}).code() == StatusCode::kInvalidArgument);  // 'to' missing
}

TEST_CASE("Cast of a large tensor over 2 threads matches 1 thread") {
  Tensor x = test::random_tensor(Shape{300001}, 7, -1000.f, 1000.f);
  auto a = run_ok(OpKind::kCast, {x}, cast_to(kOnnxF16), 1, 1)[0];
  auto b = run_ok(OpKind::kCast, {x}, cast_to(kOnnxF16), 1, 2)[0];
  CHECK(same_bytes(a, b));
  for (int64_t i = 0; i < x.numel(); i += 997) CHECK(a.data<uint16_t>()[i] == float_to_half(x.data<float>()[i]));
}

// ---------------------------------------------------------------------------------------------
// Concat, Split, Gather

TEST_CASE("Concat along every axis and with empty inputs") {
  Tensor a = iota_of<int64_t>(Shape{2, 2}, 1), b = iota_of<int64_t>(Shape{2, 2}, 5);
  CHECK(values<int64_t>(run_ok(OpKind::kConcat, {a, b}, attr_int("axis", 0))[0]) ==
        std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8});
  auto c1 = run_ok(OpKind::kConcat, {a, b}, attr_int("axis", -1))[0];
  CHECK(c1.shape() == Shape({2, 4}));
  CHECK(values<int64_t>(c1) == std::vector<int64_t>{1, 2, 5, 6, 3, 4, 7, 8});
  Tensor e(DType::kI64, Shape{2, 0});
  CHECK(values<int64_t>(run_ok(OpKind::kConcat, {e, a, e}, attr_int("axis", 1))[0]) == values<int64_t>(a));
  Tensor x = iota_of<uint16_t>(Shape{1, 3});
  CHECK(values<uint16_t>(run_ok(OpKind::kConcat, {x}, attr_int("axis", 0))[0]) == values<uint16_t>(x));

  Status st = run_err(OpKind::kConcat, {a, iota_of<int64_t>(Shape{3, 3})}, attr_int("axis", 0));
  CHECK(contains(st.message(), "[3,3]"));
  CHECK(contains(run_err(OpKind::kConcat, {a, iota_of<float>(Shape{2, 2})}, attr_int("axis", 0)).message(), "dtype"));
  CHECK(contains(run_err(OpKind::kConcat, {a, b}).message(), "axis"));
}

TEST_CASE("Concat of large inputs over 2 threads") {
  Tensor a = test::random_tensor(Shape{4, 100, 300}, 1), b = test::random_tensor(Shape{4, 50, 300}, 2);
  auto one = run_ok(OpKind::kConcat, {a, b}, attr_int("axis", 1), 1, 1)[0];
  auto two = run_ok(OpKind::kConcat, {a, b}, attr_int("axis", 1), 1, 2)[0];
  CHECK(same_bytes(one, two));
  CHECK(one.data<float>()[150 * 300 + 100 * 300 + 7] == b.data<float>()[50 * 300 + 7]);
}

TEST_CASE("Split: equal, explicit sizes, num_outputs with a short last chunk") {
  Tensor x = iota_of<float>(Shape{2, 6});
  auto eq = run_ok(OpKind::kSplit, {x}, attr_int("axis", 1), 3);
  CHECK(values<float>(eq[1]) == std::vector<float>{2, 3, 8, 9});
  auto var = run_ok(OpKind::kSplit, {x, ints({1, 5})}, attr_int("axis", -1), 2);
  CHECK(var[0].shape() == Shape({2, 1}));
  CHECK(values<float>(var[1]) == std::vector<float>{1, 2, 3, 4, 5, 7, 8, 9, 10, 11});
  Tensor y = iota_of<int8_t>(Shape{7});
  Attributes n = attr_int("num_outputs", 3);
  auto ch = run_ok(OpKind::kSplit, {y}, n, 3);
  CHECK(ch[0].shape() == Shape({3}));
  CHECK(ch[2].shape() == Shape({1}));
  CHECK(values<int8_t>(ch[2]) == std::vector<int8_t>{6});
  auto zero = run_ok(OpKind::kSplit, {y, ints({0, 7})}, {}, 2);
  CHECK(zero[0].numel() == 0);

  CHECK(contains(run_err(OpKind::kSplit, {y}, {}, 3).message(), "evenly"));
  CHECK(contains(run_err(OpKind::kSplit, {y, ints({3, 3})}, {}, 2).message(), "add up to 6"));
  CHECK(contains(run_err(OpKind::kSplit, {y, ints({7})}, {}, 2).message(), "1 sizes for 2 outputs"));
}

TEST_CASE("Gather: axes, negative and 2-D indices, scalars, dtypes") {
  Tensor d = iota_of<float>(Shape{3, 4});
  auto g0 = run_ok(OpKind::kGather, {d, ints({2, -3})})[0];
  CHECK(values<float>(g0) == std::vector<float>{8, 9, 10, 11, 0, 1, 2, 3});
  auto g1 = run_ok(OpKind::kGather, {d, Tensor::from_vector(Shape{2, 2}, std::vector<int32_t>{3, 0, -1, 1})},
                   attr_int("axis", 1))[0];
  CHECK(g1.shape() == Shape({3, 2, 2}));
  CHECK(values<float>(g1) == std::vector<float>{3, 0, 3, 1, 7, 4, 7, 5, 11, 8, 11, 9});
  auto s = run_ok(OpKind::kGather, {d, Tensor::scalar<int64_t>(1)}, attr_int("axis", -1))[0];
  CHECK(s.shape() == Shape({3}));
  CHECK(values<float>(s) == std::vector<float>{1, 5, 9});
  // Shape -> Gather(0) as torch exports it: a scalar from a 1-D int64 tensor.
  auto dim = run_ok(OpKind::kGather, {ints({8, 3, 224}), Tensor::scalar<int64_t>(0)})[0];
  CHECK(dim.shape().rank() == 0);
  CHECK(dim.data<int64_t>()[0] == 8);
  Tensor b(DType::kBool, Shape{4});
  b.data<uint8_t>()[2] = 1;
  CHECK(values<uint8_t>(run_ok(OpKind::kGather, {b, ints({2, 2, 0})})[0]) == std::vector<uint8_t>{1, 1, 0});
  auto empty = run_ok(OpKind::kGather, {d, Tensor(DType::kI64, Shape{0})})[0];
  CHECK(empty.shape() == Shape({0, 4}));
}

TEST_CASE("Gather index out of range: constant and run-time indices") {
  Tensor d = iota_of<float>(Shape{3, 4});
  Status st = run_err(OpKind::kGather, {d, ints({0, 3})});
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK(contains(st.message(), "index 3"));
  CHECK(contains(st.message(), "size 3"));
  st = run_err(OpKind::kGather, {d, ints({1, -5})}, attr_int("axis", 1), 1, {true, false});
  CHECK(contains(st.message(), "index -5 at position 1"));
  CHECK(contains(st.message(), "size 4"));
  CHECK(contains(run_err(OpKind::kGather, {d, ints({0})}, attr_int("axis", 2)).message(), "axis 2"));
  CHECK(contains(run_err(OpKind::kGather, {d, Tensor::from_vector(Shape{1}, std::vector<float>{0})}).message(),
                 "indices"));
}

// ---------------------------------------------------------------------------------------------
// Slice

TEST_CASE("Slice: steps, negative steps, clamping, axes") {
  Tensor x = iota_of<int32_t>(Shape{3, 10});
  auto s = run_ok(OpKind::kSlice, {x, ints({0, 1}), ints({2, 8}), ints({0, 1}), ints({1, 3})})[0];
  CHECK(s.shape() == Shape({2, 3}));
  CHECK(values<int32_t>(s) == std::vector<int32_t>{1, 4, 7, 11, 14, 17});
  // Negative step walks backwards; end -1000 clamps to "before the first element".
  auto r = run_ok(OpKind::kSlice, {x, ints({-1}), ints({-1000}), ints({1}), ints({-3})})[0];
  CHECK(values<int32_t>(r) == std::vector<int32_t>{9, 6, 3, 0, 19, 16, 13, 10, 29, 26, 23, 20});
  // Out-of-range starts and ends clamp; an empty result is fine.
  CHECK(run_ok(OpKind::kSlice, {x, ints({20}), ints({1000}), ints({1})})[0].shape() == Shape({3, 0}));
  CHECK(run_ok(OpKind::kSlice, {x, ints({-1000}), ints({1000})})[0].shape() == Shape({3, 10}));
  auto last = run_ok(OpKind::kSlice, {x, ints({-1}), ints({INT64_MAX}), ints({-1})})[0];
  CHECK(values<int32_t>(last) == std::vector<int32_t>{9, 19, 29});
  // Reverse the whole tensor on both axes (INT64_MIN end as exporters write it).
  auto rev = run_ok(OpKind::kSlice, {x, ints({-1, -1}), ints({INT64_MIN, INT64_MIN}), ints({0, 1}), ints({-1, -1})})[0];
  CHECK(rev.data<int32_t>()[0] == 29);
  CHECK(rev.data<int32_t>()[29] == 0);

  CHECK(contains(run_err(OpKind::kSlice, {x, ints({0}), ints({1}), ints({0}), ints({0})}).message(), "steps has 0"));
  CHECK(contains(run_err(OpKind::kSlice, {x, ints({0, 0}), ints({1, 1}), ints({1, -1})}).message(), "repeats axis"));
  CHECK(contains(run_err(OpKind::kSlice, {x, ints({0}), ints({1}), ints({2})}).message(), "axis 2"));
  CHECK(contains(run_err(OpKind::kSlice, {x, ints({0}), ints({1, 2})}).message(), "ends has 2"));
}

TEMPLATE_TEST_CASE("Slice of NCHW channels moves whole planes for every dtype", "", float, uint8_t, int16_t, double) {
  Tensor x = iota_of<TestType>(Shape{2, 6, 5, 7});
  auto s = run_ok(OpKind::kSlice, {x, ints({1}), ints({5}), ints({1}), ints({2})}, {}, 1, 2)[0];
  REQUIRE(s.shape() == Shape({2, 2, 5, 7}));
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t c = 0; c < 2; ++c) {
      for (int64_t i = 0; i < 35; ++i) {
        CHECK(s.data<TestType>()[(n * 2 + c) * 35 + i] == x.data<TestType>()[(n * 6 + 1 + 2 * c) * 35 + i]);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Transpose

TEST_CASE("Transpose: default reverses, explicit perms, bad perms") {
  Tensor x = iota_of<float>(Shape{2, 3, 4});
  auto t = run_ok(OpKind::kTranspose, {x})[0];
  CHECK(t.shape() == Shape({4, 3, 2}));
  CHECK(t.data<float>()[1] == 12.f);  // [0,0,1] <- x[1,0,0]
  auto p = run_ok(OpKind::kTranspose, {x}, attr_ints("perm", {1, 0, 2}))[0];
  CHECK(p.shape() == Shape({3, 2, 4}));
  CHECK(values<float>(p)[4] == 12.f);  // [0,1,0] <- x[1,0,0]
  CHECK(same_bytes(run_ok(OpKind::kTranspose, {x}, attr_ints("perm", {0, 1, 2}))[0], x));
  CHECK(contains(run_err(OpKind::kTranspose, {x}, attr_ints("perm", {0, 1})).message(), "2 values"));
  CHECK(contains(run_err(OpKind::kTranspose, {x}, attr_ints("perm", {0, 1, 1})).message(), "repeats axis 1"));
  CHECK(contains(run_err(OpKind::kTranspose, {x}, attr_ints("perm", {0, 1, 3})).message(), "value 3"));
}

TEMPLATE_TEST_CASE("Transpose NCHW <-> NHWC round trip", "", float, uint8_t, uint16_t, double) {
  for (int threads : {1, 2}) {
    Tensor x = iota_of<TestType>(Shape{2, 19, 33, 17});
    auto nhwc = run_ok(OpKind::kTranspose, {x}, attr_ints("perm", {0, 2, 3, 1}), 1, threads)[0];
    REQUIRE(nhwc.shape() == Shape({2, 33, 17, 19}));
    // element [n, h, w, c] = x[n, c, h, w]
    CHECK(nhwc.template data<TestType>()[((1 * 33 + 5) * 17 + 3) * 19 + 11] ==
          x.template data<TestType>()[((1 * 19 + 11) * 33 + 5) * 17 + 3]);
    auto back = run_ok(OpKind::kTranspose, {nhwc}, attr_ints("perm", {0, 3, 1, 2}), 1, threads)[0];
    CHECK(same_bytes(back, x));
  }
}

// ---------------------------------------------------------------------------------------------
// Pad

TEST_CASE("Pad: constant, reflect, edge, wrap (ONNX doc example)") {
  Tensor x = Tensor::from_vector(Shape{3, 2}, std::vector<float>{1.0f, 1.2f, 2.3f, 3.4f, 4.5f, 5.7f});
  Tensor pads = ints({0, 2, 0, 0});
  auto c = run_ok(OpKind::kPad, {x, pads, Tensor::scalar<float>(0.f)})[0];
  CHECK(values<float>(c) == std::vector<float>{0, 0, 1.0f, 1.2f, 0, 0, 2.3f, 3.4f, 0, 0, 4.5f, 5.7f});
  Attributes reflect;
  reflect.set("mode", std::string("reflect"));
  CHECK(values<float>(run_ok(OpKind::kPad, {x, pads}, reflect)[0]) ==
        std::vector<float>{1.0f, 1.2f, 1.0f, 1.2f, 2.3f, 3.4f, 2.3f, 3.4f, 4.5f, 5.7f, 4.5f, 5.7f});
  Attributes edge;
  edge.set("mode", std::string("edge"));
  CHECK(values<float>(run_ok(OpKind::kPad, {x, pads}, edge)[0]) ==
        std::vector<float>{1.0f, 1.0f, 1.0f, 1.2f, 2.3f, 2.3f, 2.3f, 3.4f, 4.5f, 4.5f, 4.5f, 5.7f});
  Attributes wrap;
  wrap.set("mode", std::string("wrap"));
  Tensor w = iota_of<int32_t>(Shape{3});
  CHECK(values<int32_t>(run_ok(OpKind::kPad, {w, ints({4, 2})}, wrap)[0]) ==
        std::vector<int32_t>{2, 0, 1, 2, 0, 1, 2, 0, 1});
  // numpy reflect with pads longer than the axis reflects again: [0 1 2] pad 4 left.
  CHECK(values<int32_t>(run_ok(OpKind::kPad, {w, ints({4, 0})}, reflect)[0]) ==
        std::vector<int32_t>{0, 1, 2, 1, 0, 1, 2});
}

TEST_CASE("Pad: negative pads crop, axes input, constant value from a run-time input, dtypes") {
  Tensor x = iota_of<int64_t>(Shape{3, 4});
  auto crop = run_ok(OpKind::kPad, {x, ints({-1, 1, 0, -2})})[0];
  CHECK(crop.shape() == Shape({2, 3}));
  CHECK(values<int64_t>(crop) == std::vector<int64_t>{0, 4, 5, 0, 8, 9});
  auto ax = run_ok(OpKind::kPad, {x, ints({1, 1}), Tensor::scalar<int64_t>(-9), ints({-2})})[0];
  CHECK(ax.shape() == Shape({5, 4}));
  CHECK(ax.data<int64_t>()[0] == -9);
  CHECK(ax.data<int64_t>()[4] == 0);
  auto dyn = run_ok(OpKind::kPad, {x, ints({0, 1, 0, 1}), Tensor::scalar<int64_t>(42)}, {}, 1, 1, {true, true, false})[0];
  CHECK(dyn.data<int64_t>()[0] == 42);
  CHECK(dyn.data<int64_t>()[5] == 42);
  Tensor h(DType::kF16, Shape{2});
  h.data<uint16_t>()[0] = float_to_half(3.f);
  h.data<uint16_t>()[1] = float_to_half(4.f);
  Tensor hv(DType::kF16, Shape{});
  hv.data<uint16_t>()[0] = float_to_half(-1.f);
  auto hp = run_ok(OpKind::kPad, {h, ints({1, 1}), hv})[0];
  CHECK(half_to_float(hp.data<uint16_t>()[0]) == -1.f);
  CHECK(half_to_float(hp.data<uint16_t>()[2]) == 4.f);

  CHECK(contains(run_err(OpKind::kPad, {x, ints({1, 1})}).message(), "expected 4"));
  CHECK(contains(run_err(OpKind::kPad, {x, ints({-5, 0, 0, 0})}).message(), "below zero"));
  Attributes bad;
  bad.set("mode", std::string("mirror"));
  CHECK(contains(run_err(OpKind::kPad, {x, ints({0, 0, 0, 0})}, bad).message(), "mirror"));
  CHECK(contains(run_err(OpKind::kPad, {x, ints({0, 0, 0, 0}), Tensor::scalar<float>(1.f)}).message(), "dtype"));
}

// ---------------------------------------------------------------------------------------------
// Expand

TEST_CASE("Expand broadcasts both ways") {
  Tensor x = Tensor::from_vector(Shape{3, 1}, std::vector<float>{1, 2, 3});
  auto e = run_ok(OpKind::kExpand, {x, ints({2, 1, 6})})[0];
  CHECK(e.shape() == Shape({2, 3, 6}));
  CHECK(e.data<float>()[6 * 1 + 5] == 2.f);
  CHECK(e.data<float>()[18 + 12] == 3.f);
  // A target smaller than the input keeps the input's dims.
  CHECK(run_ok(OpKind::kExpand, {x, ints({3, 1})})[0].shape() == Shape({3, 1}));
  CHECK(run_ok(OpKind::kExpand, {x, ints({1})})[0].shape() == Shape({3, 1}));
  // The ViT class token: [1, 1, D] -> [B, 1, D].
  Tensor cls = test::random_tensor(Shape{1, 1, 768}, 3);
  auto batch = run_ok(OpKind::kExpand, {cls, ints({5, 1, 768})}, {}, 1, 2)[0];
  for (int64_t b = 0; b < 5; ++b) CHECK(std::memcmp(batch.data<float>() + b * 768, cls.raw(), 768 * 4) == 0);
  Tensor i8 = iota_of<int8_t>(Shape{4});
  CHECK(values<int8_t>(run_ok(OpKind::kExpand, {i8, ints({2, 4})})[0]) ==
        std::vector<int8_t>{0, 1, 2, 3, 0, 1, 2, 3});
  Status st = run_err(OpKind::kExpand, {x, ints({2, 4, 6})});
  CHECK(contains(st.message(), "[3,1]"));
  CHECK(contains(st.message(), "3 does not broadcast with 4"));
}
