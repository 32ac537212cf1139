// Coordinates are written with two decimals; colours come from the report's stylesheet
// through class names, so the charts and the tables share one palette.
#include "apps/cli/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace qe::cli {

namespace {

std::string px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string text_element(double x, double y, const std::string& anchor, const std::string& css_class,
                         const std::string& text) {
  return "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\" text-anchor=\"" + anchor + "\" class=\"" + css_class + "\">" +
         html_escape(text) + "</text>";
}

std::string rect(double x, double y, double w, double h, const std::string& css_class, const std::string& title = "") {
  std::string s = "<rect x=\"" + px(x) + "\" y=\"" + px(y) + "\" width=\"" + px(std::max(0.0, w)) + "\" height=\"" +
                  px(std::max(0.0, h)) + "\" class=\"" + css_class + "\"";
  if (title.empty()) return s + "/>";
  return s + "><title>" + html_escape(title) + "</title></rect>";
}

std::string line(double x1, double y1, double x2, double y2, const std::string& css_class) {
  return "<line x1=\"" + px(x1) + "\" y1=\"" + px(y1) + "\" x2=\"" + px(x2) + "\" y2=\"" + px(y2) + "\" class=\"" +
         css_class + "\"/>";
}

// Long node names would push the bars off the chart: cut in the middle, where names differ least.
std::string shorten(const std::string& s, size_t max_chars) {
  if (s.size() <= max_chars) return s;
  const size_t keep = (max_chars - 1) / 2;
  return s.substr(0, keep) + "…" + s.substr(s.size() - keep);
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string format_number(double v) {
  if (std::isnan(v)) return "n/a";
  if (std::isinf(v)) return v > 0 ? "∞" : "−∞";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string horizontal_bar_chart_svg(const std::vector<BarRow>& rows, const std::string& unit, int width) {
  constexpr double kBarHeight = 11, kBarGap = 2, kRowGap = 8, kTop = 22, kValueSpace = 110, kCharWidth = 6.6;
  size_t longest = 8;
  for (const BarRow& r : rows) longest = std::max(longest, std::min<size_t>(r.label.size(), 44));
  const double label_width = static_cast<double>(longest) * kCharWidth + 12;
  const double plot_left = label_width;
  const double plot_width = std::max(100.0, width - label_width - kValueSpace);

  double max_value = 0;
  for (const BarRow& r : rows) {
    for (const Bar& b : r.bars) {
      if (std::isfinite(b.value)) max_value = std::max(max_value, b.value);
    }
  }
  const double axis_max = std::max(10.0, std::ceil(max_value / 10.0) * 10.0);
  const double tick = axis_max > 100 ? 20 : 10;
  auto x_of = [&](double v) { return plot_left + std::clamp(v / axis_max, 0.0, 1.0) * plot_width; };

  double height = kTop;
  for (const BarRow& r : rows) height += static_cast<double>(r.bars.size()) * (kBarHeight + kBarGap) + kRowGap;
  height += 4;

  std::string s = "<svg class=\"bar-chart\" width=\"" + std::to_string(width) + "\" height=\"" + px(height) +
                  "\" viewBox=\"0 0 " + std::to_string(width) + " " + px(height) + "\" role=\"img\">";
  for (double t = 0; t <= axis_max + 1e-9; t += tick) {
    s += line(x_of(t), kTop - 4, x_of(t), height - 4, "grid");
    s += text_element(x_of(t), kTop - 8, "middle", "tick", format_number(t));
  }
  s += text_element(plot_left + plot_width + 16, kTop - 8, "start", "tick", unit);  // clear of the last tick
  double y = kTop;
  for (const BarRow& r : rows) {
    const double row_height = static_cast<double>(r.bars.size()) * (kBarHeight + kBarGap);
    s += "<g class=\"bar-row\" data-node=\"" + html_escape(r.data_key) + "\">";
    s += "<title>" + html_escape(r.label) + "</title>";
    s += text_element(plot_left - 6, y + row_height / 2 + 4, "end", "row-label", shorten(r.label, 44));
    for (const Bar& b : r.bars) {
      const std::string value_text = b.label + " " + format_number(b.value) + (std::isnan(b.value) ? "" : " " + unit);
      double end = plot_left;
      if (!std::isnan(b.value) && b.value > 0) {
        end = x_of(b.value);
        s += rect(plot_left, y, end - plot_left, kBarHeight, "bar " + b.css_class, r.label + ": " + value_text);
      }
      s += text_element(end + 4, y + kBarHeight - 2, "start", "bar-value", value_text);
      y += kBarHeight + kBarGap;
    }
    s += "</g>";
    y += kRowGap;
  }
  s += line(plot_left, kTop - 4, plot_left, height - 4, "axis");
  return s + "</svg>";
}

std::string histogram_svg(const HistogramPlot& p, int width, int height) {
  constexpr double kLeft = 6, kRight = 6, kTop = 16, kBottom = 18;
  const double pw = width - kLeft - kRight, ph = height - kTop - kBottom;
  const double span = p.right > p.left ? p.right - p.left : 1.0;
  auto x_of = [&](double v) { return kLeft + std::clamp((v - p.left) / span, 0.0, 1.0) * pw; };
  const double base = kTop + ph;

  std::string s = "<svg class=\"histogram\" width=\"" + std::to_string(width) + "\" height=\"" +
                  std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) +
                  "\" role=\"img\">";
  const double lo_x = x_of(p.shade_lo), hi_x = x_of(p.shade_hi);
  s += rect(lo_x, kTop, hi_x - lo_x, ph, "clip-range",
            "clipping range [" + format_number(p.shade_lo) + ", " + format_number(p.shade_hi) + "]");

  int64_t max_count = 0;
  for (int64_t c : p.counts) max_count = std::max(max_count, c);
  const size_t bins = p.counts.size();
  const double bin_width = bins ? span / static_cast<double>(bins) : span;
  for (size_t b = 0; b < bins && max_count > 0; ++b) {
    const int64_t c = p.counts[b];
    if (c == 0) continue;
    const double frac = p.log_scale ? std::log1p(static_cast<double>(c)) / std::log1p(static_cast<double>(max_count))
                                    : static_cast<double>(c) / static_cast<double>(max_count);
    const double b_lo = p.left + bin_width * static_cast<double>(b);
    // Only bins wholly outside count as clipped: a spike at the range's end (Relu's zeros at
    // lo = 0) is kept, not clipped.
    const bool clipped = b_lo + bin_width <= p.shade_lo || b_lo >= p.shade_hi;
    const double x0 = x_of(b_lo), x1 = x_of(b_lo + bin_width);
    const double h = std::max(1.0, frac * ph);
    std::string title = "[";  // appended piecewise: GCC 12 warns (-Wrestrict) on "literal" + string here
    title += format_number(b_lo);
    title += ", ";
    title += format_number(b_lo + bin_width);
    title += "): ";
    title += std::to_string(c);
    s += rect(x0, base - h, std::max(0.8, x1 - x0 - 0.3), h, clipped ? "bin clipped" : "bin", title);
  }
  s += line(kLeft, base, kLeft + pw, base, "axis");
  s += line(lo_x, kTop - 2, lo_x, base, "clip-edge");
  s += line(hi_x, kTop - 2, hi_x, base, "clip-edge");
  // Range ends above the plot, turned inwards near the edges so they stay inside the picture.
  auto anchor_for = [&](double x) { return x < kLeft + 30 ? "start" : x > kLeft + pw - 30 ? "end" : "middle"; };
  const bool close = hi_x - lo_x < 70;
  const char* lo_anchor = close ? (lo_x < kLeft + 40 ? "start" : "end") : anchor_for(lo_x);
  const char* hi_anchor = close ? (hi_x > kLeft + pw - 40 ? "end" : "start") : anchor_for(hi_x);
  s += text_element(lo_x, kTop - 4, lo_anchor, "clip-label", format_number(p.shade_lo));
  s += text_element(hi_x, kTop - 4, hi_anchor, "clip-label", format_number(p.shade_hi));
  s += text_element(kLeft, height - 5, "start", "tick", format_number(p.left));
  s += text_element(kLeft + pw, height - 5, "end", "tick", format_number(p.right));
  return s + "</svg>";
}

}  // namespace qe::cli
