// The README is the first thing a new user follows: its opening commands and its quick-start
// calibrate line must stay exactly what works. The calibrate line is taken from the README itself
// and run (with the binary of this build and a temporary output directory), so editing the README
// into something that fails breaks this test.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/cli_support.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace qe::test;

namespace {

std::string readme() { return read_text_file(require_file(source_dir() + "/README.md")); }

// Lines of the first fenced code block after `from`, without comments and blank lines.
std::vector<std::string> code_block_commands(const std::string& text, size_t from) {
  const size_t open = text.find("```", from);
  REQUIRE(open != std::string::npos);
  const size_t body = text.find('\n', open) + 1;
  const size_t close = text.find("```", body);
  REQUIRE(close != std::string::npos);
  std::vector<std::string> commands;
  std::istringstream lines(text.substr(body, close - body));
  for (std::string line; std::getline(lines, line);) {
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    if (!line.empty()) commands.push_back(line);
  }
  return commands;
}

}  // namespace

TEST_CASE("the README opens with exactly the two commands make demo and make test") {
  const std::vector<std::string> commands = code_block_commands(readme(), 0);
  REQUIRE(commands.size() == 2);
  CHECK(commands[0] == "make demo");
  CHECK(commands[1] == "make test");
}

TEST_CASE("the README's quick start is make demo plus one calibrate line, and that line works") {
  const std::string text = readme();
  const size_t section = text.find("## Quick start");
  REQUIRE(section != std::string::npos);
  const std::vector<std::string> commands = code_block_commands(text, section);
  REQUIRE(commands.size() == 3);
  CHECK(commands[0].rfind("git clone ", 0) == 0);
  CHECK(commands[1] == "make demo");
  const std::string prefix = "build/apps/qengine calibrate ";
  REQUIRE(commands[2].rfind(prefix, 0) == 0);

  // Run it as the user would from the checkout, writing into a temporary directory instead of ./out.
  std::string args = commands[2].substr(std::string("build/apps/qengine ").size());
  TempDir tmp;
  const std::regex output_flag(R"((^| )-o ([^ ]+))");
  std::smatch m;
  REQUIRE(std::regex_search(args, m, output_flag));
  const std::string out_name = m[2];
  const fs::path out = tmp.path() / out_name;
  args = std::regex_replace(args, output_flag, "$1-o " + out.string());
  const fs::path cwd = fs::current_path();
  fs::current_path(source_dir());
  const CommandResult r = run_qengine(args, tmp);
  fs::current_path(cwd);
  INFO("qengine " << args << "\nstdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("validation (") != std::string::npos);  // evaluated: float vs quantized

  // Calibrated and exported: the files the README names exist and are non-empty.
  for (const std::string name : {"fmnist_tiny_cnn.qonnx.onnx", "fmnist_tiny_cnn.qcdq.onnx", "calibration.json"}) {
    INFO(name);
    CHECK(text.find(out_name + "/" + name) != std::string::npos);
    REQUIRE(fs::exists(out / name));
    CHECK(fs::file_size(out / name) > 0);
  }
  // The README's follow-up: the QCDQ file evaluates on the integer kernels.
  const CommandResult e = run_qengine("eval " + (out / "fmnist_tiny_cnn.qcdq.onnx").string() + " " +
                                          source_dir() + "/examples/images",
                                      tmp);
  INFO("stderr: " << e.err);
  CHECK(e.exit_code == 0);
  CHECK(e.out.find("top-1:") != std::string::npos);
}
