// Image → model input tensor: channel conversion, resize, centre crop, scale, normalise,
// NCHW float32. Mirrors torchvision's Resize / CenterCrop / ToTensor / Normalize on PIL
// images, plus the float-resize pipeline the Fashion-MNIST 64x64 models were trained with.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/status.h"
#include "engine/data/image.h"

namespace qe {

enum class Interpolation { kBilinear };

// What to do when the model wants one channel and the image has three.
enum class RgbToGray {
  kError,      // refuse: a colour image fed to a gray model is usually the wrong data set
  kLuminance,  // ITU-R 601-2 luma in PIL's fixed point (Image.convert("L"))
};

struct Preprocessing {
  int channels = 3;  // 1 or 3; a gray image is replicated to RGB
  RgbToGray rgb_to_gray = RgbToGray::kError;

  // At most one resize: the shorter side to this length keeping the aspect ratio (torchvision
  // Resize(int)), or an exact size. 0 = no resize.
  int resize_shorter_side = 0;
  // The long side of a shorter-side resize: round(size * long / short) (Python round, halves to
  // even), which is how the shared ImageNet golden inputs were made, or torchvision's
  // int(size * long / short) truncation. They differ by one pixel for many aspect ratios, which
  // shifts the whole centre crop by half a pixel.
  bool round_long_side = true;
  int resize_height = 0;
  int resize_width = 0;
  Interpolation interpolation = Interpolation::kBilinear;
  bool antialias = true;  // widen the filter when downscaling (PIL always does)
  // false: resize the 8-bit image as PIL does (rounded to uint8 after each pass).
  // true: scale to float first and resize the float values without rounding (torch).
  bool resize_in_float = false;

  int crop_height = 0;  // centre crop; 0 = none. A crop larger than the image pads with 0.
  int crop_width = 0;

  // input = (pixel * scale - mean[c]) / std[c]; mean/std hold 1 value or one per channel,
  // empty means 0 / 1.
  double scale = 1.0 / 255.0;
  std::vector<float> mean;
  std::vector<float> std;

  // Class names from a sidecar, in logit order; empty when unknown.
  std::vector<std::string> labels;
  // Sidecar file these settings came from; empty for built-in defaults.
  std::string source;

  // torchvision's ImageNet evaluation transform: shorter side 256 (PIL bilinear, antialiased),
  // centre crop 224, /255, mean 0.485/0.456/0.406, std 0.229/0.224/0.225.
  static Preprocessing imagenet();

  Status validate() const;
  std::string to_string() const;  // one line, for logs
};

struct TensorDims {
  int channels = 0;
  int height = 0;
  int width = 0;
  int64_t numel() const { return static_cast<int64_t>(channels) * height * width; }
  bool operator==(const TensorDims& o) const {
    return channels == o.channels && height == o.height && width == o.width;
  }
};

// Output C,H,W for an image of image_h x image_w.
Result<TensorDims> preprocessed_dims(const Preprocessing& p, int image_h, int image_w);
// The output size when it does not depend on the image (a crop or an exact resize).
std::optional<TensorDims> fixed_output_dims(const Preprocessing& p);
// Size of a Resize(shorter_side) output for an image of h x w (see round_long_side).
void shorter_side_size(int h, int w, int shorter_side, bool round_long_side, int* out_h, int* out_w);

// Writes preprocessed_dims(p, img.height, img.width).numel() floats, CHW, to out_chw.
Status preprocess(const Image& img, const Preprocessing& p, float* out_chw);

// Reads the sidecar `<model>.json` next to `<model>.onnx` (key "preprocessing", and "labels"
// when present). A missing sidecar gives Preprocessing::imagenet() with an empty `source`, so
// the caller decides whether defaults are acceptable; a malformed one is an error naming the
// file and the key.
Result<Preprocessing> load_sidecar_preprocessing(const std::string& model_path);
// The same from JSON text; `name` is used in error messages.
Result<Preprocessing> parse_sidecar_preprocessing(const std::string& json_text, const std::string& name);
std::string sidecar_path_for(const std::string& model_path);

}  // namespace qe
