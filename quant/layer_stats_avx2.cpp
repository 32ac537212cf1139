// The k × k products of the layer statistics with AVX2 / FMA code generation (this file alone
// gets those flags; callers dispatch at run time). Eigen is renamed for this translation unit
// so that its AVX2 template instances can never be merged with baseline ones elsewhere.
#define Eigen QeEigenAvx2
#include <Eigen/Dense>

#include "quant/layer_stats_products.h"

namespace qe::layer_stats_detail {

void accumulate_gram_avx2(float* acc, const float* a, int64_t k, int64_t n) {
  Eigen::Map<Eigen::MatrixXf> c(acc, k, k);
  Eigen::Map<const Eigen::MatrixXf> x(a, k, n);
  c.selfadjointView<Eigen::Lower>().rankUpdate(x);
}

void accumulate_cross_avx2(float* acc, const float* a, const float* b, int64_t k, int64_t n) {
  Eigen::Map<Eigen::MatrixXf> c(acc, k, k);
  Eigen::Map<const Eigen::MatrixXf> x(a, k, n), y(b, k, n);
  c.noalias() += x * y.transpose();
}

}  // namespace qe::layer_stats_detail
