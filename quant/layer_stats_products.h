// acc (k × k, column-major, float) += a · aᵀ (lower triangle only) or a · bᵀ, with a and b
// k × n column-major: the inner products of the layer statistics (quant/layer_stats.cpp).
#pragma once

#include <cstdint>

namespace qe::layer_stats_detail {

void accumulate_gram_avx2(float* acc, const float* a, int64_t k, int64_t n);
void accumulate_cross_avx2(float* acc, const float* a, const float* b, int64_t k, int64_t n);

}  // namespace qe::layer_stats_detail
