// Range observers: streaming statistics of one tensor over calibration batches, turned into a
// clipping range. Memory does not grow with the number of batches (histograms have a fixed
// number of bins and are re-binned when the range grows).
//
//   kMinMax     running min / max
//   kAbsMax     running max |x| (range [-m, m], or [0, m] for unsigned)
//   kPercentile per batch: the p-th and (100-p)-th percentiles; the range is their mean over
//               batches (Brevitas' default, p = 99.999)
//   kMse        histogram; the clipping range minimising the expected quantization MSE for the
//               spec's bits / sign
//   kEntropy    TensorRT-style: 2048-bin histogram of |x|, the threshold minimising the KL
//               divergence between the clipped and the quantized distribution
//
// Details (implementation: quant/observer*.cpp):
//  - Percentile follows Brevitas' stats_op.py exactly: a percentile is torch.kthvalue (an
//    element of the tensor, no interpolation) at k = floor(0.01·p·N + 0.5) (high side) and
//    k = ceil(0.01·(100 − p)·N) (low side). Symmetric specs use AbsPercentile (the k-th |x|:
//    [-a, a], or [0, a] unsigned); asymmetric specs use PercentileInterval ([low, high], low
//    clamped to <= 0). Per-channel: N counts the elements of one channel.
//  - MSE: 2048-bin histogram; the error of a candidate range is integrated exactly over each
//    bin (mass uniform within a bin) for the grid int_grid_for_range() builds, with the
//    spec's rounding. Symmetric: 256 clip values in (0, max|x|] refined 32× around the best;
//    asymmetric: three rounds of coordinate descent over the two ends.
//  - Entropy: levels covering [0, T] = 2^(b−1) (signed; TensorRT's 128 at 8 bits) or 2^b
//    (unsigned); candidate thresholds from `levels` bins up to the last used bin; T is the
//    upper edge of the best candidate's last bin. Asymmetric specs clip [min, max] to ±T.
//  - MSE and entropy need an integer spec. NaN / inf in a batch is an error and leaves the
//    observer unchanged. ranges() may be called at any time and does not change the state.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "quant/quant_spec.h"

namespace qe {

struct ObservedRange {
  float lo = 0.0f;  // clipping range chosen by the method
  float hi = 0.0f;
  float min = 0.0f;  // raw extremes seen (reported in calibration.json)
  float max = 0.0f;
};

class RangeObserver {
 public:
  virtual ~RangeObserver() = default;
  // One calibration batch: the whole tensor as the model produced it.
  virtual Status observe(const TensorView& x) = 0;
  // One range per channel (channel_axis >= 0) or a single range. Error when nothing was observed.
  virtual Result<std::vector<ObservedRange>> ranges() const = 0;
};

// `channel_axis` < 0: per tensor. The spec's method, bits, sign (resolved), percentile are used.
Result<std::unique_ptr<RangeObserver>> make_range_observer(const QuantSpec& spec, int channel_axis = -1);

}  // namespace qe
