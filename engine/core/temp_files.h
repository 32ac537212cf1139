// Temporary files that are being written and renamed into place. Every atomic writer registers
// its temporary here for as long as it exists, so that an interrupted process (Ctrl-C, SIGTERM,
// SIGHUP) removes them on the way out instead of leaving half-written files behind. SIGKILL
// cannot be caught: then only the temporary (never a file under its final name) is left.
#pragma once

#include <string>

namespace qe {

// Registers `path` while the guard lives; the destructor unregisters it (it does not delete the
// file: the writer either renamed it into place or removed it itself).
class TempFileGuard {
 public:
  explicit TempFileGuard(const std::string& path);
  ~TempFileGuard();
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;

 private:
  int slot_ = -1;  // -1: the table was full or the path too long; the file is then not tracked
};

// Installs handlers for SIGINT, SIGTERM and SIGHUP that unlink every registered temporary and
// then die of the same signal (so the parent sees the usual exit status). For programs, not for
// the library: an embedding application owns its signal handlers.
void remove_temp_files_on_termination_signals();

// Number of temporaries registered right now (for tests).
int registered_temp_file_count();

}  // namespace qe
