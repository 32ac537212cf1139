// The ONNX operator conformance suite (Debian's libonnx-testdata): every case whose ops qengine
// registers is imported, run on each of its data sets and compared with the expected outputs.
// Cases the engine declines (an attribute value or dtype it does not support) are listed with
// the reason; any other error or a wrong value is a failure.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "engine/session.h"
#include "frontends/onnx/onnx_import.h"
#include "frontends/onnx/onnx_test_data.h"
#include "graph/op_kind.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace qe;

namespace {

std::string node_test_dir() {
  const char* env = std::getenv("QENGINE_ONNX_NODE_TESTS");
  return env ? env : "/usr/share/libonnx-testdata/data/node";
}

std::vector<fs::path> sorted_entries(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path());
  }
  // input_10 after input_9: order by the number after the prefix when there is one.
  std::sort(out.begin(), out.end(), [&](const fs::path& a, const fs::path& b) {
    auto num = [&](const fs::path& p) {
      std::string s = p.stem().string().substr(prefix.size());
      try { return std::stoi(s); } catch (...) { return 0; }
    };
    return num(a) != num(b) ? num(a) < num(b) : a < b;
  });
  return out;
}

// Empty when equal within tolerance, else what differs.
std::string compare_tensors(const Tensor& got, const Tensor& want_in) {
  Tensor want = want_in;
  bool bf16_truncated = false;
  if (got.dtype() == DType::kBF16 && want.dtype() == DType::kU16) {
    // Old test data: bfloat16 as uint16 bits, made by truncation where ONNX now rounds to even.
    want = Tensor::from_data(DType::kBF16, want.shape(), want.raw());
    bf16_truncated = true;
  }
  if (got.shape() != want.shape()) return "shape " + got.shape().to_string() + ", expected " + want.shape().to_string();
  if (got.dtype() != want.dtype()) {
    return "dtype " + std::string(dtype_name(got.dtype())) + ", expected " + std::string(dtype_name(want.dtype()));
  }
  const bool is_float = dtype_is_float(want.dtype());
  // Tolerances of onnx's own backend tests (rtol 1e-3) with a small absolute floor for
  // vectorised transcendental functions; integers and bools must match exactly.
  const double rtol = bf16_truncated ? 1.0 / 128 : 1e-3, atol = 1e-5;
  for (int64_t i = 0; i < want.numel(); ++i) {
    double g = read_element_as_double(got.raw(), got.dtype(), i);
    double w = read_element_as_double(want.raw(), want.dtype(), i);
    if (is_float) {
      if (std::isnan(w) && std::isnan(g)) continue;
      if (std::isinf(w) && g == w) continue;
      if (std::fabs(g - w) <= atol + rtol * std::fabs(w)) continue;
    } else if (g == w) {
      continue;
    }
    return "element " + std::to_string(i) + " is " + std::to_string(g) + ", expected " + std::to_string(w);
  }
  return "";
}

struct Outcome {
  enum Kind { kPassed, kFailed, kSkipped, kNotApplicable } kind;
  std::string reason;
};

