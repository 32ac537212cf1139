// A set of output files that appear together or not at all: each is written to a temporary
// name inside the output directory, and all are renamed into place by commit(). Destroying the
// set without commit() removes the temporaries, so a failed run leaves no partial files.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/status.h"
#include "engine/core/temp_files.h"

namespace qe::cli {

// "models/resnet18.onnx" → "resnet18": the base name of the files a command writes for a model.
std::string model_stem(const std::string& model_path);

class OutputFileSet {
 public:
  // Creates `dir` when missing and checks that a file can be written there.
  static Result<OutputFileSet> open(const std::string& dir);
  OutputFileSet(OutputFileSet&& o) noexcept
      : dir_(std::move(o.dir_)),
        files_(std::move(o.files_)),
        guards_(std::move(o.guards_)),
        created_dir_(o.created_dir_),
        committed_(o.committed_) {
    o.files_.clear();
    o.guards_.clear();
    o.created_dir_ = false;
  }
  OutputFileSet(const OutputFileSet&) = delete;
  ~OutputFileSet();

  const std::string& dir() const { return dir_; }
  // The temporary path to write `name` to (a file name inside dir()).
  std::string temp_path_for(const std::string& name);
  Status write_text(const std::string& name, const std::string& text);
  // The model's sidecar JSON (when it has one) as "<name>.json" for each output name, so that
  // `qengine eval OUT/<name>.onnx` preprocesses like the source model.
  Status copy_sidecar(const std::string& model_path, const std::vector<std::string>& names);
  // Renames every temporary into place; returns the final paths.
  Result<std::vector<std::string>> commit();

 private:
  explicit OutputFileSet(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
  std::vector<std::pair<std::string, std::string>> files_;  // temporary, final
  std::vector<std::unique_ptr<TempFileGuard>> guards_;      // removed on SIGINT/SIGTERM/SIGHUP
  bool created_dir_ = false;  // open() made dir_: a failed run removes it again
  bool committed_ = false;
};

}  // namespace qe::cli
