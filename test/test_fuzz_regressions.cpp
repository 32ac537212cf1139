// Every input saved under test/data/fuzz_regressions/<target>/ (crashes the fuzzers found, after
// their fix, and hand-made hostile inputs from test/fuzz/make_regression_inputs.py) goes through
// the same driver as the fuzz target (test/support/fuzz_drivers.h). The file name states the
// outcome: ok-* must succeed, err-* must end in an error with a message. A crash, a sanitizer
// report or a hang fails the test run itself.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "support/fuzz_drivers.h"
#include "support/test_support.h"

using namespace qe;
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  REQUIRE(f.good());
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::vector<fs::path> regression_inputs(const std::string& target) {
  const fs::path dir = fs::path(test::source_dir()) / "test" / "data" / "fuzz_regressions" / target;
  INFO("regression inputs of fuzz target " << target << " in " << dir.string());
  REQUIRE(fs::is_directory(dir));
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  REQUIRE(!files.empty());
  return files;
}

}  // namespace

TEST_CASE("every fuzz target has regression inputs with an ok and an err case") {
  REQUIRE(fuzz::fuzz_targets().size() == 4);
  for (const fuzz::FuzzTarget& target : fuzz::fuzz_targets()) {
    int ok = 0, err = 0;
    for (const fs::path& p : regression_inputs(target.name)) {
      const std::string name = p.filename().string();
      ok += starts_with(name, "ok-");
      err += starts_with(name, "err-");
    }
    INFO(target.name);
    CHECK(ok > 0);
    CHECK(err > 0);
  }
}

TEST_CASE("saved fuzz inputs end as their names say") {
  for (const fuzz::FuzzTarget& target : fuzz::fuzz_targets()) {
    for (const fs::path& p : regression_inputs(target.name)) {
      const std::string name = p.filename().string();
      DYNAMIC_SECTION(target.name << "/" << name) {
        const std::vector<uint8_t> bytes = read_bytes(p);
        const Status st = target.drive(bytes.data(), bytes.size());
        INFO(st.message());
        if (starts_with(name, "ok-")) {
          CHECK(st.is_ok());
        } else if (starts_with(name, "err-")) {
          CHECK_FALSE(st.is_ok());
          CHECK_FALSE(st.message().empty());
          // An internal error is a broken invariant, not a refusal of bad input.
          CHECK(st.code() != StatusCode::kInternal);
        } else {
          FAIL("fuzz regression inputs are named ok-* or err-* by their expected outcome: " << p.string());
        }
      }
    }
  }
}

TEST_CASE("the drivers run the same input twice with the same outcome") {
  // Drivers keep state only in function-local statics (the rule target graph, a temp path):
  // a second run must not see anything left by the first.
  for (const fuzz::FuzzTarget& target : fuzz::fuzz_targets()) {
    for (const fs::path& p : regression_inputs(target.name)) {
      const std::vector<uint8_t> bytes = read_bytes(p);
      const Status first = target.drive(bytes.data(), bytes.size());
      const Status second = target.drive(bytes.data(), bytes.size());
      INFO(p.string());
      CHECK(first.is_ok() == second.is_ok());
      CHECK(first.message() == second.message());
    }
  }
}
