// A `qengine calibrate` killed at any moment leaves no partial model behind: every file under its
// final name is complete (the models load, the JSON parses). SIGTERM (and Ctrl-C's SIGINT) also
// removes the temporaries it was writing; SIGKILL cannot be caught, so only hidden temporaries
// may remain. The kill points are spread over one uninterrupted run's duration, with several
// near the end where the files are written.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "frontends/onnx/onnx_import.h"
#include "support/cli_support.h"
#include "support/test_support.h"

extern char** environ;

namespace fs = std::filesystem;
using namespace qe;
using namespace qe::test;

namespace {

struct Finished {
  bool killed = false;  // died of the signal (false: it had finished before the signal came)
  int exit_code = -1;
};

bool is_temporary(const std::string& name) {
  return name.find(".partial-") != std::string::npos || name.find(".tmp.") != std::string::npos;
}

bool has_temporary(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (is_temporary(it->path().filename().string())) return true;
  }
  return false;
}

enum class KillAt { kNever, kAfterDelay, kWhileWriting };

// Starts `qengine ARGS` (writing to `out`), sends `sig` after `delay` seconds or as soon as a
// temporary output file shows up in `out`, and waits for the process.
Finished run_and_kill(const std::vector<std::string>& args, const fs::path& out, KillAt when, double delay, int sig,
                      bool* caught_writing = nullptr) {
  const std::string exe = require_file(binary_dir() + "/apps/qengine");
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(exe.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  REQUIRE(posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  bool reaped = false;
  if (when == KillAt::kAfterDelay) {
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    ::kill(pid, sig);
  } else if (when == KillAt::kWhileWriting) {
    // Poll the output directory; the moment a temporary appears, the process is writing.
    for (;;) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        reaped = true;
        break;
      }
      if (has_temporary(out)) {
        ::kill(pid, sig);
        if (caught_writing) *caught_writing = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  if (!reaped) REQUIRE(::waitpid(pid, &status, 0) == pid);
  Finished f;
  f.killed = WIFSIGNALED(status) && WTERMSIG(status) == sig;
  f.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  INFO("status " << status);
  REQUIRE((f.killed || f.exit_code == 0));
  return f;
}

// Every file under a final name is whole; returns how many temporaries are left over.
int check_outputs(const fs::path& out) {
  int temporaries = 0;
  if (!fs::exists(out)) return 0;
  for (const auto& e : fs::directory_iterator(out)) {
    const std::string name = e.path().filename().string();
    INFO(e.path());
    if (is_temporary(name)) {
      CHECK(name[0] == '.');  // temporaries are hidden, never under a model's own name
      ++temporaries;
      continue;
    }
    if (e.path().extension() == ".onnx") {
      auto g = import_onnx_file(e.path().string());
      INFO((g.is_ok() ? std::string() : g.status().message()));
      CHECK(g.is_ok());
    } else if (e.path().extension() == ".json") {
      CHECK_NOTHROW(nlohmann::json::parse(read_text_file(e.path())));
    } else {
      FAIL("unexpected file");
    }
  }
  return temporaries;
}

}  // namespace

TEST_CASE("a calibrate killed at any point leaves only whole files under final names") {
  const std::string model = require_file(shared_path("models/resnet18_fmnist64.onnx"));
  const std::string calib = require_file(shared_path("data/fashion-mnist/calib"));
  TempDir tmp;
  auto args_for = [&](const fs::path& out) {
    return std::vector<std::string>{"calibrate", model, calib, "-o", out.string(), "--samples", "32", "--quiet"};
  };

  // One uninterrupted run writes the whole set; its duration places the early kill points.
  const fs::path full = tmp.path() / "full";
  const auto start = std::chrono::steady_clock::now();
  run_and_kill(args_for(full), full, KillAt::kNever, 0, 0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(check_outputs(full) == 0);
  REQUIRE(fs::exists(full / "resnet18_fmnist64.qonnx.onnx"));
  REQUIRE(fs::exists(full / "resnet18_fmnist64.qcdq.onnx"));

  int caught_writing = 0;
  for (int sig : {SIGTERM, SIGINT, SIGKILL}) {
    INFO("signal " << sig);
    {
      // Half way: nothing may have been written yet.
      const fs::path out = tmp.path() / ("early_" + std::to_string(sig));
      const Finished f = run_and_kill(args_for(out), out, KillAt::kAfterDelay, 0.5 * seconds, sig);
      const int temporaries = check_outputs(out);
      if (sig != SIGKILL) CHECK(temporaries == 0);
      if (f.killed) CHECK_FALSE(fs::exists(out / "resnet18_fmnist64.qonnx.onnx"));
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
      // While the model files are being written.
      const fs::path out = tmp.path() / ("writing_" + std::to_string(sig) + "_" + std::to_string(attempt));
      bool writing = false;
      const Finished f = run_and_kill(args_for(out), out, KillAt::kWhileWriting, 0, sig, &writing);
      const int temporaries = check_outputs(out);
      if (sig != SIGKILL) CHECK(temporaries == 0);
      if (writing && f.killed) ++caught_writing;
    }
  }
  // The polling must have caught the writer in the act most of the time, or this checked little.
  CHECK(caught_writing >= 4);
}
