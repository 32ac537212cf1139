// The installed package: `cmake --install` into a temporary prefix, then a project outside the
// tree (examples/consumer) found through find_package(qengine), and the same program compiled
// with pkg-config's flags, each against libqengine.so and against libqengine.a; all of them
// classify a demo image like `qengine run` does.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/cli_support.h"

namespace fs = std::filesystem;
using namespace qe::test;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  INFO("environment variable " << name);
  REQUIRE(v != nullptr);
  return v;
}

// Runs `cmd` with its output in `log`; on failure the log is the message.
void sh(const std::string& cmd, const fs::path& log) {
  const int rc = std::system((cmd + " > '" + log.string() + "' 2>&1").c_str());
  INFO(cmd << "\n" << read_text_file(log));
  REQUIRE((WIFEXITED(rc) ? WEXITSTATUS(rc) : -1) == 0);
}

// The DT_NEEDED entries of an ELF file, as `readelf -d` lists them.
std::vector<std::string> needed_libraries(const fs::path& elf, const fs::path& log) {
  sh("readelf -d '" + elf.string() + "'", log);
  std::vector<std::string> needed;
  std::istringstream lines(read_text_file(log));
  for (std::string line; std::getline(lines, line);) {
    const auto open = line.find("(NEEDED)");
    const auto lib = line.find('[');
    if (open != std::string::npos && lib != std::string::npos) needed.push_back(line.substr(lib + 1, line.find(']') - lib - 1));
  }
  return needed;
}

bool needs_libqengine(const std::vector<std::string>& needed) {
  for (const std::string& lib : needed) {
    if (lib.find("libqengine") != std::string::npos) return true;
  }
  return false;
}

// Output of a shell command, without the trailing newline.
std::string capture(const std::string& cmd, const fs::path& log) {
  sh(cmd, log);
  std::string out = read_text_file(log);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

// Under `make test-asan` the installed libraries carry the sanitizers, so the consumers must
// link the sanitizer runtimes too (a real consumer of such a build would do the same).
#if defined(__SANITIZE_ADDRESS__)
const std::string kConsumerFlags = "-fsanitize=address,undefined";
#else
const std::string kConsumerFlags;
#endif

TEST_CASE("the installed package serves CMake and pkg-config consumers") {
  const fs::path src = env("QENGINE_SOURCE_DIR");
  const fs::path bin = env("QENGINE_BINARY_DIR");
  TempDir tmp;
  const fs::path prefix = tmp.path() / "prefix";
  const fs::path log = tmp.path() / "log";

  sh("cmake --install '" + bin.string() + "' --prefix '" + prefix.string() + "'", log);
  for (const char* f : {"bin/qengine", "include/qengine/qengine.hpp", "include/qengine/qengine.h",
                        "lib/libqengine.so", "lib/libqengine.a", "lib/cmake/qengine/qengineConfig.cmake",
                        "lib/cmake/qengine/qengineTargets.cmake", "lib/pkgconfig/qengine.pc"}) {
    INFO(f);
    CHECK(fs::exists(prefix / f));
  }
  // The public headers pull in nothing of the engine's internals.
  const std::string hpp = read_text_file(prefix / "include/qengine/qengine.hpp");
  CHECK(hpp.find("google/protobuf") == std::string::npos);
  CHECK(hpp.find("#include \"") == std::string::npos);

  const std::string model = (src / "examples/models/fmnist_tiny_cnn.onnx").string();
  const std::string image = (src / "examples/images/7_sneaker/00009.png").string();
  // What the CLI says about that image, as the reference.
  const CommandResult cli = run_qengine("run " + model + " " + image + " --top 1 --json", tmp);
  REQUIRE(cli.exit_code == 0);
  const nlohmann::json top = nlohmann::json::parse(cli.out)["images"][0]["top"][0];
  const std::string expected = std::to_string(top["class"].get<int>()) + " " + top["label"].get<std::string>() + "\n";
  CHECK(expected == "7 7_sneaker\n");  // the image's folder: the model gets it right

  // CMake: find_package(qengine) from the installed prefix.
  const fs::path build = tmp.path() / "consumer-build";
  sh("cmake -S '" + (src / "examples/consumer").string() + "' -B '" + build.string() +
                 "' -DCMAKE_PREFIX_PATH='" + prefix.string() + "' -DCMAKE_BUILD_TYPE=Release" +
                 " -DCMAKE_CXX_FLAGS='" + kConsumerFlags + "' -DCMAKE_EXE_LINKER_FLAGS='" + kConsumerFlags + "'",
             log);
  sh("cmake --build '" + build.string() + "'", log);
  const fs::path out = tmp.path() / "out";
  sh("'" + (build / "classify_top1").string() + "' '" + model + "' '" + image + "'", out);
  CHECK(read_text_file(out) == expected);
  CHECK(needs_libqengine(needed_libraries(build / "classify_top1", log)));
  // qengine::qengine_static: the whole engine inside the executable.
  sh("'" + (build / "classify_top1_static").string() + "' '" + model + "' '" + image + "'", out);
  CHECK(read_text_file(out) == expected);
  const std::vector<std::string> static_needed = needed_libraries(build / "classify_top1_static", log);
  CHECK_FALSE(needs_libqengine(static_needed));
  // Its system libraries stay shared (the list is read right: it is not empty).
  CHECK(std::any_of(static_needed.begin(), static_needed.end(),
                    [](const std::string& lib) { return lib.rfind("libprotobuf.so", 0) == 0; }));

  // pkg-config: the .pc file is relocatable (found through PKG_CONFIG_PATH).
  const fs::path pc_bin = tmp.path() / "classify_pc";
  const std::string pc = "PKG_CONFIG_PATH='" + (prefix / "lib/pkgconfig").string() + "' pkg-config";
  sh("c++ -std=c++17 " + kConsumerFlags + " '" + (src / "examples/consumer/main.cpp").string() + "' -o '" + pc_bin.string() +
                 "' $(" + pc + " --cflags --libs qengine)",
             log);
  const fs::path out2 = tmp.path() / "out2";
  sh("LD_LIBRARY_PATH='" + (prefix / "lib").string() + "' '" + pc_bin.string() + "' '" + model + "' '" +
                 image + "'",
             out2);
  CHECK(read_text_file(out2) == expected);

  // pkg-config --static: libqengine.a (chosen over the .so with -Bstatic) and Libs.private.
  const std::string shared_libs = capture(pc + " --libs qengine", log);
  const std::string static_libs = capture(pc + " --static --libs qengine", log);
  INFO("--libs: " << shared_libs << "\n--static --libs: " << static_libs);
  REQUIRE(static_libs.rfind(shared_libs, 0) == 0);
  const std::string private_libs = static_libs.substr(shared_libs.size());
  CHECK(private_libs.find("-lprotobuf") != std::string::npos);
  const fs::path pc_static_bin = tmp.path() / "classify_pc_static";
  sh("c++ -std=c++17 " + kConsumerFlags + " '" + (src / "examples/consumer/main.cpp").string() + "' -o '" + pc_static_bin.string() +
         "' $(" + pc + " --cflags qengine) -Wl,-Bstatic " + shared_libs + " -Wl,-Bdynamic " + private_libs,
     log);
  CHECK_FALSE(needs_libqengine(needed_libraries(pc_static_bin, log)));
  const fs::path out3 = tmp.path() / "out3";
  sh("'" + pc_static_bin.string() + "' '" + model + "' '" + image + "'", out3);
  CHECK(read_text_file(out3) == expected);
}
