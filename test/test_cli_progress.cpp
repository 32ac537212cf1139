// The CLI's machine and human faces: progress bars only on a terminal (run under a
// pseudo-terminal here), none with --quiet / --json or when stderr is a pipe; --json is one JSON
// document and nothing else on stdout; exit codes 0 ok, 1 runtime failure, 2 bad usage or input.
#include <catch2/catch.hpp>

#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/cli_support.h"
#include "support/demo_data.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace qe::test;

namespace {

struct TerminalRun {
  int exit_code = -1;
  std::string terminal;  // what the pseudo-terminal received (stdout, and stderr unless piped)
  std::string piped_stderr;
};

// `qengine ARGS` with stdin/stdout/stderr on a pseudo-terminal; with `stderr_to_pipe`, stderr
// alone goes to a pipe (stdout stays a terminal).
TerminalRun run_on_terminal(const std::vector<std::string>& args, bool stderr_to_pipe = false) {
  const std::string exe = require_file(binary_dir() + "/apps/qengine");
  int err_pipe[2] = {-1, -1};
  REQUIRE(pipe(err_pipe) == 0);
  int master = -1;
  const pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(err_pipe[0]);
    if (stderr_to_pipe) dup2(err_pipe[1], STDERR_FILENO);
    close(err_pipe[1]);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(exe.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  close(err_pipe[1]);
  TerminalRun r;
  int fds[2] = {master, err_pipe[0]};
  std::string* sinks[2] = {&r.terminal, &r.piped_stderr};
  while (fds[0] >= 0 || fds[1] >= 0) {
    pollfd p[2];
    for (int i = 0; i < 2; ++i) p[i] = {fds[i], POLLIN, 0};
    const int ready = poll(p, 2, 60000);
    REQUIRE(ready > 0);  // a minute of silence: the command hangs
    for (int i = 0; i < 2; ++i) {
      if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      const ssize_t n = read(fds[i], buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {  // EIO on the master once the child has exited
        close(fds[i]);
        fds[i] = -1;
      }
    }
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// Every bar line carries "elapsed" (a terminal turns each \n into \r\n, so \r alone says nothing).
bool has_bar(const std::string& text) {
  return text.find("ETA") != std::string::npos || text.find("elapsed") != std::string::npos;
}

std::string first_image() {
  for (const auto& e : fs::directory_iterator(demo_images() + "/7_sneaker")) return e.path().string();
  FAIL("no image in examples/images/7_sneaker");
  return {};
}

// --json: exactly one line on stdout, and it parses.
nlohmann::json one_json_document(const CommandResult& r) {
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(std::count(r.out.begin(), r.out.end(), '\n') >= 1);
  nlohmann::json j;
  REQUIRE_NOTHROW(j = nlohmann::json::parse(r.out));
  CHECK(j.is_object());
  return j;
}

}  // namespace

TEST_CASE("a progress bar with an ETA is drawn when stderr is a terminal") {
  TempDir tmp;
  const auto eval = run_on_terminal({"eval", demo_model(), demo_images(), "--batch", "8"});
  INFO(eval.terminal);
  REQUIRE(eval.exit_code == 0);
  CHECK(eval.terminal.find("ETA") != std::string::npos);
  CHECK(eval.terminal.find("200/200") != std::string::npos);
  CHECK(eval.terminal.find("elapsed") != std::string::npos);
  CHECK(eval.terminal.find("top-1:") != std::string::npos);  // the result follows the bar

  const auto calibrate = run_on_terminal({"calibrate", demo_model(), demo_images(), "--samples", "48", "--val",
                                          demo_images(), "--val-limit", "40", "-o", (tmp.path() / "q").string()});
  INFO(calibrate.terminal);
  REQUIRE(calibrate.exit_code == 0);
  for (const char* phase : {"calibrate", "bias corr.", "float", "quantized"}) {
    INFO(phase);
    CHECK(calibrate.terminal.find(std::string("\r") + phase) != std::string::npos);
  }
  CHECK(calibrate.terminal.find("48/48") != std::string::npos);

  const auto bench = run_on_terminal({"bench", demo_model(), "--runs", "20", "--warmup", "2"});
  INFO(bench.terminal);
  REQUIRE(bench.exit_code == 0);
  CHECK(bench.terminal.find("22/22") != std::string::npos);
  CHECK(bench.terminal.find("ETA") != std::string::npos);

  // mixed: the library phases report through their options' callbacks.
  const auto mixed = run_on_terminal({"mixed", demo_model(), demo_images(), "--latency", "0.9", "--samples", "32",
                                      "--hessian-samples", "16", "--hutchinson-iterations", "3", "--kl-samples", "8",
                                      "--bench-runs", "2", "--val", demo_images(), "--val-limit", "16",
                                      "--latency-cache", (tmp.path() / "cache").string(), "-o",
                                      (tmp.path() / "m").string()});
  INFO(mixed.terminal);
  REQUIRE(mixed.exit_code == 0);
  for (const char* bar : {"\rhessian    [####################] 3/3", "\routput KL  [####################] 8/8",
                          "\rlatency    [####################] 4/4", "\rcalibrate", "\rspeed-up", "\rval float",
                          "\rval hessian"}) {
    INFO(bar);
    CHECK(mixed.terminal.find(bar) != std::string::npos);
  }
}

TEST_CASE("a phase of unknown length shows its count and rate, no ETA") {
  TempDir tmp;
  // GPTQ takes a pass per layer over the images: mixed cannot tell how many in advance.
  const fs::path rules = tmp.path() / "gptq.json";
  std::ofstream(rules) << R"({"algorithms": {"gptq": {}}})";
  const auto r = run_on_terminal({"mixed", demo_model(), demo_images(), "--uniform", "4", "--samples", "32",
                                  "--bench-runs", "2", "--config", rules.string(), "-o", (tmp.path() / "m").string()});
  INFO(r.terminal);
  REQUIRE(r.exit_code == 0);
  const size_t start = r.terminal.find("\rcalibrate");
  REQUIRE(start != std::string::npos);
  const std::string line = r.terminal.substr(start + 1, r.terminal.find('\r', start + 1) - start - 1);
  INFO(line);
  CHECK(line.find(" img") != std::string::npos);
  CHECK(line.find("img/s") != std::string::npos);
  CHECK(line.find("elapsed") != std::string::npos);
  CHECK(line.find("ETA") == std::string::npos);
  CHECK(line.find('[') == std::string::npos);
}

TEST_CASE("no progress bar when stderr is a pipe, or with --quiet or --json on a terminal") {
  const auto piped = run_on_terminal({"eval", demo_model(), demo_images(), "--batch", "8"}, true);
  INFO(piped.terminal << "\n--- stderr:\n" << piped.piped_stderr);
  REQUIRE(piped.exit_code == 0);
  CHECK_FALSE(has_bar(piped.piped_stderr));
  CHECK_FALSE(has_bar(piped.terminal));
  CHECK(piped.terminal.find("top-1:") != std::string::npos);

  for (const char* flag : {"--quiet", "--json"}) {
    const auto r = run_on_terminal({"eval", demo_model(), demo_images(), "--batch", "8", flag});
    INFO(flag << "\n" << r.terminal);
    REQUIRE(r.exit_code == 0);
    CHECK_FALSE(has_bar(r.terminal));
  }
  const auto bench = run_on_terminal({"bench", demo_model(), "--runs", "10", "--quiet"});
  INFO(bench.terminal);
  REQUIRE(bench.exit_code == 0);
  CHECK_FALSE(has_bar(bench.terminal));
  CHECK(bench.terminal.find("latency ms") != std::string::npos);
}

TEST_CASE("--json prints one JSON document and nothing else on stdout, for every command") {
  TempDir tmp;
  const std::string m = demo_model(), images = demo_images();
  CHECK(one_json_document(run_qengine("info " + m + " --json", tmp))["params"].get<int64_t>() > 0);
  CHECK(one_json_document(run_qengine("run " + m + " " + first_image() + " --json", tmp))["images"].size() == 1);
  CHECK(one_json_document(run_qengine("eval " + m + " " + images + " --limit 40 --json", tmp))["images"] == 40);
  CHECK(one_json_document(run_qengine("bench " + m + " --runs 3 --warmup 1 --json", tmp))["runs"] == 3);
  const fs::path exported = tmp.path() / "copy.onnx";
  const auto e = one_json_document(run_qengine("export " + m + " " + exported.string() + " --json", tmp));
  CHECK(e["output"] == exported.string());
  CHECK(e["bytes"].get<int64_t>() == static_cast<int64_t>(fs::file_size(exported)));
  const auto c = one_json_document(
      run_qengine("calibrate " + m + " " + images + " --samples 32 --json -o " + (tmp.path() / "q").string(), tmp));
  CHECK(c["samples"] == 32);
  const auto x = one_json_document(run_qengine(
      "mixed " + m + " " + images + " --uniform 4 --samples 32 --bench-runs 2 --json -o " + (tmp.path() / "x").string(),
      tmp));
  CHECK(x["rows"].size() == 1);
}

TEST_CASE("--json keeps warnings on stderr; --quiet silences them") {
  TempDir tmp;
  const fs::path cls = tmp.path() / "images" / "7_sneaker";
  fs::create_directories(cls);
  fs::copy_file(first_image(), cls / "a.jpg");
  std::ofstream(cls / "notes.txt") << "not an image";
  const std::string folder = (tmp.path() / "images").string();
  const auto json = run_qengine("eval " + tiny_model() + " " + folder + " --json", tmp);
  one_json_document(json);
  CHECK(json.err.find("qengine: warning:") != std::string::npos);
  const auto quiet = run_qengine("eval " + tiny_model() + " " + folder + " --json --quiet", tmp);
  one_json_document(quiet);
  CHECK(quiet.err.empty());
}

TEST_CASE("exit code 2 for bad usage or input, on every command") {
  TempDir tmp;
  const std::string missing = (tmp.path() / "missing.onnx").string(), images = demo_images();
  for (const std::string& cmd : {"info " + missing, "run " + missing + " x.jpg", "eval " + missing + " " + images,
                                 "bench " + missing, "calibrate " + missing + " " + images,
                                 "mixed " + missing + " " + images + " --size 0.5", "export " + missing + " o.onnx"}) {
    INFO(cmd);
    check_one_line_error(run_qengine(cmd, tmp), "missing.onnx");
  }
  // Bad flag values: CLI11's checks and ours alike.
  CHECK(run_qengine("eval " + tiny_model() + " " + images + " --batch 0", tmp).exit_code == 2);
  CHECK(run_qengine("bench " + tiny_model() + " --compare w9a8", tmp).exit_code == 2);
  CHECK(run_qengine("calibrate " + tiny_model() + " " + images + " --policy bogus", tmp).exit_code == 2);
  CHECK(run_qengine("mixed " + tiny_model() + " " + images, tmp).exit_code == 2);  // no budget
  CHECK(run_qengine("export " + tiny_model(), tmp).exit_code == 2);                // no output
  // A rule file that is not JSON.
  const fs::path rules = tmp.path() / "rules.json";
  std::ofstream(rules) << "{\"policy\":";
  check_one_line_error(run_qengine("calibrate " + tiny_model() + " " + images + " --config " + rules.string(), tmp),
                       "rules.json");
}

TEST_CASE("a limit the input exceeds is bad input: exit code 2") {
  TempDir tmp;
  // A shape past the engine's 2^40-element limit: the session cannot plan it.
  for (const char* cmd : {"info", "bench"}) {
    const auto r =
        run_qengine(std::string(cmd) + " " + tiny_model() + " --input-shape input=2147483648,1,2147483648,28", tmp);
    INFO(cmd << ": " << r.err);
    check_one_line_error(r, "2^40");
  }
}

TEST_CASE("errors suggest the fix") {
  TempDir tmp;
  fs::create_directories(tmp.path() / "calib" / "empty_class");
  const auto empty = run_qengine("calibrate " + tiny_model() + " " + (tmp.path() / "calib").string(), tmp);
  check_one_line_error(empty, "<class>/<image>.jpg");

  const auto name = run_qengine("info " + tiny_model() + " --input-shape x=1,1,28,28", tmp);
  check_one_line_error(name, "its inputs: input");
  const auto rank = run_qengine("info " + tiny_model() + " --input-shape input=1,28", tmp);
  check_one_line_error(rank, "--input-shape input=1,1,28,28");

  // Without its sidecar the 1-channel model gets ImageNet's 3-channel preprocessing.
  const fs::path bare = tmp.path() / "bare.onnx";
  fs::copy_file(tiny_model(), bare);
  const auto channels = run_qengine("eval " + bare.string() + " " + demo_images() + " --quiet", tmp);
  check_one_line_error(channels, "--channels 1");
  const std::string no_resize = " --channels 1 --resize 0 --crop 0 --limit 8";
  check_one_line_error(run_qengine("eval " + bare.string() + " " + demo_images() + no_resize + " --quiet", tmp),
                       "give --mean and --std 1 value(s) each");
  const auto warned =
      run_qengine("eval " + bare.string() + " " + demo_images() + no_resize + " --mean 0.29 --std 0.35", tmp);
  INFO(warned.err);
  CHECK(warned.exit_code == 0);
  CHECK(warned.err.find("no sidecar " + (tmp.path() / "bare.json").string()) != std::string::npos);
  CHECK(warned.err.find("--mean") != std::string::npos);
}
