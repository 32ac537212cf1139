// Running the real `qengine` binary from tests, in a private temporary directory.
#pragma once

#include <filesystem>
#include <string>

namespace qe::test {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string read_text_file(const std::filesystem::path& p);
// `qengine ARGS`, stdout and stderr captured through files in `tmp`.
CommandResult run_qengine(const std::string& args, const TempDir& tmp);
// Exit code 2 and exactly one line "qengine: error: ..." that mentions `must_mention`.
void check_one_line_error(const CommandResult& r, const std::string& must_mention);
std::string tiny_model();  // examples/models/fmnist_tiny_cnn.onnx

}  // namespace qe::test
