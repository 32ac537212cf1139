// Histograms of the values each quantizer sees, with the clipping range its parameters
// imply, for the calibration report. Activations: one streaming pass of the float model over
// calibration batches (fixed bins per quantizer, so memory does not grow with the data);
// weights: the constant itself. The bins span the raw extremes calibration observed and the
// clipping range together, so both the clipped tail and unused grid show.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/status.h"
#include "graph/graph.h"
#include "quant/calibrator.h"
#include "quant/quant_plan.h"

namespace qe {

struct QuantizerHistogram {
  int quantizer = -1;   // plan id
  std::string value;    // name of the quantized value in the float graph
  double left = 0;      // the bins split [left, right) evenly; the last one includes `right`
  double right = 0;
  std::vector<int64_t> counts;
  int64_t below = 0;    // values < left / > right (data unlike the calibration batches)
  int64_t above = 0;
  int64_t total = 0;    // every value counted, below and above included
  // What the quantizer's parameters represent: [(min_int − zp)·s, (max_int − zp)·s] for an
  // integer grid (per-channel: the widest channel), ±max_val·s for a minifloat.
  double clip_lo = 0, clip_hi = 0;
  // Raw extremes calibration recorded (all channels; for a share group, the group's union).
  double observed_min = 0, observed_max = 0;
  bool per_channel = false;
  // Half a grid step (integer grids; per-channel: of the widest channel), else 0. A value
  // within half a step outside [clip_lo, clip_hi] rounds to the grid's end: only values
  // further out are clamped.
  double half_step = 0;
  // Counted exactly while binning: the extremes of the values themselves, and how many the
  // grid clamps (below clip_lo − half_step / above clip_hi + half_step).
  double data_min = 0, data_max = 0;
  int64_t clipped_low = 0, clipped_high = 0;

  double bin_width() const { return counts.empty() ? 0 : (right - left) / static_cast<double>(counts.size()); }
  // Fraction of the values outside [clip_lo, clip_hi] (0 when nothing was counted).
  double clipped_fraction() const;
};

struct HistogramOptions {
  int bins = 128;
  int num_threads = 0;   // session threads; 0 = all hardware threads
  int max_batches = -1;  // <= 0: the whole source
};

// The clipping range [lo, hi] of calibrated parameters (see QuantizerHistogram::clip_lo).
// Error when the parameters have no scale (a disabled quantizer).
Result<std::pair<double, double>> clipping_range(const QuantParams& params);

// One histogram per enabled activation (input / output) quantizer of `plan`, in plan order,
// from one pass of `float_graph` over `source`. `calibration` is calibrate()'s result for the
// same graph and plan: it gives the clipping range and the extremes that fix the bins.
Result<std::vector<QuantizerHistogram>> collect_activation_histograms(const Graph& float_graph, const QuantPlan& plan,
                                                                      const CalibrationResult& calibration,
                                                                      const BatchSource& source,
                                                                      const HistogramOptions& options = {});

// One histogram per enabled weight quantizer, from the constants (no data needed).
Result<std::vector<QuantizerHistogram>> collect_weight_histograms(const Graph& float_graph, const QuantPlan& plan,
                                                                  const CalibrationResult& calibration, int bins = 128);

}  // namespace qe
