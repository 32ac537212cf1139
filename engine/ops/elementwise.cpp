// The elementwise family's registration: unary maps (unary.cpp), binary ops and Where
// (binary.cpp), reductions (reduce.cpp), Softmax (softmax.cpp).
#include "engine/ops/elementwise_common.h"

namespace qe {

void register_elementwise_kernels(KernelRegistry& r) {
  register_unary_kernels(r);
  register_binary_kernels(r);
  register_reduce_kernels(r);
  register_softmax_kernels(r);
}

}  // namespace qe
