// The page is built as one string: sections in a fixed order, every model-provided name
// escaped (svg_chart.h's html_escape), numbers through format_number so that inf / NaN SQNR
// read as "∞" / "n/a". Elements carry data-node / data-quantizer attributes so that tests
// (and anyone scraping the page) can find a layer or quantizer without parsing the layout.
#include "apps/cli/report_html.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <unordered_map>

#include "apps/cli/svg_chart.h"
#include "engine/core/text_file.h"

namespace qe::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kStyle = R"css(
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 14px; color: #222; background: #fff;
       margin: 0 auto; padding: 16px 24px; max-width: 1240px; }
h1 { font-size: 22px; margin: 4px 0 8px; word-break: break-all; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 2px solid #dde; padding-bottom: 4px; }
nav a { margin-right: 14px; color: #2a5db0; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border: 1px solid #d6d6de; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f1f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.kv th { width: 220px; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; word-break: break-all; }
.note { color: #555; font-style: italic; }
.warn { color: #a33; }
.legend span { display: inline-block; margin-right: 16px; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
.bar.weight-sqnr, .swatch.weight-sqnr { fill: #4c78a8; background: #4c78a8; }
.bar.output-sqnr, .swatch.output-sqnr { fill: #f58518; background: #f58518; }
.bar-chart text, .histogram text { font-family: "DejaVu Sans", Arial, sans-serif; }
.row-label { font-size: 11px; fill: #222; }
.bar-value { font-size: 10px; fill: #444; }
.tick { font-size: 10px; fill: #666; }
.grid { stroke: #e4e4ea; stroke-width: 1; }
.axis { stroke: #888; stroke-width: 1; }
.hist-grid { display: flex; flex-wrap: wrap; gap: 12px; }
figure.hist { margin: 0; padding: 6px; border: 1px solid #d6d6de; border-radius: 4px; width: 324px; }
figure.hist figcaption { font-size: 11px; line-height: 1.45; margin-top: 2px; word-break: break-all; }
.clip-range, .swatch.clip-range { fill: #dcefdc; background: #dcefdc; }
.clip-edge { stroke: #2e7d32; stroke-width: 1; stroke-dasharray: 3 2; }
.clip-label { font-size: 10px; fill: #2e7d32; }
.bin, .swatch.bin { fill: #4c78a8; background: #4c78a8; }
.bin.clipped, .swatch.clipped { fill: #d62728; background: #d62728; }
)css";

std::string esc(const std::string& s) { return html_escape(s); }

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100 * fraction);
  return buf;
}

// Clipped fractions are often tiny (a 99.999th percentile clips 0.001%): significant digits.
std::string small_percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g%%", 100 * fraction);
  return buf;
}

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

std::string db_text(double v) { return std::isnan(v) ? "n/a" : format_number(v) + " dB"; }

// "s8", "u4", "fp8", "bipolar": the grid a quantizer's parameters describe.
std::string grid_label(const QuantParams& p) {
  switch (p.kind) {
    case QuantKind::kInt: return (p.is_signed ? "s" : "u") + std::to_string(p.bits);
    case QuantKind::kBipolar: return "bipolar";
    case QuantKind::kFloat: return "fp" + std::to_string(p.bits);
  }
  return "?";
}

// A scale or zero point: the value when per tensor, else its count and extremes.
std::string tensor_text(const Tensor& t) {
  if (!t.defined()) return "n/a";
  const std::vector<float> v = t.to_float_vector();
  if (v.size() == 1) return format_number(v[0]);
  if (v.empty()) return "n/a";
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return std::to_string(v.size()) + " channels, " + format_number(*lo) + " … " + format_number(*hi);
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string s;
  for (const std::string& p : parts) s += (s.empty() ? "" : sep) + p;
  return s;
}

void add_unique(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

// Bit widths around one node: its weight, the activations it reads and the ones it writes.
struct LayerBits {
  std::vector<std::string> weight, input, output;
};

// Ops whose output stays on their input's grid: a quantizer before them is what a consumer
// after them computes on (MaxPool between Relu and Conv, Flatten before Gemm).
bool keeps_grid(OpKind op) {
  return op == OpKind::kMaxPool || op == OpKind::kFlatten || op == OpKind::kReshape || op == OpKind::kTranspose ||
         op == OpKind::kSqueeze || op == OpKind::kUnsqueeze || op == OpKind::kIdentity;
}

std::string trunc_label(const TruncResult& r) {
  if (r.fallback) return grid_label(r.fallback_params);
  std::string label = r.is_signed ? "trunc s" : "trunc u";
  return label + std::to_string(r.out_bits);
}

// The grids of `value` as node `reader` sees it: quantizers on the value (placed for every
// use or for this reader), else the Trunc after the pool producing it, else whatever feeds a
// grid-keeping producer.
void grids_of_value(const Graph& g, const QuantPlan& plan, const CalibrationResult& cal, ValueId value, NodeId reader,
                    std::vector<std::string>& out) {
  for (int depth = 0; depth < 16 && value != kNoValue; ++depth) {
    const size_t before = out.size();
    for (const PlannedQuantizer& q : plan.quantizers) {
      const QuantParams& p = cal.quantizers[static_cast<size_t>(q.id)].params;
      if (!q.spec.enabled || !p.scale.defined() || !is_activation(q.role) || q.value != value) continue;
      const bool for_reader = q.consumers.empty() || std::any_of(q.consumers.begin(), q.consumers.end(),
                                                                 [&](const Use& u) { return u.node == reader; });
      if (for_reader) add_unique(out, grid_label(p));
    }
    const NodeId producer = g.value(value).producer;
    if (out.size() > before || producer == kNoNode) return;
    for (size_t t = 0; t < plan.truncs.size(); ++t) {
      if (plan.truncs[t].pool == producer) {
        add_unique(out, trunc_label(cal.truncs[t]));
        return;
      }
    }
    const Node& p = g.node(producer);
    if (!keeps_grid(p.op) || p.inputs.empty()) return;
    reader = producer;
    value = p.inputs[0];
  }
}

LayerBits bits_of_node(const Graph& g, const QuantPlan& plan, const CalibrationResult& cal, NodeId n) {
  LayerBits b;
  const Node& node = g.node(n);
  for (const PlannedQuantizer& q : plan.quantizers) {
    const QuantParams& p = cal.quantizers[static_cast<size_t>(q.id)].params;
    if (q.spec.enabled && p.scale.defined() && q.role == QuantRole::kWeight && q.owner == n) {
      add_unique(b.weight, grid_label(p));
    }
  }
  for (ValueId in : node.inputs) {
    if (in != kNoValue && !g.value(in).is_constant()) grids_of_value(g, plan, cal, in, n, b.input);
  }
  for (ValueId outv : node.outputs) {
    for (const PlannedQuantizer& q : plan.quantizers) {
      const QuantParams& p = cal.quantizers[static_cast<size_t>(q.id)].params;
      if (q.spec.enabled && p.scale.defined() && is_activation(q.role) && q.value == outv) {
        add_unique(b.output, grid_label(p));
      }
    }
  }
  for (size_t t = 0; t < plan.truncs.size(); ++t) {
    if (plan.truncs[t].pool == n) add_unique(b.output, trunc_label(cal.truncs[t]));
  }
  return b;
}

std::string bits_cell(const std::vector<std::string>& v) { return v.empty() ? "—" : esc(join(v, ", ")); }

std::string row(const std::string& key, const std::string& value_html) {
  return "<tr><th>" + esc(key) + "</th><td>" + value_html + "</td></tr>\n";
}

std::string summary_section(const CalibrationReportInputs& in) {
  const CalibrateSummary& s = in.summary;
  int weights = 0, biases = 0, activations = 0, disabled = 0;
  for (const PlannedQuantizer& q : in.plan.quantizers) {
    if (!q.spec.enabled) {
      ++disabled;
      continue;
    }
    weights += q.role == QuantRole::kWeight;
    biases += q.role == QuantRole::kBias;
    activations += is_activation(q.role);
  }
  std::string h = "<section id=\"summary\"><h2>Summary</h2><table class=\"kv\">\n";
  h += row("Model", "<code>" + esc(s.model) + "</code>");
  h += row("Policy", esc(s.policy));
  h += row("Rule file", s.rule_file.empty() ? "<span class=\"note\">none (built-in defaults)</span>"
                                            : "<code>" + esc(s.rule_file) + "</code>");
  h += row("Calibration images", esc(std::to_string(s.samples)) + " from <code>" + esc(s.calib_dir) + "</code>" +
                                     (s.skipped ? " (" + std::to_string(s.skipped) + " unreadable, skipped)" : ""));
  h += row("Quantizers", std::to_string(in.plan.quantizers.size()) + " (" + std::to_string(weights) + " weight, " +
                             std::to_string(biases) + " bias, " + std::to_string(activations) + " activation" +
                             (disabled ? ", " + std::to_string(disabled) + " left float" : "") + "), " +
                             std::to_string(in.plan.truncs.size()) + " Trunc");
  h += row("Weight rounding", esc(s.rounding_algorithm));
  if (!s.transforms.summary.empty()) h += row("Float transforms", esc(join(s.transforms.summary, "; ")));
  h += row("Bias correction", s.bias_corrected_nodes > 0
                                  ? std::to_string(s.bias_corrected_nodes) + " layers on " +
                                        std::to_string(s.bias_correction_samples) + " images"
                                  : std::string("none"));
  h += row("Output SQNR vs float", esc(db_text(in.sqnr.output_sqnr_db)) + " on " + std::to_string(in.sqnr.samples) +
                                       " images");
  h += row("Time", "calibration " + seconds(s.calibration_seconds) +
                       (s.val ? ", validation " + seconds(s.validation_seconds) : std::string()) + ", total " +
                       seconds(s.total_seconds));
  if (!s.files.empty()) h += row("Files", "<code>" + esc(join(s.files, ", ")) + "</code>, calibration.json");
  if (!s.qcdq_skipped_reason.empty()) h += row("No QCDQ file", "<span class=\"warn\">" + esc(s.qcdq_skipped_reason) + "</span>");
  if (s.finn_checked) {
    h += row("FINN checker", s.finn_violations.empty()
                                 ? std::string("every rule holds")
                                 : "<span class=\"warn\">" + esc(join(s.finn_violations, "; ")) + "</span>");
  }
  h += "</table></section>\n";
  return h;
}

std::string accuracy_section(const CalibrateSummary& s) {
  std::string h = "<section id=\"accuracy\"><h2>Float vs quantized accuracy</h2>\n";
  if (!s.val) {
    return h + "<p class=\"note\" id=\"no-val\">No --val folder was given: float vs quantized accuracy was not "
               "measured.</p></section>\n";
  }
  const ValComparison& v = *s.val;
  h += "<p>" + std::to_string(v.images) + " validation images from <code>" + esc(s.val_dir) + "</code></p>\n";
  h += "<table id=\"accuracy-table\"><tr><th></th><th>top-1</th><th>top-5</th></tr>\n";
  h += "<tr><th>float</th><td class=\"num\">" + percent(v.float_top1) + "</td><td class=\"num\">" +
       percent(v.float_top5) + "</td></tr>\n";
  h += "<tr><th>quantized</th><td class=\"num\">" + percent(v.quant_top1) + "</td><td class=\"num\">" +
       percent(v.quant_top5) + "</td></tr>\n";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%+.2f", 100 * (v.quant_top1 - v.float_top1));
  std::string d1 = buf;
  std::snprintf(buf, sizeof buf, "%+.2f", 100 * (v.quant_top5 - v.float_top5));
  h += "<tr><th>difference (points)</th><td class=\"num\">" + d1 + "</td><td class=\"num\">" + buf + "</td></tr>\n";
  h += "</table>\n<p>Same top-1 class on " + percent(v.agreement) + " of the images.</p></section>\n";
  return h;
}

std::string layers_section(const CalibrationReportInputs& in, const std::unordered_map<std::string, NodeId>& nodes) {
  std::string h = "<section id=\"layers\"><h2>Per-layer SQNR and bit widths</h2>\n";
  h += "<p>SQNR = 10·log10(Σx² / Σ(x − q)²) of the quantized model against the float model on " +
       std::to_string(in.sqnr.samples) +
       " calibration images. Weight SQNR: the float weight against its fake-quantized copy. Output SQNR: the "
       "layer's output in the quantized model (all errors up to this layer) against the float model. Higher is "
       "better; ∞ means exact.</p>\n";
  h += "<p class=\"legend\"><span><i class=\"swatch weight-sqnr\"></i>weight SQNR</span>"
       "<span><i class=\"swatch output-sqnr\"></i>output SQNR</span></p>\n";
  std::vector<BarRow> rows;
  std::string table =
      "<table id=\"layer-table\"><tr><th>node</th><th>op</th><th>weight bits</th><th>input bits</th>"
      "<th>output bits</th><th>weight SQNR</th><th>output SQNR</th></tr>\n";
  for (const LayerSqnr& l : in.sqnr.layers) {
    LayerBits bits;
    auto it = nodes.find(l.node);
    if (it != nodes.end()) bits = bits_of_node(in.float_graph, in.plan, in.calibration, it->second);
    table += "<tr data-node=\"" + esc(l.node) + "\"><td><code>" + esc(l.node) + "</code></td><td>" + esc(l.op) +
             "</td><td>" + bits_cell(bits.weight) + "</td><td>" + bits_cell(bits.input) + "</td><td>" +
             bits_cell(bits.output) + "</td><td class=\"num\">" + esc(db_text(l.weight_sqnr_db)) +
             "</td><td class=\"num\">" + esc(db_text(l.output_sqnr_db)) + "</td></tr>\n";
    BarRow r;
    r.label = l.node + " (" + l.op + (bits.weight.empty() ? "" : ", w " + join(bits.weight, "/")) +
              (bits.input.empty() ? "" : ", a " + join(bits.input, "/")) + ")";
    r.data_key = l.node;
    if (!std::isnan(l.weight_sqnr_db)) r.bars.push_back({l.weight_sqnr_db, "weight-sqnr", "w"});
    r.bars.push_back({l.output_sqnr_db, "output-sqnr", "out"});
    rows.push_back(std::move(r));
  }
  table += "</table>\n";
  if (rows.empty()) return h + "<p class=\"note\">No layer was measured.</p></section>\n";
  h += horizontal_bar_chart_svg(rows, "dB", 1180) + "\n" + table;
  return h + "</section>\n";
}

std::string method_text(const QuantSpec& s) {
  std::string m(range_method_name(s.method));
  if (s.method == RangeMethod::kPercentile) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "(%.8g)", s.percentile);  // 99.999 must not round to 100
    m += buf;
  }
  return m;
}

std::string histogram_figure(const CalibrationReportInputs& in, const QuantizerHistogram& hist) {
  const PlannedQuantizer& q = in.plan.quantizers[static_cast<size_t>(hist.quantizer)];
  const QuantParams& p = in.calibration.quantizers[static_cast<size_t>(hist.quantizer)].params;
  const std::string node = q.owner != kNoNode ? in.float_graph.node(q.owner).name : std::string();
  HistogramPlot plot;
  plot.left = hist.left;
  plot.right = hist.right;
  plot.counts = hist.counts;
  plot.shade_lo = hist.clip_lo;
  plot.shade_hi = hist.clip_hi;
  std::string h = "<figure class=\"hist\" id=\"quantizer-" + std::to_string(q.id) + "\" data-quantizer=\"" +
                  std::to_string(q.id) + "\" data-role=\"" + std::string(quant_role_name(q.role)) +
                  "\" data-node=\"" + esc(node) + "\">";
  h += histogram_svg(plot, 320, 150);
  h += "<figcaption><b>#" + std::to_string(q.id) + " " + esc(std::string(quant_role_name(q.role))) + "</b> of <code>" +
       esc(node) + "</code> · value <code>" + esc(hist.value) + "</code><br>";
  h += esc(grid_label(p)) + (p.per_tensor() ? "" : " per channel") + " · scale " + esc(tensor_text(p.scale)) +
       " · zero point " + esc(tensor_text(p.zero_point));
  if (q.role != QuantRole::kWeight || q.spec.method != RangeMethod::kAbsMax) h += " · " + esc(method_text(q.spec));
  h += "<br>clip [" + esc(format_number(hist.clip_lo)) + ", " + esc(format_number(hist.clip_hi)) + "] · values [" +
       esc(format_number(hist.data_min)) + ", " + esc(format_number(hist.data_max)) + "]";
  if (q.share_group >= 0) {
    h += " · share group " + std::to_string(q.share_group) + " [" + esc(format_number(hist.observed_min)) + ", " +
         esc(format_number(hist.observed_max)) + "]";
  }
  h += "<br>clipped: " + small_percent(hist.clipped_fraction()) + " of " + std::to_string(hist.total) + " values";
  const double sqnr = in.sqnr.quantizers[static_cast<size_t>(q.id)].sqnr_db;
  if (!std::isnan(sqnr)) h += " · SQNR " + esc(db_text(sqnr));
  return h + "</figcaption></figure>\n";
}

std::string histograms_section(const CalibrationReportInputs& in, const std::vector<QuantizerHistogram>& hists,
                               const std::string& id, const std::string& title, const std::string& intro) {
  std::string h = "<section id=\"" + id + "\"><h2>" + esc(title) + "</h2>\n<p>" + intro + "</p>\n";
  h += "<p class=\"legend\"><span><i class=\"swatch clip-range\"></i>clipping range (what the grid covers)</span>"
       "<span><i class=\"swatch bin\"></i>values inside</span><span><i class=\"swatch clipped\"></i>values "
       "clipped</span></p>\n<div class=\"hist-grid\">\n";
  for (const QuantizerHistogram& hist : hists) h += histogram_figure(in, hist);
  if (hists.empty()) h += "<p class=\"note\">None.</p>";
  return h + "</div></section>\n";
}

Status check_inputs(const CalibrationReportInputs& in) {
  const size_t nq = in.plan.quantizers.size();
  if (in.calibration.quantizers.size() != nq || in.calibration.truncs.size() != in.plan.truncs.size() ||
      in.sqnr.quantizers.size() != nq) {
    return invalid_argument("calibration report: the calibration or SQNR results do not belong to this plan");
  }
  for (const auto* list : {&in.activation_histograms, &in.weight_histograms}) {
    for (const QuantizerHistogram& h : *list) {
      if (h.quantizer < 0 || static_cast<size_t>(h.quantizer) >= nq) {
        return invalid_argument("calibration report: a histogram refers to quantizer #", h.quantizer,
                                ", which the plan does not have");
      }
    }
  }
  return Status::ok();
}

}  // namespace

Result<std::string> calibration_report_html(const CalibrationReportInputs& in) {
  QE_RETURN_IF_ERROR(check_inputs(in));
  std::unordered_map<std::string, NodeId> nodes;
  for (size_t i = 0; i < in.float_graph.num_nodes(); ++i) {
    const Node& n = in.float_graph.node(static_cast<NodeId>(i));
    if (n.alive) nodes.emplace(n.name, static_cast<NodeId>(i));
  }
  const std::string title = "Calibration report: " + fs::path(in.summary.model).filename().string();
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" + esc(title) +
                  "</title>\n<style>" + kStyle + "</style></head>\n<body>\n<h1>" + esc(title) + "</h1>\n";
  h += "<nav><a href=\"#summary\">Summary</a><a href=\"#accuracy\">Accuracy</a><a href=\"#layers\">Layers</a>"
       "<a href=\"#activations\">Activation histograms</a><a href=\"#weights\">Weight histograms</a></nav>\n";
  h += summary_section(in);
  h += accuracy_section(in.summary);
  h += layers_section(in, nodes);
  h += histograms_section(
      in, in.activation_histograms, "activations", "Activation histograms",
      "Every value each activation quantizer sees on the calibration images (float model), " +
          std::to_string(in.activation_histograms.empty() ? 0 : in.activation_histograms.front().counts.size()) +
          " bins, bar height ∝ log(1 + count). The shaded band is the range the quantizer's grid covers "
          "(from scale, zero point and bits); red bins lie wholly outside it. \"Clipped\" counts the values the "
          "grid clamps: more than half a step outside the band.");
  h += histograms_section(in, in.weight_histograms, "weights", "Weight histograms",
                          "The float weights of every weight quantizer; per-channel grids show the widest "
                          "channel's range.");
  h += "<p class=\"note\">Written by qengine calibrate --report.</p>\n</body></html>\n";
  return h;
}

Status check_report_path(const std::string& path) {
  std::error_code ec;
  if (path.empty()) return invalid_argument("--report: empty path");
  if (fs::is_directory(path, ec)) return invalid_argument("--report: '", path, "' is a directory");
  const fs::path parent = fs::path(path).parent_path();
  const fs::path dir = parent.empty() ? fs::path(".") : parent;
  if (!fs::is_directory(dir, ec)) return io_error("--report: directory '", dir.string(), "' does not exist");
  if (::access(dir.c_str(), W_OK) != 0) {
    return io_error("--report: cannot write to directory '", dir.string(), "': ", std::strerror(errno));
  }
  return Status::ok();
}

Status write_report(const std::string& path, const std::string& html) {
  Status st = write_text_file_atomically(path, html);
  if (!st.is_ok()) return st.with_context("writing the report: ");
  return Status::ok();
}

}  // namespace qe::cli
