// apps/classify, the edge example, through its real binary: a fully static, stripped ELF under
// 10 MB whose top-1 on the demo images agrees with `qengine run` for the float model and for the
// QONNX / QCDQ files `qengine calibrate` writes; bad input is one line on stderr and a non-zero
// exit code.
#include <catch2/catch.hpp>

#include <elf.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/cli_support.h"
#include "support/demo_data.h"

namespace fs = std::filesystem;
using namespace qe::test;
using qe::Sample;

namespace {

std::string classify_binary() { return require_file(binary_dir() + "/apps/classify/classify"); }

// Sanitizer builds cannot link fully statically and leave classify out (apps/classify/CMakeLists.txt).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitizerBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitizerBuild = true;
#else
constexpr bool kSanitizerBuild = false;
#endif
#else
constexpr bool kSanitizerBuild = false;
#endif

CommandResult run_classify(const std::string& args, const TempDir& tmp) {
  const fs::path out = tmp.path() / "classify_stdout.txt", err = tmp.path() / "classify_stderr.txt";
  const std::string cmd = classify_binary() + " " + args + " > '" + out.string() + "' 2> '" + err.string() + "'";
  const int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_text_file(out);
  r.err = read_text_file(err);
  return r;
}

struct Ranked {
  int class_index = -1;
  std::string label;
  double percent = 0;
};

// classify's output: per image its path, then "  R. LABEL  P%  (class C, logit L)" lines.
std::map<std::string, std::vector<Ranked>> parse_output(const std::string& out) {
  static const std::regex ranked(R"(^  (\d+)\. (.+?) +([0-9.]+)%  \(class (\d+), logit -?[0-9.]+\)$)");
  std::map<std::string, std::vector<Ranked>> result;
  std::istringstream lines(out);
  std::string line, image;
  std::smatch m;
  while (std::getline(lines, line)) {
    INFO("line: " << line);
    if (!line.empty() && line[0] != ' ') {
      image = line;
      REQUIRE(result.count(image) == 0);
      result[image];
      continue;
    }
    REQUIRE(std::regex_match(line, m, ranked));
    REQUIRE(!image.empty());
    auto& top = result[image];
    CHECK(std::stoi(m[1]) == static_cast<int>(top.size()) + 1);
    top.push_back({std::stoi(m[4]), m[2], std::stod(m[3])});
  }
  return result;
}

std::string quoted_paths(const std::vector<Sample>& samples) {
  std::string s;
  for (const Sample& x : samples) s += " '" + x.path + "'";
  return s;
}

// `qengine run --top 1` on every image: image path → class.
std::map<std::string, int> cli_top1(const std::string& model, const std::vector<Sample>& samples, const TempDir& tmp) {
  const CommandResult r = run_qengine("run '" + model + "'" + quoted_paths(samples) + " --top 1 --json", tmp);
  INFO("qengine run stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  std::map<std::string, int> top1;
  const nlohmann::json json = nlohmann::json::parse(r.out);
  for (const auto& image : json.at("images")) {
    top1[image["image"].get<std::string>()] = image["top"][0]["class"].get<int>();
  }
  REQUIRE(top1.size() == samples.size());
  return top1;
}

double cli_eval_top1(const std::string& model, const TempDir& tmp) {
  const CommandResult r = run_qengine("eval '" + model + "' '" + demo_images() + "' --json", tmp);
  INFO("qengine eval stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out)["top1"].get<double>();
}

// classify on the demo folder (given as one folder argument) against `qengine run` on each image
// and the folder labels; returns classify's top-1 accuracy.
double check_against_cli(const std::string& model, const TempDir& tmp) {
  const std::vector<Sample> samples = demo_samples();
  const auto classes = qe::scan_image_folder(demo_images())->classes;
  const CommandResult r = run_classify("'" + model + "' '" + demo_images() + "'", tmp);
  INFO("classify stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty());
  const auto output = parse_output(r.out);
  REQUIRE(output.size() == samples.size());
  const auto expected = cli_top1(model, samples, tmp);

  int correct = 0;
  for (const Sample& s : samples) {
    INFO("image " << s.path);
    REQUIRE(output.count(s.path) == 1);
    const auto& top = output.at(s.path);
    REQUIRE(top.size() == 5);  // the default top-5, ten classes
    CHECK(top[0].class_index == expected.at(s.path));
    for (const Ranked& p : top) CHECK(p.label == classes.at(p.class_index));  // the sidecar's labels
    CHECK(std::is_sorted(top.begin(), top.end(), [](const Ranked& a, const Ranked& b) { return a.percent > b.percent; }));
    if (top[0].class_index == s.label) ++correct;
  }
  return static_cast<double>(correct) / samples.size();
}

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

template <typename T>
T read_at(const std::vector<char>& bytes, uint64_t offset) {
  REQUIRE(offset + sizeof(T) <= bytes.size());
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

// In a sanitizer build: true after checking that classify was indeed left out.
bool sanitizer_build_without_classify() {
  if (!kSanitizerBuild) return false;
  WARN("sanitizer build: apps/classify is not built here (it links fully statically)");
  CHECK_FALSE(fs::exists(binary_dir() + "/apps/classify/classify"));
  return true;
}

}  // namespace

TEST_CASE("classify is a fully static, stripped x86-64 executable under 10 MB") {
  if (sanitizer_build_without_classify()) return;
  const std::string exe = classify_binary();
  const std::vector<char> elf = read_bytes(exe);
  CHECK(elf.size() < 10'000'000);
  const auto header = read_at<Elf64_Ehdr>(elf, 0);
  REQUIRE(std::memcmp(header.e_ident, ELFMAG, SELFMAG) == 0);
  REQUIRE(header.e_ident[EI_CLASS] == ELFCLASS64);
  CHECK(header.e_machine == EM_X86_64);
  CHECK(header.e_type == ET_EXEC);  // not a PIE, which would need a loader to relocate it

  // No program interpreter and no dynamic section: nothing is loaded besides the file itself.
  int loads = 0;
  for (int i = 0; i < header.e_phnum; ++i) {
    const auto ph = read_at<Elf64_Phdr>(elf, header.e_phoff + uint64_t{header.e_phentsize} * i);
    INFO("program header " << i << " type " << ph.p_type);
    CHECK(ph.p_type != PT_INTERP);
    CHECK(ph.p_type != PT_DYNAMIC);
    if (ph.p_type == PT_LOAD) ++loads;
  }
  CHECK(loads > 0);
  // Stripped: no symbol table.
  int sections = 0;
  for (int i = 0; i < header.e_shnum; ++i) {
    const auto sh = read_at<Elf64_Shdr>(elf, header.e_shoff + uint64_t{header.e_shentsize} * i);
    CHECK(sh.sh_type != SHT_SYMTAB);
    CHECK(sh.sh_type != SHT_DYNSYM);
    ++sections;
  }
  CHECK(sections > 0);
}

TEST_CASE("classify agrees with qengine run and eval on the float demo model") {
  if (sanitizer_build_without_classify()) return;
  TempDir tmp;
  const double accuracy = check_against_cli(demo_model(), tmp);
  CHECK(accuracy == cli_eval_top1(demo_model(), tmp));

  // Several files, --top 3 and --threads 1: the images in the order given, three classes each.
  const std::string sneaker = demo_images() + "/7_sneaker/00009.png";
  const std::string bag = demo_images() + "/8_bag/00018.png";
  const CommandResult r =
      run_classify("--top 3 --threads 1 --stats '" + demo_model() + "' '" + sneaker + "' '" + bag + "'", tmp);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  std::smatch stats;
  REQUIRE(std::regex_match(r.err, stats, std::regex(R"(classify: stats: images=2 failed=0 peak_rss_kb=(\d+)\n)")));
  CHECK(std::stol(stats[1]) > 0);
  const auto output = parse_output(r.out);
  REQUIRE(output.size() == 2);
  CHECK(r.out.rfind(sneaker + "\n", 0) == 0);
  CHECK(output.at(sneaker).size() == 3);
  CHECK(output.at(sneaker)[0].label == "7_sneaker");
  CHECK(output.at(bag)[0].label == "8_bag");
}

TEST_CASE("classify agrees with qengine run on the QONNX and QCDQ files of qengine calibrate") {
  if (sanitizer_build_without_classify()) return;
  TempDir tmp;
  const fs::path out = tmp.path() / "quant";
  const CommandResult cal =
      run_qengine("calibrate '" + demo_model() + "' '" + demo_images() + "' -o '" + out.string() + "' --samples 100 --quiet", tmp);
  INFO("calibrate stderr: " << cal.err);
  REQUIRE(cal.exit_code == 0);
  for (const char* file : {"fmnist_tiny_cnn.qonnx.onnx", "fmnist_tiny_cnn.qcdq.onnx"}) {
    INFO(file);
    const std::string model = require_file((out / file).string());
    const double accuracy = check_against_cli(model, tmp);
    CHECK(accuracy == cli_eval_top1(model, tmp));
  }
}

TEST_CASE("classify: bad input is one line on stderr and a non-zero exit code") {
  if (sanitizer_build_without_classify()) return;
  TempDir tmp;
  const std::string image = demo_images() + "/7_sneaker/00009.png";
  auto check_one_line = [](const CommandResult& r, int exit_code, const std::string& must_mention) {
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.exit_code == exit_code);
    CHECK(r.err.rfind("classify: error: ", 0) == 0);
    CHECK(r.err.find(must_mention) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == (exit_code == 2 ? 2 : 1));  // 2: then the usage line
  };

  SECTION("missing model") {
    const std::string model = (tmp.path() / "missing.onnx").string();
    const CommandResult r = run_classify("'" + model + "' '" + image + "'", tmp);
    check_one_line(r, 1, model);
    CHECK(r.out.empty());
  }
  SECTION("a file that is not a model") {
    const fs::path model = tmp.path() / "garbage.onnx";
    std::ofstream(model) << "not a protobuf";
    const CommandResult r = run_classify("'" + model.string() + "' '" + image + "'", tmp);
    check_one_line(r, 1, model.string());
    CHECK(r.out.empty());
  }
  SECTION("an unreadable image among good ones: the others are still classified") {
    const fs::path bad = tmp.path() / "broken.png";
    std::ofstream(bad) << "not a PNG";
    const CommandResult r = run_classify("'" + demo_model() + "' '" + image + "' '" + bad.string() + "'", tmp);
    check_one_line(r, 1, bad.string());
    const auto output = parse_output(r.out);
    REQUIRE(output.size() == 1);
    CHECK(output.at(image)[0].label == "7_sneaker");
  }
  SECTION("a missing image") {
    const std::string missing = (tmp.path() / "missing.png").string();
    const CommandResult r = run_classify("'" + demo_model() + "' '" + missing + "'", tmp);
    check_one_line(r, 1, missing);
    CHECK(r.out.empty());
  }
  SECTION("a folder without images") {
    const fs::path empty = tmp.path() / "empty";
    fs::create_directories(empty);
    const CommandResult r = run_classify("'" + demo_model() + "' '" + empty.string() + "'", tmp);
    check_one_line(r, 1, empty.string());
    CHECK(r.out.empty());
  }
  SECTION("no images on the command line") {
    check_one_line(run_classify("'" + demo_model() + "'", tmp), 2, "no images");
  }
  SECTION("--top needs a positive integer") {
    check_one_line(run_classify("--top 0 '" + demo_model() + "' '" + image + "'", tmp), 2, "--top");
  }
}
