// MaxPool / AveragePool attribute resolution shared by shape inference (graph/schemas/pooling.cpp)
// and the kernel bindings (engine/ops/pooling.cpp), so both agree on pads and output sizes.
// auto_pad becomes explicit pads here. ceil_mode follows ONNX (opset 19 reference), PyTorch and
// onnxruntime: a last window that would start past the input and its begin padding is dropped.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/core/shape.h"
#include "engine/core/status.h"
#include "graph/attributes.h"

namespace qe {

struct PoolGeometry {
  int spatial_rank = 0;
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads_begin;  // -1 where auto_pad needs an unknown input size
  std::vector<int64_t> pads_end;
  std::vector<int64_t> in_spatial;   // -1 for unknown dims
  std::vector<int64_t> out_spatial;  // -1 for unknown dims
  bool ceil_mode = false;
};

// X is [N, C, D1..Dk] (k >= 1). kernel_shape is required.
Result<PoolGeometry> resolve_pool_geometry(const Attributes& attrs, const Shape& x);

}  // namespace qe
