#include "engine/core/text_file.h"

#include "engine/core/temp_files.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace qe {

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open '", path, "' for reading");
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return io_error("reading '", path, "' failed");
  return text.str();
}

Status write_text_file_atomically(const std::string& path, const std::string& text) {
  // pid and a per-process counter: concurrent writers (threads or processes) never share a name.
  static std::atomic<uint64_t> counter{0};
  const std::string temp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const TempFileGuard guard(temp);
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) return io_error("cannot open '", temp, "' for writing");
    out << text;
    out.flush();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(temp, ignored);
      return io_error("writing '", temp, "' failed");
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    return io_error("cannot rename '", temp, "' to '", path, "': ", ec.message());
  }
  return Status::ok();
}

}  // namespace qe
