// Pieces shared by the range observers (quant/observer*.cpp) and the weight quantizer: the
// [outer, channels, inner] view of a tensor, the raw min / max reduction, order statistics and
// the streaming histogram. Not part of the public contract (quant/observer.h is).
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "engine/core/status.h"
#include "engine/core/tensor.h"
#include "quant/observer.h"
#include "quant/quant_spec.h"

namespace qe::observer_detail {

// x viewed as [outer, channels, inner]: channel c of outer slice o is the contiguous run
// starting at (o * channels + c) * inner. channel_axis < 0 gives one channel.
struct ChannelLayout {
  int64_t outer = 1, channels = 1, inner = 1;
};
// Errors (not float32, unknown shape, axis out of range) are worded for observers.
Result<ChannelLayout> channel_layout(const Shape& shape, DType dtype, int channel_axis);

// Copies channel c of x (layout `l`) into `out` (resized).
void gather_channel(const float* x, const ChannelLayout& l, int64_t c, std::vector<float>& out);

struct MinMax {
  float min = std::numeric_limits<float>::infinity();
  float max = -std::numeric_limits<float>::infinity();
  bool nan = false;
  bool empty() const { return min > max; }
};
void accumulate_min_max(const float* x, int64_t n, MinMax& mm);
// NaN or ±inf in a calibration tensor makes every range meaningless: report it.
Status check_finite(const MinMax& mm);

// k-th smallest (1-based, torch.kthvalue semantics: no interpolation) of x, or of |x| when
// `abs`. `scratch` is reused between calls. When k is near either end (the percentile case) only
// the candidates beyond a sampled threshold are copied and selected; otherwise the whole input.
float kth_smallest(const float* x, int64_t n, int64_t k, bool abs, std::vector<float>& scratch);

// Fixed-size histogram on the lattice k·width (k integer). The window of `bins` bins moves to
// follow the data; when the data span exceeds it, the width doubles and bin pairs merge, which
// is exact on the lattice, so memory stays fixed however many batches arrive. Anchored
// histograms keep bin 0 at the origin (histograms of |x|).
class LatticeHistogram {
 public:
  LatticeHistogram(int bins, bool anchored);

  // Adds n values (|x| when `abs`); [lo, hi] must bound them (lo >= 0 when anchored).
  void add(const float* x, int64_t n, bool abs, float lo, float hi);

  bool empty() const { return total_ == 0; }
  int bins() const { return bins_; }
  double width() const { return width_; }
  double left() const { return static_cast<double>(k0_) * width_; }  // left edge of bin 0
  // Every value seen was `constant_value()` (width is not defined yet).
  bool constant() const { return width_ == 0 && total_ > 0; }
  float constant_value() const { return pending_value_; }
  const std::vector<double>& counts() const { return counts_; }
  double total() const { return total_; }
  // Bins [first_used, last_used] hold all the mass (valid when !empty() and !constant()).
  int first_used() const;
  int last_used() const;

 private:
  void cover(double lo, double hi);
  void flush_sub();

  int bins_;
  bool anchored_;
  double width_ = 0;  // 0 until a batch with a non-zero span arrives
  int64_t k0_ = 0;    // lattice index of bin 0
  std::vector<double> counts_;
  double total_ = 0;
  float pending_value_ = 0;  // while width_ == 0: the single value seen so far
  std::vector<int32_t> idx_;   // scratch for bin indices
  std::vector<uint32_t> sub_;  // scratch: interleaved partial histograms (see add())
};

std::unique_ptr<RangeObserver> make_minmax_observer(const QuantSpec& spec, int channel_axis);
std::unique_ptr<RangeObserver> make_percentile_observer(const QuantSpec& spec, int channel_axis);
std::unique_ptr<RangeObserver> make_mse_observer(const QuantSpec& spec, int channel_axis);
std::unique_ptr<RangeObserver> make_entropy_observer(const QuantSpec& spec, int channel_axis);

// Brevitas' 1-based kthvalue indices for a tensor of n elements (stats_op.py): high side
// k = floor(0.01·q·n + 0.5), low side k = ceil(0.01·(100 − q)·n); both clamped to [1, n].
int64_t brevitas_high_k(double q, int64_t n);
int64_t brevitas_low_k(double q, int64_t n);

}  // namespace qe::observer_detail
