// Hostile and broken ONNX input: every case must end in one clear error (naming the file, node,
// value or attribute at fault), never a crash, a hang or a huge allocation.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <onnx/onnx_pb.h>

#include "frontends/onnx/onnx_import.h"
#include "support/onnx_model_builder.h"
#include "support/test_support.h"

using namespace qe;
using namespace qe::test;
namespace fs = std::filesystem;

namespace {

constexpr int32_t kF = onnx::TensorProto::FLOAT;

fs::path scratch_dir(const std::string& name) {
  fs::path d = fs::path(test::binary_dir()) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

Status import_bytes_error(const std::string& bytes, const std::string& base_dir = "") {
  auto r = import_onnx_bytes(bytes.data(), bytes.size(), base_dir, "bad.onnx");
  REQUIRE_FALSE(r.is_ok());
  return r.status();
}

bool mentions(const Status& st, const std::string& what) { return st.message().find(what) != std::string::npos; }

}  // namespace

TEST_CASE("missing files, directories and empty files") {
  auto missing = import_onnx_file("/nonexistent/dir/model.onnx");
  REQUIRE_FALSE(missing.is_ok());
  CHECK(missing.status().code() == StatusCode::kNotFound);
  CHECK(mentions(missing.status(), "/nonexistent/dir/model.onnx"));

  fs::path dir = scratch_dir("onnx_bad_dirs");
  auto is_dir = import_onnx_file(dir.string());
  REQUIRE_FALSE(is_dir.is_ok());
  CHECK(mentions(is_dir.status(), "directory"));

  write_file(dir / "empty.onnx", "");
  auto empty = import_onnx_file((dir / "empty.onnx").string());
  REQUIRE_FALSE(empty.is_ok());
  CHECK(mentions(empty.status(), "empty.onnx"));
  CHECK(mentions(empty.status(), "empty"));
  fs::remove_all(dir);
}

TEST_CASE("truncated and corrupted copies of a real model fail cleanly") {
  const std::string model = read_file(test::shared_path("models/fmnist_tiny_cnn.onnx"));
  REQUIRE(model.size() > 1000);
  fs::path dir = scratch_dir("onnx_bad_truncated");
  write_file(dir / "half.onnx", model.substr(0, model.size() / 2));
  auto half = import_onnx_file((dir / "half.onnx").string());
  REQUIRE_FALSE(half.is_ok());
  CHECK(half.status().code() == StatusCode::kParseError);
  CHECK(mentions(half.status(), "half.onnx"));
  fs::remove_all(dir);

  // Every truncation point in the first kilobyte and a sample after it: an error or (for a
  // cut that happens to end on a field boundary) a graph, never a crash.
  for (size_t len = 1; len < model.size(); len += (len < 1024 ? 1 : 997)) {
    auto r = import_onnx_bytes(model.data(), len, "", "cut");
    if (r.is_ok()) CHECK(r->num_live_nodes() <= 11);
  }
  // Random byte flips.
  std::mt19937 rng(42);
  for (int trial = 0; trial < 300; ++trial) {
    std::string bad = model;
    int flips = 1 + static_cast<int>(rng() % 8);
    for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] = static_cast<char>(rng());
    auto r = import_onnx_bytes(bad.data(), bad.size(), "", "flipped");
    if (!r.is_ok()) CHECK_FALSE(r.status().message().empty());
  }
}

