// The dependency direction of docs/architecture.md, checked on the sources: core includes
// nothing of ours; kernels only core; graph only core; engine no frontends/apps/quant;
// protobuf and onnx headers only inside frontends/.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace fs = std::filesystem;

namespace {

struct Rule {
  std::string folder;                    // relative to the source root
  std::vector<std::string> forbidden;    // include prefixes
  std::vector<std::string> exempt_dirs;  // sub-folders with their own rule
};

std::vector<std::string> violations(const Rule& rule) {
  std::vector<std::string> out;
  fs::path root = fs::path(qe::test::source_dir()) / rule.folder;
  REQUIRE(fs::exists(root));
  std::regex include_re(R"re(^\s*#\s*include\s*[<"]([^">]+)[">])re");
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    auto ext = entry.path().extension().string();
    if (ext != ".h" && ext != ".cpp" && ext != ".def") continue;
    std::string rel = fs::relative(entry.path(), qe::test::source_dir()).string();
    bool exempt = false;
    for (const auto& e : rule.exempt_dirs) exempt = exempt || rel.rfind(e, 0) == 0;
    if (exempt) continue;
    std::ifstream f(entry.path());
    std::string line;
    int lineno = 0;
    while (std::getline(f, line)) {
      ++lineno;
      std::smatch m;
      if (!std::regex_search(line, m, include_re)) continue;
      std::string inc = m[1];
      for (const auto& bad : rule.forbidden) {
        if (inc.rfind(bad, 0) == 0) out.push_back(rel + ":" + std::to_string(lineno) + " includes " + inc);
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("source folders respect the dependency direction") {
  const std::vector<std::string> ours_not_core = {"kernels/", "graph/", "engine/ops", "engine/session", "engine/data",
                                                  "engine/evaluate", "quant/", "frontends/", "apps/"};
  std::vector<Rule> rules = {
      {"engine/core", ours_not_core, {}},
      {"kernels", {"graph/", "engine/ops", "engine/session", "engine/data", "engine/evaluate", "quant/", "frontends/", "apps/", "google/protobuf", "onnx/"}, {}},
      {"graph", {"kernels/", "engine/ops", "engine/session", "engine/data", "engine/evaluate", "quant/", "frontends/", "apps/", "google/protobuf", "onnx/"}, {}},
      {"engine", {"frontends/", "apps/", "quant/", "google/protobuf", "onnx/"}, {"engine/core", "engine/data"}},
      {"engine/data", {"kernels/", "graph/", "engine/ops", "engine/session", "quant/", "frontends/", "apps/", "google/protobuf", "onnx/"}, {}},
  };
  for (const auto& rule : rules) {
    auto bad = violations(rule);
    for (const auto& v : bad) UNSCOPED_INFO(v);
    CHECK(bad.empty());
  }
}

TEST_CASE("protobuf and onnx headers stay inside frontends/") {
  for (const std::string folder : {"engine", "kernels", "graph", "apps"}) {
    auto bad = violations({folder, {"google/protobuf", "onnx/"}, {}});
    for (const auto& v : bad) UNSCOPED_INFO(v);
    CHECK(bad.empty());
  }
}
