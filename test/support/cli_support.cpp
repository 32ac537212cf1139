#include "support/cli_support.h"

#include <sys/wait.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "support/test_support.h"

namespace fs = std::filesystem;

namespace qe::test {

TempDir::TempDir() {
  path_ = fs::temp_directory_path() / ("qengine_cli_test_" + std::to_string(std::random_device{}()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
}

std::string read_text_file(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

CommandResult run_qengine(const std::string& args, const TempDir& tmp) {
  std::string exe = require_file(binary_dir() + "/apps/qengine");
  fs::path out = tmp.path() / "stdout.txt", err = tmp.path() / "stderr.txt";
  std::string cmd = exe + " " + args + " > " + out.string() + " 2> " + err.string();
  int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_text_file(out);
  r.err = read_text_file(err);
  return r;
}

void check_one_line_error(const CommandResult& r, const std::string& must_mention) {
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.rfind("qengine: error: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.find(must_mention) != std::string::npos);
}

std::string tiny_model() { return require_file(source_dir() + "/examples/models/fmnist_tiny_cnn.onnx"); }

}  // namespace qe::test