Outcome run_case(const fs::path& dir) {
  std::string model_path = (dir / "model.onnx").string();
  auto ops = list_onnx_op_types(model_path);
  if (!ops.is_ok()) return {Outcome::kFailed, ops.status().message()};
  for (const std::string& op : *ops) {
    auto colon = op.find(':');
    if (colon != 0 || !op_from_name(op.substr(1))) return {Outcome::kNotApplicable, op};
  }
  auto sets = sorted_entries(dir, "test_data_set_");
  if (sets.empty()) return {Outcome::kFailed, "no test_data_set_* folder"};
  for (const fs::path& set : sets) {
    auto graph = import_onnx_file(model_path);
    if (!graph.is_ok()) {
      bool declined = graph.status().code() == StatusCode::kUnsupported;
      return {declined ? Outcome::kSkipped : Outcome::kFailed, graph.status().message()};
    }
    std::vector<Tensor> files;
    for (const fs::path& f : sorted_entries(set, "input_")) {
      auto t = read_onnx_tensor_file(f.string());
      if (!t.is_ok()) return {Outcome::kFailed, t.status().message()};
      files.push_back(std::move(t).value());
    }
    Graph& g = *graph;
    if (files.size() != g.inputs().size()) {
      return {Outcome::kFailed, std::to_string(files.size()) + " input files for " + std::to_string(g.inputs().size()) + " inputs"};
    }
    // Integer inputs are shape-like (Reshape's shape, Slice's starts, Gather's indices): a plan
    // is specialised to concrete shapes, so they are bound as constants, as in real models.
    std::vector<ValueId> runtime_inputs;
    std::vector<Tensor> inputs;
    for (size_t i = 0; i < files.size(); ++i) {
      ValueId v = g.inputs()[i];
      Tensor t = files[i];
      // The old test data stores bfloat16 tensors as uint16 bit patterns.
      if (g.value(v).dtype == DType::kBF16 && t.dtype() == DType::kU16) t = Tensor::from_data(DType::kBF16, t.shape(), t.raw());
      const Value& val = g.value(v);
      if (val.shape_known) {
        for (size_t d = 0; d < std::max(t.shape().rank(), val.shape.rank()); ++d) {
          if (val.shape.rank() != t.shape().rank() || (val.shape[d] >= 0 && val.shape[d] != t.shape()[d])) {
            return {Outcome::kSkipped, "the test data for input '" + val.name + "' has shape " + t.shape().to_string() +
                                           ", contradicting the model's declared " + val.shape.to_string()};
          }
        }
      }
      // Resize's roi/scales/sizes decide the output shape, which a plan needs up front.
      bool resize_parameter = !val.uses.empty();
      for (const Use& u : val.uses) {
        OpKind op = g.node(u.node).op;
        resize_parameter = resize_parameter && (op == OpKind::kResize || op == OpKind::kUpsample) && u.input_index >= 1;
      }
      if ((!dtype_is_float(t.dtype()) && t.dtype() != DType::kBool) || resize_parameter) {
        g.set_constant(v, t);
      } else {
        runtime_inputs.push_back(v);
        inputs.push_back(t);
      }
    }
    g.set_inputs(runtime_inputs);
    SessionOptions so;
    so.num_threads = 2;
    auto session = Session::create(std::move(graph).value(), so);
    if (!session.is_ok()) {
      bool declined = session.status().code() == StatusCode::kUnsupported;
      return {declined ? Outcome::kSkipped : Outcome::kFailed, session.status().message()};
    }
    auto out = (*session)->run(inputs);
    if (!out.is_ok()) {
      bool declined = out.status().code() == StatusCode::kUnsupported;
      return {declined ? Outcome::kSkipped : Outcome::kFailed, out.status().message()};
    }
    auto expected = sorted_entries(set, "output_");
    if (expected.size() != out->size()) {
      return {Outcome::kFailed, std::to_string(out->size()) + " outputs, expected " + std::to_string(expected.size())};
    }
    for (size_t i = 0; i < expected.size(); ++i) {
      auto want = read_onnx_tensor_file(expected[i].string());
      if (!want.is_ok()) return {Outcome::kFailed, want.status().message()};
      std::string diff = compare_tensors((*out)[i], *want);
      if (!diff.empty()) return {Outcome::kFailed, set.filename().string() + " output " + std::to_string(i) + ": " + diff};
    }
  }
  return {Outcome::kPassed, ""};
}

}  // namespace

TEST_CASE("ONNX operator conformance suite") {
  fs::path root = test::require_file(node_test_dir());
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.is_directory() && fs::exists(e.path() / "model.onnx")) cases.push_back(e.path());
  }
  std::sort(cases.begin(), cases.end());
  REQUIRE(cases.size() > 500);

  std::map<Outcome::Kind, std::vector<std::pair<std::string, std::string>>> by_kind;
  for (const fs::path& dir : cases) {
    Outcome o = run_case(dir);
    by_kind[o.kind].emplace_back(dir.filename().string(), o.reason);
  }
  std::map<std::string, int> not_applicable_ops;
  for (const auto& [name, op] : by_kind[Outcome::kNotApplicable]) not_applicable_ops[op]++;

  std::ofstream report(test::binary_dir() + "/onnx_conformance.txt");
  auto emit = [&](const std::string& line) {
    std::cout << line << "\n";
    report << line << "\n";
  };
  emit("ONNX conformance (" + root.string() + "): " + std::to_string(cases.size()) + " cases, " +
       std::to_string(by_kind[Outcome::kNotApplicable].size()) + " use ops qengine does not register");
  for (const auto& [name, why] : by_kind[Outcome::kSkipped]) emit("skipped " + name + ": " + why);
  for (const auto& [name, why] : by_kind[Outcome::kFailed]) emit("FAILED " + name + ": " + why);
  emit("conformance: " + std::to_string(by_kind[Outcome::kPassed].size()) + " passed, " +
       std::to_string(by_kind[Outcome::kFailed].size()) + " failed, " +
       std::to_string(by_kind[Outcome::kSkipped].size()) + " skipped");

  CHECK(by_kind[Outcome::kPassed].size() > 0);
  CHECK(by_kind[Outcome::kFailed].empty());
}
