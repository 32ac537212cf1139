// From ranges and weights to QuantParams: the scale / zero-point arithmetic every quantizer
// shares, so that weights, activations, shared (Add / Concat) groups and bias agree.
#pragma once

#include <vector>

#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "graph/quant_params.h"
#include "quant/observer.h"
#include "quant/quant_spec.h"

namespace qe {

// Scale and zero point covering each range under `spec` (sign resolved, not kAuto):
//  symmetric: scale = max(|lo|, |hi|) / max_int (signed) or hi / max_int (unsigned), zp = 0
//  asymmetric: scale = (hi - lo) / (max_int - min_int), zp = round(min_int - lo / scale) clamped
//  po2: scale rounded up to 2^ceil(log2 scale); a zero range gives scale 1 (all values 0)
// `ranges` has one entry (per tensor: scale shape []) or one per channel; for per-channel the
// scale / zero point get shape `rank` dims with the channel count at `axis` and 1 elsewhere.
// Other kinds: minifloat scale = max(|lo|, |hi|) / max_val (po2 optional, zero range → 1),
// zero point 0; bipolar scale = 1 (activations are signs; weight_quant_params() gives weights
// mean |w|). Integer details: see int_grid_for_range() below.
Result<QuantParams> params_from_ranges(const QuantSpec& spec, const std::vector<ObservedRange>& ranges, int rank,
                                       int axis);

// The integer grid params_from_ranges() gives one range, for searches that evaluate many
// candidate ranges (MSE observer, weight MSE search) against exactly the quantizer that will be
// emitted. Details of the arithmetic:
//  - asymmetric ranges are first widened to include 0 (zero must be exactly representable:
//    padding, ReLU zeros), as Brevitas (NegativeMinOrZero) and onnxruntime do;
//  - a non-zero range never gives a scale below 1e-10 (Brevitas' scaling_min_val);
//  - symmetric signed 1-bit has no positive level (max_int 0): an error (use bipolar);
//  - zero point = round half to even, clamped to [min_int, max_int], computed with the final
//    (float, po2-rounded) scale.
struct IntGrid {
  float scale = 1.0f;
  float zero_point = 0.0f;
  int64_t min_int = 0, max_int = 0;
};
Result<IntGrid> int_grid_for_range(const QuantSpec& spec, float lo, float hi);

// Weight quantizer for constant `w`: abs-max / min-max / MSE-searched range, per tensor, per
// channel along `channel_axis`, or per group of spec.group_size along the input-channel axis
// (scales expanded so they broadcast, see graph/quant_params.h). Also returns the ranges used.
//  - MSE: per block (tensor / channel / group), 100 clip ratios from 1.0 down to 0.5 of the
//    abs-max (symmetric) or min-max (asymmetric) range; the one minimising ‖W − Q(W)‖² wins,
//    ratio 1 on ties, so it is never worse than abs-max.
//  - per group: the group axis is the other of axes 0 / 1 (channel_axis must be 0 or 1); the
//    scale has W's rank, the output and input channel counts on those axes, 1 elsewhere, each
//    group's value repeated over its input channels (the last group may be partial);
//    QuantParams.axis = the group axis, group_size = spec.group_size; ranges_out holds one
//    range per (output channel, group), output-channel major.
//  - percentile / entropy run the activation observer once over the weight (not per group).
//  - bipolar: scale = mean |w| per block (1 for an all-zero block).
Result<QuantParams> weight_quant_params(const QuantSpec& spec, const Tensor& w, int channel_axis,
                                        std::vector<ObservedRange>* ranges_out = nullptr);

// Applies `p` to `x` on the host (reference semantics of FakeQuant; used for weight SQNR and
// by tests). Same as running the FakeQuant op.
Result<Tensor> fake_quantize(const Tensor& x, const QuantParams& p);

// Signal-to-quantization-noise ratio in dB: 10·log10(Σx² / Σ(x−q)²); +inf when identical.
double sqnr_db(const float* x, const float* q, int64_t n);

}  // namespace qe
