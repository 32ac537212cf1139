// `qengine calibrate --report`: the HTML page holds every quantized layer with its SQNR bars
// and bit widths, one histogram per activation quantizer, the accuracy comparison, escapes
// model-provided names and refers to nothing outside itself; headless Chromium renders it
// (the screenshot is kept in the build tree: test-artifacts/report.png).
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include "engine/data/image.h"
#include "frontends/onnx/onnx_export.h"
#include "frontends/onnx/onnx_import.h"
#include "support/cli_support.h"
#include "support/must.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace qe::test;
using Json = nlohmann::json;

namespace {

std::string demo_images() { return require_file(source_dir() + "/examples/images"); }

// A node name with every character HTML gives a meaning to.
const std::string kOddName = "/conv2/<Conv> & \"two\" 'x'";

// The demo model with one node renamed to kOddName, and its sidecar beside it.
std::string model_with_odd_name(const TempDir& tmp) {
  qe::Graph g = must(qe::import_onnx_file(tiny_model()));
  bool renamed = false;
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    qe::Node& n = g.node(static_cast<qe::NodeId>(i));
    if (n.alive && n.name == "/conv2/Conv") {
      n.name = kOddName;
      renamed = true;
    }
  }
  REQUIRE(renamed);
  const fs::path model = tmp.path() / "odd.onnx";
  const qe::Status st = qe::export_onnx_file(g, model.string());
  INFO(st.message());
  REQUIRE(st.is_ok());
  fs::copy_file(require_file(source_dir() + "/examples/models/fmnist_tiny_cnn.json"), tmp.path() / "odd.json");
  return model.string();
}

// The test's own escaping (not the report's), to find names as the page must spell them.
std::string escaped(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '"') out += "&quot;";
    else if (c == '\'') out += "&#39;";
    else out += c;
  }
  return out;
}

