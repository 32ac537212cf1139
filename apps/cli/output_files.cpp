#include "apps/cli/output_files.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/core/temp_files.h"
#include "engine/core/text_file.h"
#include "engine/data/preprocess.h"

namespace qe::cli {

namespace fs = std::filesystem;

std::string model_stem(const std::string& model_path) {
  std::string stem = fs::path(model_path).filename().string();
  if (stem.size() > 5 && stem.compare(stem.size() - 5, 5, ".onnx") == 0) stem.resize(stem.size() - 5);
  return stem;
}

Status OutputFileSet::copy_sidecar(const std::string& model_path, const std::vector<std::string>& names) {
  const std::string sidecar = sidecar_path_for(model_path);
  std::error_code ec;
  if (!fs::exists(sidecar, ec)) return Status::ok();
  QE_ASSIGN_OR_RETURN(std::string text, read_text_file(sidecar));
  for (const std::string& name : names) QE_RETURN_IF_ERROR(write_text(name + ".json", text));
  return Status::ok();
}

Result<OutputFileSet> OutputFileSet::open(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    return io_error("output directory '", dir, "' exists and is not a directory; choose another with -o");
  }
  const bool existed = fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return io_error("cannot create output directory '", dir, "': ", ec.message(), "; choose another with -o");
  const std::string probe = (fs::path(dir) / (".qengine-write-test-" + std::to_string(::getpid()))).string();
  std::FILE* f = std::fopen(probe.c_str(), "wb");
  if (!f) return io_error("cannot write to output directory '", dir, "': ", std::strerror(errno), "; choose another with -o");
  std::fclose(f);
  std::remove(probe.c_str());
  OutputFileSet set(dir);
  set.created_dir_ = !existed;
  return set;
}

OutputFileSet::~OutputFileSet() {
  for (const auto& [tmp, final_path] : files_) {
    std::error_code ec;
    fs::remove(tmp, ec);
  }
  // A run that fails before commit() leaves the file system as it found it: a directory it
  // created is removed again (only when empty: fs::remove never deletes contents).
  if (created_dir_ && !committed_) {
    std::error_code ec;
    fs::remove(dir_, ec);
  }
}

std::string OutputFileSet::temp_path_for(const std::string& name) {
  const std::string tmp = (fs::path(dir_) / ("." + name + ".partial-" + std::to_string(::getpid()))).string();
  files_.emplace_back(tmp, (fs::path(dir_) / name).string());
  guards_.push_back(std::make_unique<TempFileGuard>(tmp));
  return tmp;
}

Status OutputFileSet::write_text(const std::string& name, const std::string& text) {
  const std::string tmp = temp_path_for(name);
  std::ofstream out(tmp, std::ios::binary);
  out << text;
  out.close();
  if (!out) return io_error("cannot write '", tmp, "': ", std::strerror(errno));
  return Status::ok();
}

Result<std::vector<std::string>> OutputFileSet::commit() {
  std::vector<std::string> written;
  for (const auto& [tmp, final_path] : files_) {
    std::error_code ec;
    if (!fs::exists(tmp, ec)) return internal_error("output '", final_path, "' was never written");
  }
  for (const auto& [tmp, final_path] : files_) {
    std::error_code ec;
    fs::rename(tmp, final_path, ec);
    if (ec) return io_error("cannot move '", tmp, "' to '", final_path, "': ", ec.message());
    written.push_back(final_path);
  }
  files_.clear();
  guards_.clear();
  committed_ = true;
  return written;
}

}  // namespace qe::cli
