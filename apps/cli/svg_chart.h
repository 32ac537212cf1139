// Inline SVG charts for the HTML calibration report: a horizontal bar chart with several bars
// per row and a histogram with a shaded range. Plain strings, no scripts and no external
// references, so the page renders anywhere (also offline and in headless browsers). Every
// text that reaches the markup is escaped here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qe::cli {

// Text and attribute values: & < > " ' escaped.
std::string html_escape(std::string_view text);
// Compact number for labels: %.4g, with "∞" / "−∞" and "n/a" (NaN).
std::string format_number(double v);

struct Bar {
  double value = 0;    // NaN: no bar (labelled "n/a"); +inf: a full-width bar labelled "∞"
  std::string css_class;  // e.g. "weight-sqnr"; the stylesheet gives it its colour
  std::string label;      // short prefix of the value label, e.g. "w"
};

struct BarRow {
  std::string label;  // row label (a node name)
  std::string data_key;  // written as data-node="..." on the row's group
  std::vector<Bar> bars;
};

// One group per row (class "bar-row"), one <rect class="bar CSS_CLASS"> per finite or
// infinite bar, the value printed after it; the axis runs from 0 to the largest finite value
// rounded up to a multiple of 10 (at least 10). Negative values draw no bar but keep their label.
std::string horizontal_bar_chart_svg(const std::vector<BarRow>& rows, const std::string& unit, int width = 900);

struct HistogramPlot {
  double left = 0, right = 0;  // the bins split [left, right) evenly
  std::vector<int64_t> counts;
  double shade_lo = 0, shade_hi = 0;  // the shaded range (the clipping range), drawn behind the bars
  bool log_scale = true;             // bar height ∝ log(1 + count): tails stay visible next to a spike
};

// A small histogram: the shaded range (class "clip-range") with its ends as dashed lines,
// bins wholly outside it drawn in the "clipped" colour, the axis ends and the range ends labelled.
std::string histogram_svg(const HistogramPlot& plot, int width = 320, int height = 150);

}  // namespace qe::cli
