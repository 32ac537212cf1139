// The value of a Result a test cannot go on without: REQUIREs success, with the status message
// as the failure's context.
#pragma once

#include <utility>

#include <catch2/catch.hpp>

#include "engine/core/status.h"

namespace qe::test {

template <typename T>
T must(Result<T> r) {
  INFO(r.status().message());
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

}  // namespace qe::test
