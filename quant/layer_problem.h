// One weight layer's rounding problem, as the layer-sequential PTQ algorithms (GPTQ, GPFQ,
// AdaRound) see it: a weight matrix W [rows × k] of one convolution group (columns in im2col
// order: input channel, kernel row, kernel column; Gemm / MatMul: the input features), the
// integer grid of every element, and second-order statistics of the layer's inputs over the
// calibration data:
//   h = Σ x̃ x̃ᵀ   (k × k) over every input column x̃ the quantized graph feeds the layer
//   g = Σ x̃ xᵀ   (k × k) the same columns paired with the float graph's inputs x
// Every reconstruction loss these algorithms minimise is a quadratic form in them:
//   ‖W̃ X̃ − W X‖² = Σ_rows  w̃ᵀ h w̃ − 2 w̃ᵀ g w + const
// so no activation has to be kept once the statistics are accumulated.
//
// A solver returns the chosen quantized weights, on the grid: value = (q − zero_point) · scale
// with q an integer in [min_int, max_int]. Re-quantizing them with the layer's FakeQuant gives
// them back exactly, so the solver's choice is what the graph, the exporters and the integer
// kernels use.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/core/status.h"
#include "graph/quant_params.h"

namespace qe {

struct LayerProblem {
  int64_t rows = 0;  // output channels of this group
  int64_t k = 0;     // inputs per output (columns)
  std::vector<float> w;           // rows × k, row-major: the float weights
  std::vector<float> scale;       // rows × k, per element (per-tensor / per-channel / per-group expanded)
  std::vector<float> zero_point;  // rows × k, integer-valued
  int64_t min_int = -128, max_int = 127;
  RoundingMode rounding = RoundingMode::kHalfEven;  // the quantizer's own rounding (round-to-nearest baseline)
  std::vector<double> h;  // k × k, row-major, symmetric
  std::vector<double> g;  // k × k, row-major (empty when the algorithm did not ask for it)
  int64_t samples = 0;    // input columns accumulated into h (and g)
};

// The quantizer's own choice for element i: (clip(round(w/s + z)) − z) · s, as FakeQuant.
float round_to_grid(const LayerProblem& p, int64_t i, double w);
// round_to_grid of every element: the round-to-nearest baseline the algorithms are measured against.
std::vector<float> round_all_to_grid(const LayerProblem& p);
// The integer for element i of a value already on the grid (or anywhere: rounded to nearest).
double grid_integer(const LayerProblem& p, int64_t i, double w);
// (clip(q) − z) · s for an integer q of element i.
float grid_value(const LayerProblem& p, int64_t i, double q);

// The layer's output error in excess of its float weights', on the inputs it really gets:
//   ‖W̃X̃ − WX‖² − ‖WX̃ − WX‖² = Σ_rows dᵀhd + 2dᵀ(h − g)w,  d = w̃ − w
// (g = h when p.g is empty: then Σ_rows dᵀhd). Negative when w̃ compensates input error. The
// per-layer figure reports and AdaRound's statistics give.
double excess_output_error(const LayerProblem& p, const std::vector<float>& w_tilde);

// Σ_rows (w̃ − w)ᵀ h (w̃ − w): the output error energy of w̃ on the quantized inputs (ignores
// the input error; GPTQ's objective). For tests and reports.
double layer_weight_error(const LayerProblem& p, const std::vector<float>& w_tilde);
// Σ_rows w̃ᵀ h w̃ − 2 w̃ᵀ g w + wᵀ g' w with g' ≈ the float inputs' own h (not available: the
// constant term is dropped), i.e. ‖W̃X̃ − WX‖² up to a constant. Needs g. For tests and reports.
double layer_output_error(const LayerProblem& p, const std::vector<float>& w_tilde);

}  // namespace qe
