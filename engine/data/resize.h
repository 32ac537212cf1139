// Bilinear resampling for preprocessing, in the two conventions the models were trained with:
//  - 8-bit, PIL's ImagingResample (what torchvision's Resize does on PIL images): separable,
//    horizontal pass first, triangle filter whose support grows with the downscale factor
//    (antialiasing), coefficients in 22-bit fixed point, each pass rounded back to uint8.
//  - float, PyTorch's F.interpolate(mode="bilinear", align_corners=False): half-pixel centres,
//    two taps, no rounding; with antialias the PIL coefficients applied in float instead
//    (as F.interpolate(antialias=True) does).
#pragma once

#include <vector>

#include "engine/data/image.h"

namespace qe {

// Returns `in` resized to out_h x out_w (same channel count). Without antialias the filter
// support stays one source pixel when downscaling (plain bilinear).
Image resize_bilinear_u8(const Image& in, int out_h, int out_w, bool antialias);

// Resizes `channels` planes (CHW float) of in_h x in_w into out (CHW, out_h x out_w).
void resize_bilinear_f32(const float* in, int channels, int in_h, int in_w, float* out, int out_h, int out_w,
                         bool antialias);

}  // namespace qe
