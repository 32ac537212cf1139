// Integer pooling over NCHW planes (geometry: PoolParams of kernels/pooling/pool.h; planes are
// (image, channel) pairs, split over threads with pool_for_planes).
//
// MaxPool keeps the input's scale and zero point, so it is a max over the raw u8/s8 values;
// padding never wins (a window with no input element gives the type's lowest value, as
// max_pool_ref does).
// AveragePool: acc = Σ (x - zp_in) over the taps inside the input, then
//   y = requantize_ref(acc, mode, by_count[count], out),
// where count is the number of taps inside the input, or inside the padded extent with
// count_include_pad (padded taps add 0 to acc either way), and by_count[k] is the multiplier
// s_in / (s_out * k) (qavg_pool_multipliers builds the table). A window with count 0 gives zp_out.
// GlobalAveragePool: acc = Σ (x - zp_in) over the plane, y = requantize_ref(acc, mode, m, out)
// with the multiplier m and the output side supplied by the caller (planes up to 2^23 elements):
// m = s_in / (s_out * H * W) with divisor 1 under a Trunc; m = fp32(s_in / (H * W)) with divisor
// s_out for a pool quantized directly. With float_out, y = fp32(acc) * m in fp32 instead: the
// dequantized mean, the exact simulation's form of the pool.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/int8/requantize.h"
#include "kernels/pooling/pool.h"

namespace qe::kernels {

// Max pool, planes [p0, p1): the reference (max_pool_ref<u8/s8>) and the fast form at `level`:
// a tap-outer loop whose inner loop runs along the output row (vectorised by the compiler for
// stride 1), an even/odd split for W stride 2, and at kAvx512 and above qmax_pool_s2_avx512
// for W stride 2 with W dilation 1.
void qmax_pool_ref(const PoolParams& p, bool is_signed, const void* x, void* y, int64_t p0, int64_t p1);
void qmax_pool(const PoolParams& p, bool is_signed, const void* x, void* y, int64_t p0, int64_t p1,
               IsaLevel level = cpu_features().level);
// W stride 2 and dilation 1, with rows short enough for its stack row buffer (the widest model
// rows are a few hundred bytes; wider ones take the portable form).
constexpr int64_t kQMaxPoolS2RowBytes = 4096;
static inline bool qmax_pool_s2_avx512_supports(const PoolParams& p) {
  return p.stride[2] == 2 && p.dilation[2] == 1 && p.in[2] <= 2048 && p.out[2] <= 1024 && p.kernel[2] <= 256 &&
         p.pad[2] <= 256;
}
void qmax_pool_s2_avx512(const PoolParams& p, bool is_signed, const void* x, void* y, int64_t p0, int64_t p1);

struct QPoolQuant {
  bool in_signed = false;
  bool out_signed = false;
  int32_t in_zero_point = 0;
  RequantMode mode = RequantMode::kFloat;
  const RequantMultiplier* by_count = nullptr;  // average pool: index = tap count (0 .. kernel size)
  RequantMultiplier global;                     // global average pool
  RequantOutput out;
  bool float_out = false;                       // global average pool: fp32 output, no requantization
};

// by_count[k] = make_requant_multiplier(m / k) for k in 1..max_count (entry 0 unused).
std::vector<RequantMultiplier> qavg_pool_multipliers(double m, int64_t max_count);

void qavg_pool_ref(const PoolParams& p, const QPoolQuant& q, const void* x, void* y, int64_t p0, int64_t p1);
// Same results; window sums along the output row, tap by tap (no allocation, int32 row chunks).
void qavg_pool(const PoolParams& p, const QPoolQuant& q, const void* x, void* y, int64_t p0, int64_t p1);

void qglobal_avg_pool_ref(const QPoolQuant& q, const void* x, void* y, int64_t size, int64_t p0, int64_t p1);
void qglobal_avg_pool(const QPoolQuant& q, const void* x, void* y, int64_t size, int64_t p0, int64_t p1);

}  // namespace qe::kernels