// The element that starts with `open` (e.g. `<g class="bar-row" data-node="x"`), up to the
// first `close` after it; empty when absent.
std::string element(const std::string& html, const std::string& open, const std::string& close) {
  const size_t begin = html.find(open);
  if (begin == std::string::npos) return "";
  const size_t end = html.find(close, begin);
  return end == std::string::npos ? "" : html.substr(begin, end + close.size() - begin);
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

bool is_activation(const Json& q) { return q["role"] == "input" || q["role"] == "output"; }

std::string grid(const Json& q) {
  std::string g = q["signed"].get<bool>() ? "s" : "u";
  return g + std::to_string(q["bits"].get<int>());
}

// Nothing that makes a browser fetch or run anything: no URLs, no src / scripts / imports, and
// links only to anchors of the page itself.
void check_self_contained(const std::string& html) {
  for (const char* bad : {"http://", "https://", "src=", "<script", "@import", "url(", "<link", "<iframe", "file:"}) {
    INFO("found " << bad);
    CHECK(html.find(bad) == std::string::npos);
  }
  for (size_t p = html.find("href="); p != std::string::npos; p = html.find("href=", p + 1)) {
    INFO(html.substr(p, 40));
    CHECK(html.compare(p, 7, "href=\"#") == 0);
  }
}

std::string command_path(const std::string& name) {
  std::FILE* f = ::popen(("command -v " + name + " 2>/dev/null").c_str(), "r");
  if (!f) return "";
  char buf[512] = {0};
  std::string out = std::fgets(buf, sizeof buf, f) ? buf : "";
  ::pclose(f);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// Width and height from the PNG's own header (signature, then IHDR), independent of the decoder.
std::pair<uint32_t, uint32_t> png_header_size(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  unsigned char h[24] = {0};
  f.read(reinterpret_cast<char*>(h), sizeof h);
  REQUIRE(f.gcount() == 24);
  const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  REQUIRE(std::equal(signature, signature + 8, h));
  REQUIRE(std::string(reinterpret_cast<char*>(h + 12), 4) == "IHDR");
  auto be32 = [&](int o) {
    return (uint32_t{h[o]} << 24) | (uint32_t{h[o + 1]} << 16) | (uint32_t{h[o + 2]} << 8) | h[o + 3];
  };
  return {be32(16), be32(20)};
}

bool has_colour(const qe::Image& img, int r, int g, int b) {
  for (size_t i = 0; i + 2 < img.pixels.size(); i += 3) {
    if (std::abs(img.pixels[i] - r) <= 3 && std::abs(img.pixels[i + 1] - g) <= 3 && std::abs(img.pixels[i + 2] - b) <= 3)
      return true;
  }
  return false;
}

}  // namespace

TEST_CASE("calibrate --report writes a self-contained page with every quantized layer; Chromium renders it") {
  TempDir tmp;
  const std::string model = model_with_odd_name(tmp);
  const fs::path out = tmp.path() / "out", report = tmp.path() / "report.html";
  auto r = run_qengine("calibrate " + model + " " + demo_images() + " -o " + out.string() + " --samples 100 --val " +
                           demo_images() + " --report " + report.string(),
                       tmp);
  INFO("stderr: " << r.err << "\nstdout: " << r.out);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("wrote " + report.string()) != std::string::npos);
  REQUIRE(fs::exists(report));
  const std::string html = read_text_file(report);
  const Json cal = Json::parse(read_text_file(out / "calibration.json"));

  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("</html>") != std::string::npos);
  check_self_contained(html);
  // The odd name only ever appears escaped.
  CHECK(html.find(kOddName) == std::string::npos);
  CHECK(html.find("<Conv>") == std::string::npos);
  CHECK(html.find(escaped(kOddName)) != std::string::npos);

  SECTION("every measured layer has a table row and SQNR bars; every quantizer's node is one of them") {
    std::set<std::string> layers;
    REQUIRE(cal["sqnr"]["layers"].size() >= 7);
    for (const Json& l : cal["sqnr"]["layers"]) {
      const std::string node = l["node"];
      INFO("layer " << node);
      layers.insert(node);
      const std::string row = element(html, "<tr data-node=\"" + escaped(node) + "\"", "</tr>");
      REQUIRE(!row.empty());
      const std::string bars = element(html, "<g class=\"bar-row\" data-node=\"" + escaped(node) + "\"", "</g>");
      REQUIRE(!bars.empty());
      // A bar per measured figure (weight SQNR only for layers with a weight quantizer).
      CHECK(count(bars, "class=\"bar weight-sqnr\"") == (l["weight_sqnr_db"].is_null() ? 0u : 1u));
      CHECK(count(bars, "class=\"bar output-sqnr\"") == (l["output_sqnr_db"].is_null() ? 0u : 1u));
      // Compute layers of the full policy compute on quantized inputs: the input bits are named,
      // also behind MaxPool (conv2) and behind the pool's Trunc and Flatten (fc).
      if (l["op"] == "Conv" || l["op"] == "Gemm") {
        const size_t input_cell = row.find("<td>", row.find("<td>", row.find("<td>", row.find("<td>") + 1) + 1) + 1);
        REQUIRE(input_cell != std::string::npos);
        CHECK(row.compare(input_cell, 9, "<td>—") != 0);
      }
    }
    CHECK(layers.count(kOddName) == 1);
    for (const Json& q : cal["quantizers"]) {
      if (!q["enabled"].get<bool>() || q["node"] == "") continue;
      INFO("quantizer " << q.dump());
      CHECK(layers.count(q["node"].get<std::string>()) == 1);
      // The weight's bit width shows in its layer's row.
      if (q["role"] == "weight") {
        const std::string row = element(html, "<tr data-node=\"" + escaped(q["node"]) + "\"", "</tr>");
        CHECK(row.find("<td>" + grid(q) + "</td>") != std::string::npos);
      }
    }
  }

  SECTION("every activation quantizer has a histogram with its clipping range and parameters") {
    size_t activations = 0;
    for (const Json& q : cal["quantizers"]) {
      if (!q["enabled"].get<bool>() || !is_activation(q)) continue;
      ++activations;
      INFO("quantizer " << q.dump());
      const std::string fig =
          element(html, "<figure class=\"hist\" id=\"quantizer-" + std::to_string(q["id"].get<int>()) + "\"", "</figure>");
      REQUIRE(!fig.empty());
      CHECK(fig.find("data-node=\"" + escaped(q["node"]) + "\"") != std::string::npos);
      CHECK(count(fig, "<svg class=\"histogram\"") == 1);
      CHECK(count(fig, "class=\"clip-range\"") == 1);
      CHECK(count(fig, "class=\"bin") >= 3);  // real data spreads over more than a couple of bins
      CHECK(fig.find(grid(q)) != std::string::npos);
      CHECK(fig.find("zero point") != std::string::npos);
      CHECK(fig.find(escaped(q["value"])) != std::string::npos);
    }
    CHECK(activations >= 4);
    CHECK(count(html, "<figure class=\"hist\"") >= activations);  // plus the weight histograms
  }

  SECTION("float vs quantized accuracy as calibration.json has it") {
    const Json& v = cal["validation"];
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f%%", 100 * v["float_top1"].get<double>());
    const std::string table = element(html, "<table id=\"accuracy-table\"", "</table>");
    REQUIRE(!table.empty());
    CHECK(table.find(buf) != std::string::npos);
    std::snprintf(buf, sizeof buf, "%.2f%%", 100 * v["quant_top1"].get<double>());
    CHECK(table.find(buf) != std::string::npos);
    CHECK(html.find("id=\"no-val\"") == std::string::npos);
  }

  SECTION("headless Chromium renders the page") {
    const std::string chromium = command_path("chromium");
    if (chromium.empty()) FAIL("chromium is not installed (scripts/setup-deps.sh installs Debian's chromium)");
    const fs::path artifacts = fs::path(binary_dir()) / "test-artifacts";
    fs::create_directories(artifacts);
    const fs::path png = artifacts / "report.png";
    fs::remove(png);
    fs::copy_file(report, artifacts / "report.html", fs::copy_options::overwrite_existing);
    const std::string cmd = "timeout 120 " + chromium +
                            " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run"
                            " --hide-scrollbars --user-data-dir=" + (tmp.path() / "chromium-profile").string() +
                            " --screenshot=" + png.string() + " --window-size=1280,4000 file://" +
                            fs::absolute(report).string() + " > " + (tmp.path() / "chromium.log").string() + " 2>&1";
    const int status = std::system(cmd.c_str());
    INFO("chromium: " << cmd << "\n" << read_text_file(tmp.path() / "chromium.log"));
    REQUIRE(status == 0);
    REQUIRE(fs::exists(png));
    CHECK(png_header_size(png) == std::make_pair(uint32_t{1280}, uint32_t{4000}));
    const qe::Image img = must(qe::decode_image_file(png.string()));
    REQUIRE(img.width == 1280);
    REQUIRE(img.height == 4000);
    REQUIRE(img.channels == 3);
    std::set<std::tuple<int, int, int>> colours;
    size_t not_white = 0;
    for (size_t i = 0; i + 2 < img.pixels.size(); i += 3) {
      colours.emplace(img.pixels[i], img.pixels[i + 1], img.pixels[i + 2]);
      not_white += img.pixels[i] < 250 || img.pixels[i + 1] < 250 || img.pixels[i + 2] < 250;
    }
    CHECK(colours.size() >= 32);
    CHECK(not_white > img.pixels.size() / 3 / 50);  // text, tables and charts cover well over 2%
    // The charts were drawn: the bars' and clipping bands' fills from the stylesheet.
    CHECK(has_colour(img, 0x4c, 0x78, 0xa8));  // weight SQNR bars, histogram bins
    CHECK(has_colour(img, 0xf5, 0x85, 0x18));  // output SQNR bars
    CHECK(has_colour(img, 0xdc, 0xef, 0xdc));  // clipping ranges
  }
}

TEST_CASE("calibrate --report without --val says so; a report path in a missing directory fails before calibrating") {
  TempDir tmp;
  const fs::path out = tmp.path() / "out", report = tmp.path() / "r.html";
  auto r = run_qengine("calibrate " + tiny_model() + " " + demo_images() + " -o " + out.string() +
                           " --samples 32 --quiet --report " + report.string(),
                       tmp);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  const std::string html = read_text_file(report);
  CHECK(html.find("id=\"no-val\"") != std::string::npos);
  CHECK(html.find("id=\"accuracy-table\"") == std::string::npos);
  check_self_contained(html);
  // Only the report and its siblings: no temporary left beside it.
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(tmp.path())) entries += e.path().filename().string().find("r.html") != std::string::npos;
  CHECK(entries == 1);

  const fs::path out2 = tmp.path() / "out2";
  auto bad = run_qengine("calibrate " + tiny_model() + " " + demo_images() + " -o " + out2.string() +
                             " --report " + (tmp.path() / "no-such-dir" / "r.html").string(),
                         tmp);
  check_one_line_error(bad, "no-such-dir");
  CHECK(!fs::exists(out2));
}
