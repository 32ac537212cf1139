// The temporary-file registry behind atomic writes: guards register and unregister, and a
// process killed by SIGTERM/SIGINT/SIGHUP removes its registered temporaries before dying of the
// same signal.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/temp_files.h"
#include "engine/core/text_file.h"
#include "support/cli_support.h"

namespace fs = std::filesystem;
using namespace qe;

TEST_CASE("an atomic text write that fails names the file asked for and leaves nothing behind") {
  test::TempDir tmp;
  const fs::path target = tmp.path() / "missing-dir" / "out.json";
  const Status st = write_text_file_atomically(target.string(), "{}");
  REQUIRE_FALSE(st.is_ok());
  INFO(st.message());
  CHECK(st.message().find("'" + target.string() + "'") != std::string::npos);
  CHECK(st.message().find(".tmp.") == std::string::npos);
  CHECK(st.message().find('\n') == std::string::npos);

  const fs::path ok = tmp.path() / "out.json";
  REQUIRE(write_text_file_atomically(ok.string(), "{}").is_ok());
  CHECK(read_text_file(ok.string()).value() == "{}");
  int entries = 0;
  for (const auto& e : fs::directory_iterator(tmp.path())) entries += e.path().filename() != "missing-dir";
  CHECK(entries == 1);  // no temporary left beside it
}

TEST_CASE("temp file guards register while they live") {
  const int before = registered_temp_file_count();
  {
    TempFileGuard a("/tmp/a.partial");
    TempFileGuard b("/tmp/b.partial");
    CHECK(registered_temp_file_count() == before + 2);
  }
  CHECK(registered_temp_file_count() == before);
  // More guards than the table holds: the extra ones are simply not tracked.
  std::vector<std::unique_ptr<TempFileGuard>> many;
  for (int i = 0; i < 100; ++i) many.push_back(std::make_unique<TempFileGuard>("/tmp/x" + std::to_string(i)));
  CHECK(registered_temp_file_count() == 64);
  many.clear();
  CHECK(registered_temp_file_count() == before);
}

TEST_CASE("a termination signal removes registered temporaries, then kills with that signal") {
  qe::test::TempDir tmp;
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    INFO("signal " << sig);
    const fs::path registered = tmp.path() / ("registered_" + std::to_string(sig));
    const fs::path unregistered = tmp.path() / ("unregistered_" + std::to_string(sig));
    const fs::path released = tmp.path() / ("released_" + std::to_string(sig));
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      remove_temp_files_on_termination_signals();
      std::ofstream(registered) << "partial";
      std::ofstream(unregistered) << "not ours";
      std::ofstream(released) << "renamed into place";
      TempFileGuard guard(registered.string());
      { TempFileGuard done(released.string()); }
      ::raise(sig);
      ::_exit(0);  // not reached
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == sig);
    CHECK_FALSE(fs::exists(registered));
    CHECK(fs::exists(unregistered));
    CHECK(fs::exists(released));
  }
}
