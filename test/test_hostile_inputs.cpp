// Hostile and broken input through the real binary, one case per row of the table in
// docs/reliability.md: malformed or malicious models, rule files, images, folders and flags.
// Every case must end with exit code 2, exactly one line "qengine: error: ..." that names the
// file, node or value at fault, no crash, and no file in the output directory.
//
// The table in docs/reliability.md (between the GENERATED markers) is what this test prints;
// the test fails when they differ. QENGINE_UPDATE_DOCS=1 rewrites the doc's table instead.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "support/cli_support.h"
#include "support/onnx_model_builder.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace qe::test;

namespace {

constexpr int32_t kF = onnx::TensorProto::FLOAT;

void write_file(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string file_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// A PNG signature and IHDR chunk claiming `w`×`h` pixels, with no image data after it.
std::string png_header(uint32_t w, uint32_t h) {
  std::string s = "\x89PNG\r\n\x1a\n";
  auto be32 = [&](uint32_t v) {
    for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  be32(13);
  s += "IHDR";
  be32(w);
  be32(h);
  s += std::string("\x08\x02\x00\x00\x00", 5);
  be32(0);  // CRC (never reached: the size check comes first)
  return s;
}

// A 24-bit 4×4 BMP whose pixel rows (4 × 12 bytes) stop after 20 bytes.
std::string truncated_bmp() {
  std::string s = "BM";
  auto le32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  auto le16 = [&](uint16_t v) {
    s.push_back(static_cast<char>(v & 0xFF));
    s.push_back(static_cast<char>(v >> 8));
  };
  le32(54 + 48);  // file size as the header claims it
  le32(0);
  le32(54);  // pixel data offset
  le32(40);  // BITMAPINFOHEADER
  le32(4);
  le32(4);
  le16(1);
  le16(24);
  le32(0);  // BI_RGB
  le32(48);
  le32(2835);
  le32(2835);
  le32(0);
  le32(0);
  s += std::string(20, '\x40');
  return s;
}

struct Case {
  std::string category;     // model, rule file, images, flags
  std::string description;  // what is wrong, for the table
  std::string args;         // qengine arguments; {dir} is the case's directory, {out} its output directory
  std::string must_mention; // the file, node or value the message must name
  std::function<void(const fs::path& dir)> make;
};

std::vector<Case> cases(const std::string& tiny, const std::string& demo) {
  const std::string calib = "{dir}/calib";
  auto small_calib = [demo](const fs::path& dir) {
    for (const char* cls : {"0_t-shirt_top", "7_sneaker"}) {
      fs::create_directories(dir / "calib" / cls);
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(fs::path(demo) / cls)) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (size_t i = 0; i < 3 && i < files.size(); ++i) fs::copy_file(files[i], dir / "calib" / cls / files[i].filename());
    }
  };
  // Broken files go through calibrate (the main job, which must not write anything); broken
  // graphs through info, which loads, verifies, infers shapes and plans without needing images.
  auto model_file_case = [&](std::string description, std::string must_mention, std::function<std::string()> bytes) {
    return Case{"model", std::move(description), "calibrate {dir}/m.onnx " + calib + " -o {out}", std::move(must_mention),
                [small_calib, bytes](const fs::path& dir) {
                  small_calib(dir);
                  write_file(dir / "m.onnx", bytes());
                }};
  };
  auto model_case = [&](std::string description, std::string must_mention, std::function<std::string()> bytes) {
    return Case{"model", std::move(description), "info {dir}/m.onnx", std::move(must_mention),
                [bytes](const fs::path& dir) { write_file(dir / "m.onnx", bytes()); }};
  };
  auto rule_case = [&](std::string description, std::string must_mention, std::string text) {
    return Case{"rule file", std::move(description), "calibrate " + tiny + " " + calib + " --config {dir}/rules.json -o {out}",
                std::move(must_mention), [small_calib, text](const fs::path& dir) {
                  small_calib(dir);
                  write_file(dir / "rules.json", text);
                }};
  };
  // A calibration folder whose only image is `bytes`.
  auto image_case = [&](std::string description, std::string bytes, std::string name) {
    return Case{"images", std::move(description), "calibrate " + tiny + " {dir}/calib -o {out}", "calib",
                [bytes, name](const fs::path& dir) { write_file(dir / "calib" / "0_t-shirt_top" / name, bytes); }};
  };
  auto single_image_case = [&](std::string description, std::string bytes, std::string name) {
    return Case{"images", std::move(description), "run " + tiny + " {dir}/" + name, name,
                [bytes, name](const fs::path& dir) { write_file(dir / name, bytes); }};
  };
  const std::string tiny_bytes = file_bytes(tiny);
  std::vector<fs::path> sneakers;
  for (const auto& e : fs::directory_iterator(fs::path(demo) / "7_sneaker")) sneakers.push_back(e.path());
  REQUIRE_FALSE(sneakers.empty());
  const std::string sneaker = std::min_element(sneakers.begin(), sneakers.end())->string();
  std::vector<Case> list;

  // Models.
  list.push_back(model_file_case("empty file", "m.onnx", [] { return std::string(); }));
  list.push_back(model_file_case("4 KiB of random bytes", "m.onnx", [] {
    std::mt19937 rng(7);
    std::string s(4096, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  }));
  list.push_back(model_file_case("a real model cut in half", "m.onnx",
                            [tiny_bytes] { return tiny_bytes.substr(0, tiny_bytes.size() / 2); }));
  list.push_back(model_file_case("valid protobuf without a graph", "m.onnx", [] {
    onnx::ModelProto m;
    m.set_ir_version(7);
    m.add_opset_import()->set_version(13);
    return m.SerializeAsString();
  }));
  list.push_back(model_case("unknown operator", "FancyOp", [] {
    auto b = relu_model();
    b.graph().mutable_node(0)->set_op_type("FancyOp");
    return b.bytes();
  }));
  list.push_back(model_case("opset 99", "99", [] {
    auto b = relu_model();
    b.model().mutable_opset_import(0)->set_version(99);
    return b.bytes();
  }));
  list.push_back(model_case("graph cycle (a → b → a)", "cycle", [] {
    OnnxModelBuilder b(13);
    b.input("x", kF, {1, 4});
    b.node("Add", {"x", "b"}, {"a"}, "add");
    b.node("Relu", {"a"}, {"b"}, "relu");
    b.output("b");
    return b.bytes();
  }));
  list.push_back(model_case("node input nobody produces", "ghost", [] {
    auto b = relu_model();
    b.graph().mutable_node(0)->set_input(0, "ghost");
    return b.bytes();
  }));
  list.push_back(model_case("two nodes write the same value", "'y'", [] {
    auto b = relu_model();
    b.node("Relu", {"x"}, {"y"}, "again");
    return b.bytes();
  }));
  list.push_back(model_case("node name of 100 000 characters", "100000 characters", [] {
    auto b = relu_model();
    b.graph().mutable_node(0)->set_name(std::string(100000, 'n'));
    return b.bytes();
  }));
  list.push_back(model_case("graph output nobody produces", "nowhere", [] {
    auto b = relu_model();
    b.graph().mutable_output(0)->set_name("nowhere");
    return b.bytes();
  }));
  list.push_back(model_case("initializer bytes do not match its shape", "'w'", [] {
    OnnxModelBuilder b(13);
    b.input("x", kF, {4});
    const float w[2] = {1, 2};
    b.initializer_raw("w", kF, {4}, w, sizeof(w));
    b.node("Add", {"x", "w"}, {"y"}, "add");
    b.output("y");
    return b.bytes();
  }));
  list.push_back(model_case("negative initializer dimension", "'w'", [] {
    OnnxModelBuilder b(13);
    b.input("x", kF, {4});
    const float w[4] = {1, 2, 3, 4};
    b.initializer_raw("w", kF, {-4}, w, sizeof(w));
    b.node("Add", {"x", "w"}, {"y"}, "add");
    b.output("y");
    return b.bytes();
  }));
  list.push_back(model_case("dimensions whose product overflows 64 bits", "'w'", [] {
    OnnxModelBuilder b(13);
    b.input("x", kF, {4});
    b.initializer_raw("w", kF, {int64_t(1) << 40, int64_t(1) << 40}, nullptr, 0);
    b.node("Add", {"x", "w"}, {"y"}, "add");
    b.output("y");
    return b.bytes();
  }));
  list.push_back(model_case("negative input dimension", "'x'", [] {
    auto b = relu_model();
    b.graph().mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_value(-3);
    return b.bytes();
  }));
  list.push_back(model_case("Conv weight does not fit the input channels", "conv", [] {
    OnnxModelBuilder b(13);
    b.input("x", kF, {1, 3, 8, 8});
    std::vector<float> w(4 * 5 * 3 * 3, 0.5f);
    b.initializer_raw("w", kF, {4, 5, 3, 3}, w.data(), w.size() * sizeof(float));
    b.node("Conv", {"x", "w"}, {"y"}, "conv");
    b.output("y");
    return b.bytes();
  }));
  list.push_back(model_case("external data path with ..", "'w'", [] { return external_data_model("../secret.bin").bytes(); }));
  list.push_back(model_case("external data at an absolute path", "'w'", [] { return external_data_model("/etc/passwd").bytes(); }));
  list.push_back(Case{"model", "external data through a symlink that leaves the model's folder", "info {dir}/model/m.onnx", "'w'",
                      [](const fs::path& dir) {
                        write_file(dir / "outside.bin", std::string(16, '\0'));
                        write_file(dir / "model" / "m.onnx", external_data_model("link.bin").bytes());
                        fs::create_symlink(dir / "outside.bin", dir / "model" / "link.bin");
                      }});
  list.push_back(model_file_case("subgraphs nested 200 deep", "m.onnx", [] { return nested_subgraphs_model_bytes(200); }));
  list.push_back(Case{"model", "a directory named like a model", "calibrate {dir}/m.onnx " + calib + " -o {out}", "m.onnx",
                      [small_calib](const fs::path& dir) {
                        small_calib(dir);
                        fs::create_directories(dir / "m.onnx");
                      }});
  list.push_back(Case{"model", "model file does not exist", "calibrate {dir}/missing.onnx " + calib + " -o {out}", "missing.onnx",
                      small_calib});

  list.push_back(Case{"model", "sidecar JSON with a number past double's range", "run {dir}/m.onnx " + sneaker, "m.json",
                      [tiny](const fs::path& dir) {
                        fs::copy_file(tiny, dir / "m.onnx");
                        write_file(dir / "m.json", R"({"preprocessing": {"resize": 1e999}})");
                      }});

  // Rule files.
  list.push_back(rule_case("not JSON", "rules.json", "{ weights: 4"));
  list.push_back(rule_case("empty file", "rules.json", ""));
  list.push_back(rule_case("misspelt key", "wieght", R"({"defaults": {"wieght": {"bits": 4}}})"));
  list.push_back(rule_case("0-bit weights", "bits", R"({"defaults": {"weight": {"bits": 0}}})"));
  list.push_back(rule_case("bits given as a word", "bits", R"({"defaults": {"weight": {"bits": "eight"}}})"));
  list.push_back(rule_case("selector regex that does not compile", "name_regex",
                           R"({"rules": [{"match": {"name_regex": "(["}, "weight": {"bits": 4}}]})"));
  list.push_back(rule_case("regular expression nesting 300 groups", "name_regex",
                           R"({"rules": [{"match": {"name_regex": ")" + std::string(300, '(') + "a" + std::string(300, ')') +
                               R"("}, "weight": {"bits": 4}}]})"));
  list.push_back(rule_case("regular expression with exponential backtracking, (a+)+b", "name_regex",
                           R"({"rules": [{"match": {"name_regex": "(a+)+b"}, "weight": {"bits": 4}}]})"));
  list.push_back(rule_case("rule selector that is not an object", "match", R"({"rules": [{"match": 7}]})"));
  list.push_back(rule_case("per-channel activations along an axis the tensors do not have", "axis 7",
                           R"({"defaults": {"activation": {"granularity": "per_channel", "axis": 7}}})"));
  list.push_back(rule_case("JSON nested 100 000 deep", "rules.json", std::string(100000, '[') + std::string(100000, ']')));

  // Images and folders.
  list.push_back(Case{"images", "empty calibration folder", "calibrate " + tiny + " {dir}/calib -o {out}", "calib",
                      [](const fs::path& dir) { fs::create_directories(dir / "calib"); }});
  list.push_back(Case{"images", "class folders without images", "calibrate " + tiny + " {dir}/calib -o {out}", "calib",
                      [](const fs::path& dir) { fs::create_directories(dir / "calib" / "a" / "b"); }});
  list.push_back(image_case("only image is 0 bytes", "", "x.png"));
  list.push_back(image_case("only image is a text file named .jpg", "hello, I am not a JPEG\n", "x.jpg"));
  list.push_back(single_image_case("PNG cut after its header", png_header(28, 28) + "IDAT", "cut.png"));
  list.push_back(single_image_case("PNG header claiming 100000 × 100000 pixels", png_header(100000, 100000), "huge.png"));
  list.push_back(single_image_case("BMP whose pixel rows stop early", truncated_bmp(), "cut.bmp"));
  list.push_back(Case{"images", "image file that does not exist", "run " + tiny + " {dir}/gone.png", "gone.png", nullptr});
  list.push_back(single_image_case("image file that is empty", "", "empty.png"));

  // Flags.
  list.push_back(Case{"flags", "negative --input-shape", "run " + tiny + " " + sneaker + " --input-shape input=1,-1,28,28", "input-shape", nullptr});
  list.push_back(Case{"flags", "--max-memory below what the model needs", "run " + tiny + " " + sneaker + " --max-memory 64K",
                      "over the limit of 64 KiB", nullptr});
  list.push_back(Case{"flags", "--max-memory that is not a size", "calibrate " + tiny + " " + calib + " --max-memory lots -o {out}",
                      "lots", small_calib});
  list.push_back(Case{"flags", "-o names an existing file", "calibrate " + tiny + " " + calib + " -o {dir}/file", "file",
                      [small_calib](const fs::path& dir) {
                        small_calib(dir);
                        write_file(dir / "file", "x");
                      }});
  list.push_back(Case{"flags", "33-bit weights", "calibrate " + tiny + " " + calib + " --w-bits 33 -o {out}", "w-bits", small_calib});
  list.push_back(Case{"flags", "unknown policy", "calibrate " + tiny + " " + calib + " --policy fastest -o {out}", "fastest", small_calib});
  return list;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

std::string table_cell(std::string s) {
  s = replace_all(s, "|", "\\|");
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace

TEST_CASE("hostile input: one line, exit code 2, nothing written, for every case in docs/reliability.md") {
  const std::string tiny = tiny_model();
  const std::string demo = require_file(source_dir() + "/examples/images");
  TempDir tmp;
  std::string table = "| # | input | what is wrong | command | error |\n|---|---|---|---|---|\n";
  const std::vector<Case> all = cases(tiny, demo);
  REQUIRE(all.size() >= 25);
  int index = 0;
  for (const Case& c : all) {
    ++index;
    const fs::path dir = tmp.path() / ("case" + std::to_string(index));
    fs::create_directories(dir);
    if (c.make) c.make(dir);
    const fs::path out = dir / "out";
    const std::string args = replace_all(replace_all(c.args, "{dir}", dir.string()), "{out}", out.string());
    const CommandResult r = run_qengine(args, tmp);
    INFO("case " << index << ": " << c.category << ", " << c.description << "\nqengine " << args << "\nstderr: " << r.err
                 << "\nstdout: " << r.out);
    check_one_line_error(r, c.must_mention);
    CHECK_FALSE(fs::exists(out));  // no output directory, let alone partial files

    // The table shows paths relative to the case's directory and the repository.
    auto shown = [&](std::string s) {
      s = replace_all(s, dir.string() + "/", "");
      s = replace_all(s, dir.string(), ".");
      s = replace_all(s, source_dir() + "/", "");
      return s;
    };
    table += "| " + std::to_string(index) + " | " + c.category + " | " + c.description + " | `qengine " +
             table_cell(shown(args)) + "` | " + table_cell(shown(r.err)) + " |\n";
  }

  const fs::path doc = fs::path(source_dir()) / "docs" / "reliability.md";
  const std::string begin = "<!-- BEGIN GENERATED: test_hostile_inputs -->\n";
  const std::string end = "<!-- END GENERATED -->";
  std::string text = file_bytes(doc);
  size_t b = text.find(begin);
  size_t e = text.find(end, b == std::string::npos ? 0 : b);
  INFO("docs/reliability.md needs the markers " << begin << " and " << end);
  REQUIRE(b != std::string::npos);
  REQUIRE(e != std::string::npos);
  const char* update = std::getenv("QENGINE_UPDATE_DOCS");
  if (update && std::string(update) == "1") {
    text = text.substr(0, b + begin.size()) + table + text.substr(e);
    write_file(doc, text);
    e = b + begin.size() + table.size();
  }
  INFO("docs/reliability.md's table is out of date: run `QENGINE_UPDATE_DOCS=1 ctest -R test_hostile_inputs` in the build directory");
  CHECK(text.substr(b + begin.size(), e - b - begin.size()) == table);
}