TEST_CASE("random bytes are not a model") {
  std::mt19937 rng(7);
  for (size_t size : {1u, 3u, 64u, 4096u}) {
    std::string junk(size, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    auto r = import_onnx_bytes(junk.data(), junk.size(), "", "junk.bin");
    REQUIRE_FALSE(r.is_ok());
    CHECK(mentions(r.status(), "junk.bin"));
  }
  // Valid protobuf, but not a model: no graph.
  onnx::ModelProto empty;
  empty.set_ir_version(7);
  std::string bytes;
  empty.SerializeToString(&bytes);
  CHECK(mentions(import_bytes_error(bytes), "no graph"));
}

TEST_CASE("unknown ops and domains name the op type, the node and the domain") {
  auto b = relu_model();
  b.graph().mutable_node(0)->set_op_type("FancyOp");
  Status st = import_bytes_error(b.bytes());
  CHECK(st.code() == StatusCode::kUnsupported);
  CHECK(mentions(st, "'FancyOp'"));
  CHECK(mentions(st, "'relu'"));
  CHECK(mentions(st, "ai.onnx"));

  auto b2 = relu_model();
  b2.graph().mutable_node(0)->set_domain("com.microsoft");
  b2.graph().mutable_node(0)->set_name("");
  auto* imp = b2.model().add_opset_import();
  imp->set_domain("com.microsoft");
  imp->set_version(1);
  Status st2 = import_bytes_error(b2.bytes());
  CHECK(st2.code() == StatusCode::kUnsupported);
  CHECK(mentions(st2, "'Relu'"));
  CHECK(mentions(st2, "'Relu_0'"));  // the generated name
  CHECK(mentions(st2, "com.microsoft"));

  // Declaring another domain without using it is fine.
  auto b3 = relu_model();
  auto* ml = b3.model().add_opset_import();
  ml->set_domain("ai.onnx.ml");
  ml->set_version(3);
  std::string ok = b3.bytes();
  CHECK(import_onnx_bytes(ok.data(), ok.size(), "", "ok").is_ok());
}

TEST_CASE("opsets outside the supported range and missing opset imports") {
  auto old = relu_model();
  old.model().mutable_opset_import(0)->set_version(0);
  CHECK(mentions(import_bytes_error(old.bytes()), "opset 0"));
  auto future = relu_model();
  future.model().mutable_opset_import(0)->set_version(99);
  CHECK(mentions(import_bytes_error(future.bytes()), "opset 99"));
  auto none = relu_model();
  none.model().clear_opset_import();
  CHECK(import_bytes_error(none.bytes()).code() != StatusCode::kOk);
}

TEST_CASE("initializers whose bytes do not match their shape") {
  auto b = relu_model();
  std::vector<float> three = {1, 2, 3};
  b.initializer_f32("w", {4}, three);  // 12 bytes for 4 floats
  Status st = import_bytes_error(b.bytes());
  CHECK(mentions(st, "'w'"));
  CHECK(mentions(st, "12 bytes"));

  auto b2 = relu_model();
  auto* t = b2.initializer("w", onnx::TensorProto::INT64, {3});
  t->add_int64_data(1);
  CHECK(mentions(import_bytes_error(b2.bytes()), "'w'"));

  auto b3 = relu_model();
  auto* wrong_field = b3.initializer("w", kF, {2});
  wrong_field->add_int64_data(1);
  wrong_field->add_int64_data(2);
  CHECK(mentions(import_bytes_error(b3.bytes()), "float_data"));

  auto b4 = relu_model();
  auto* neg = b4.initializer("w", kF, {-2});
  (void)neg;
  CHECK(mentions(import_bytes_error(b4.bytes()), "negative"));

  // A forged shape of 2^40 floats backed by 4 bytes: rejected before any allocation.
  auto b5 = relu_model();
  float one = 1.f;
  b5.initializer_raw("huge", kF, {1 << 20, 1 << 20}, &one, 4);
  CHECK(mentions(import_bytes_error(b5.bytes()), "'huge'"));

  auto b6 = relu_model();
  auto* s = b6.initializer("s", onnx::TensorProto::STRING, {1});
  s->add_string_data("text");
  CHECK(import_bytes_error(b6.bytes()).code() == StatusCode::kUnsupported);

  auto b7 = relu_model();
  b7.initializer("c", onnx::TensorProto::COMPLEX64, {1})->add_float_data(1.f);
  CHECK(mentions(import_bytes_error(b7.bytes()), "COMPLEX64"));

  auto b8 = relu_model();
  b8.initializer("nodata", kF, {2});
  CHECK(mentions(import_bytes_error(b8.bytes()), "no data"));
}

TEST_CASE("external data may not leave the model's directory") {
  fs::path root = scratch_dir("onnx_bad_external");
  fs::path model_dir = root / "model";
  fs::create_directories(model_dir);
  std::vector<float> w = {1, 2, 3, 4};
  std::string wbytes(reinterpret_cast<const char*>(w.data()), 16);
  write_file(root / "outside.bin", wbytes);
  write_file(model_dir / "inside.bin", wbytes);
  fs::create_symlink(root / "outside.bin", model_dir / "link.bin");

  auto try_location = [&](const std::string& location, const std::string& length = "16") {
    write_file(model_dir / "m.onnx", external_data_model(location, length).bytes());
    return import_onnx_file((model_dir / "m.onnx").string());
  };
  auto ok = try_location("inside.bin");
  INFO(ok.status().message());
  REQUIRE(ok.is_ok());
  CHECK(ok->value(ok->find_value("w")).constant.to_float_vector() == w);

  for (const std::string& loc : std::vector<std::string>{"../outside.bin", "sub/../../outside.bin", (root / "outside.bin").string(), "link.bin",
                                "missing.bin", "", "."}) {
    INFO("location '" << loc << "'");
    auto r = try_location(loc);
    REQUIRE_FALSE(r.is_ok());
    CHECK(mentions(r.status(), "'w'"));
  }
  auto short_len = try_location("inside.bin", "12");
  REQUIRE_FALSE(short_len.is_ok());
  CHECK(mentions(short_len.status(), "length"));
  auto junk_len = try_location("inside.bin", "sixteen");
  REQUIRE_FALSE(junk_len.is_ok());
  write_file(model_dir / "small.bin", "tiny");
  auto too_small = try_location("small.bin", "");
  REQUIRE_FALSE(too_small.is_ok());
  CHECK(mentions(too_small.status(), "small.bin"));

  // From bytes without a directory, external data has nowhere to come from.
  std::string bytes = external_data_model("inside.bin").bytes();
  CHECK(mentions(import_bytes_error(bytes), "external"));
  OnnxImportOptions no_ext;
  no_ext.allow_external_data = false;
  auto disabled = import_onnx_bytes(bytes.data(), bytes.size(), model_dir.string(), "m", no_ext);
  CHECK_FALSE(disabled.is_ok());
  fs::remove_all(root);
}

TEST_CASE("graph structure errors name the value or node") {
  auto undefined = relu_model();
  undefined.graph().mutable_node(0)->set_input(0, "ghost");
  Status st = import_bytes_error(undefined.bytes());
  CHECK(mentions(st, "'ghost'"));
  CHECK(mentions(st, "'relu'"));

  auto twice = relu_model();
  twice.node("Relu", {"x"}, {"y"}, "again");
  CHECK(mentions(import_bytes_error(twice.bytes()), "'y' is defined twice"));

  auto no_out = relu_model();
  no_out.graph().mutable_output(0)->set_name("nowhere");
  CHECK(mentions(import_bytes_error(no_out.bytes()), "'nowhere'"));

  auto graph_attr = relu_model();
  auto* a = graph_attr.graph().mutable_node(0)->add_attribute();
  a->set_name("body");
  a->set_type(onnx::AttributeProto::GRAPH);
  a->mutable_g()->set_name("sub");
  Status sg = import_bytes_error(graph_attr.bytes());
  CHECK(sg.code() == StatusCode::kUnsupported);
  CHECK(mentions(sg, "'body'"));
  CHECK(mentions(sg, "'relu'"));

  auto reserved = relu_model();
  OnnxModelBuilder::attr_int(reserved.graph().mutable_node(0), "_act", 1);
  CHECK(mentions(import_bytes_error(reserved.bytes()), "'_act'"));

  auto seq_input = relu_model();
  seq_input.graph().mutable_input(0)->mutable_type()->mutable_sequence_type();
  CHECK(import_bytes_error(seq_input.bytes()).code() != StatusCode::kOk);

  auto bad_const = relu_model();
  auto* c = bad_const.node("Constant", {}, {"k"}, "konst");
  OnnxModelBuilder::attr_string(c, "value_string", "s");
  CHECK(mentions(import_bytes_error(bad_const.bytes()), "'konst'"));

  auto empty_value = relu_model();
  empty_value.graph().mutable_input(0)->set_name("");
  empty_value.graph().mutable_node(0)->set_input(0, "");
  CHECK(import_bytes_error(empty_value.bytes()).code() != StatusCode::kOk);
}

TEST_CASE("deeply nested messages hit the recursion limit instead of the stack") {
  const std::string bytes = nested_subgraphs_model_bytes(200);
  Status st = import_bytes_error(bytes);
  CHECK(st.code() == StatusCode::kParseError);

  OnnxImportOptions small;
  small.max_model_bytes = 100;
  auto big = import_onnx_bytes(bytes.data(), bytes.size(), "", "big", small);
  REQUIRE_FALSE(big.is_ok());
  CHECK(big.status().code() == StatusCode::kOutOfRange);
}
