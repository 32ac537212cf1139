// Conv / ConvTranspose attribute resolution shared by shape inference (graph/schemas/compute.cpp)
// and the kernel bindings (engine/ops/conv*.cpp), so both agree on pads and output sizes.
// auto_pad is turned into explicit pads here; nothing downstream looks at it again.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/core/shape.h"
#include "engine/core/status.h"
#include "graph/attributes.h"

namespace qe {

struct ConvGeometry {
  int spatial_rank = 0;  // 1 for Conv1D, 2 for Conv2D, ...
  int64_t group = 1;
  int64_t batch = -1;
  int64_t in_channels = -1;   // of X
  int64_t out_channels = -1;  // of Y
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads_begin;  // -1 when auto_pad needs an unknown input size
  std::vector<int64_t> pads_end;
  std::vector<int64_t> output_padding;  // ConvTranspose only
  std::vector<int64_t> in_spatial;      // -1 for unknown dims
  std::vector<int64_t> out_spatial;     // -1 for unknown dims

  Shape output_shape() const;
};

// X is [N, C, D1..Dk]; W is [M, C/group, k1..kk] for Conv and [C, M/group, k1..kk] for
// ConvTranspose. Unknown (-1) input dims give unknown output dims; W's shape must be known
// where kernel_shape is absent.
Result<ConvGeometry> resolve_conv_geometry(const Attributes& attrs, const Shape& x, const Shape& w);
Result<ConvGeometry> resolve_conv_transpose_geometry(const Attributes& attrs, const Shape& x, const Shape& w);

}  // namespace qe
