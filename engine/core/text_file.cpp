#include "engine/core/text_file.h"

#include "engine/core/temp_files.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

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
    // Errors name the file the user asked for; the temporary beside it is an implementation detail.
    if (!out) return io_error("cannot write '", path, "': ", std::generic_category().message(errno));
    out << text;
    out.flush();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(temp, ignored);
      return io_error("writing '", path, "' failed (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    return io_error("cannot write '", path, "': renaming its temporary file failed: ", ec.message());
  }
  return Status::ok();
}

}  // namespace qe
