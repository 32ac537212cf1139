// docs/cli.md carries every command's --help between two markers; this keeps it equal to what
// the binary prints (scripts/update-cli-docs.sh rewrites it), and checks that every command the
// binary has is also described in the hand-written part.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>

#include "support/cli_support.h"

namespace fs = std::filesystem;
using namespace qe::test;

namespace {

std::string cli_doc() {
  const char* src = std::getenv("QENGINE_SOURCE_DIR");
  REQUIRE(src != nullptr);
  const fs::path doc = fs::path(src) / "docs" / "cli.md";
  INFO("missing " << doc);
  REQUIRE(fs::exists(doc));
  return read_text_file(doc);
}

}  // namespace

TEST_CASE("docs/cli.md's reference section is the binary's --help") {
  const std::string doc = cli_doc();
  const std::string begin = "<!-- BEGIN GENERATED: qengine help-markdown -->\n";
  const std::string end = "<!-- END GENERATED -->";
  const size_t b = doc.find(begin);
  const size_t e = doc.find(end);
  REQUIRE(b != std::string::npos);
  REQUIRE(e != std::string::npos);
  REQUIRE(b < e);
  const std::string in_doc = doc.substr(b + begin.size(), e - b - begin.size());
  TempDir tmp;
  const CommandResult r = run_qengine("help-markdown", tmp);
  REQUIRE(r.exit_code == 0);
  INFO("docs/cli.md is out of date with the --help texts: run scripts/update-cli-docs.sh");
  CHECK(in_doc == r.out);
}

TEST_CASE("every command has its own section in docs/cli.md") {
  const std::string doc = cli_doc();
  TempDir tmp;
  const CommandResult r = run_qengine("--help", tmp);
  REQUIRE(r.exit_code == 0);
  const size_t subcommands = r.out.find("Subcommands:");
  REQUIRE(subcommands != std::string::npos);
  const std::regex line(R"(\n  ([a-z][a-z-]*)\s)");
  int seen = 0;
  for (std::sregex_iterator it(r.out.begin() + static_cast<long>(subcommands), r.out.end(), line), stop; it != stop; ++it) {
    const std::string name = (*it)[1];
    INFO("command " << name);
    CHECK(doc.find("\n## `" + name + "`\n") != std::string::npos);
    ++seen;
  }
  CHECK(seen >= 7);
}
