#include <catch2/catch.hpp>

#include <atomic>
#include <vector>

#include "engine/core/dtype.h"
#include "engine/core/shape.h"
#include "engine/core/tensor.h"
#include "engine/core/thread_pool.h"

using namespace qe;

TEST_CASE("shape numel and overflow") {
  CHECK(Shape({2, 3, 4}).numel() == 24);
  CHECK(Shape({}).numel() == 1);
  CHECK_FALSE(Shape({1 << 30, 1 << 30, 1 << 30}).checked_numel().is_ok());
  CHECK_FALSE(Shape({2, -1}).checked_numel().is_ok());
}

TEST_CASE("broadcast shapes") {
  auto r = broadcast_shapes(Shape({4, 1, 3}), Shape({5, 1}));
  REQUIRE(r.is_ok());
  CHECK(*r == Shape({4, 5, 3}));
  CHECK_FALSE(broadcast_shapes(Shape({3}), Shape({4})).is_ok());
}

TEST_CASE("int4 packing follows ONNX: element 2i in the low nibble") {
  uint8_t buf[2] = {0, 0};
  int4_set(buf, 0, -3);
  int4_set(buf, 1, 7);
  int4_set(buf, 2, -8);
  CHECK(buf[0] == ((7 << 4) | (static_cast<uint8_t>(-3) & 0xF)));
  CHECK(int4_get(buf, 0, true) == -3);
  CHECK(int4_get(buf, 1, true) == 7);
  CHECK(int4_get(buf, 2, true) == -8);
  CHECK(int4_get(buf, 2, false) == 8);
  CHECK(dtype_storage_bytes(DType::kI4, 3) == 2);
}

TEST_CASE("half conversion round trips representable values") {
  for (float f : {0.f, 1.f, -2.5f, 65504.f, 6.103515625e-05f, 5.960464477539063e-08f}) {
    CHECK(half_to_float(float_to_half(f)) == f);
  }
  CHECK(float_to_half(1.0f + 1.0f / 2048) == float_to_half(1.0f));  // ties to even
}

TEST_CASE("thread pool covers every index exactly once, also nested and repeated") {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 7, 100, 1001}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      for (int rep = 0; rep < 50; ++rep) {
        pool.parallel_for(n, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
          pool.parallel_for(2, [](int64_t, int64_t) {});  // nested calls run inline
        });
      }
      for (auto& h : hits) CHECK(h.load() == 50);
    }
  }
}
