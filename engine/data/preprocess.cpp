#include "engine/data/preprocess.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>

#include "engine/data/resize.h"

namespace qe {
namespace {

float channel_value(const std::vector<float>& v, int c, float fallback) {
  if (v.empty()) return fallback;
  return v.size() == 1 ? v[0] : v[static_cast<size_t>(c)];
}

// torchvision's center_crop uses Python's round(), which rounds halves to even.
int round_half_even_half(int diff) {
  int q = diff / 2;
  if (diff % 2 != 0 && q % 2 != 0) ++q;
  return q;
}

// Source coordinate of the first output pixel along one axis. When the crop is larger than the
// image, torchvision pads (crop - size) // 2 on the leading side, so the offset is negative.
int crop_offset(int size, int crop) {
  if (crop > size) return -((crop - size) / 2);
  return round_half_even_half(size - crop);
}

// PIL's "L" conversion: ITU-R 601-2 luma in 16-bit fixed point.
Image to_luminance(const Image& rgb) {
  Image gray(rgb.height, rgb.width, 1);
  const size_t n = static_cast<size_t>(rgb.height) * rgb.width;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = &rgb.pixels[i * 3];
    gray.pixels[i] = static_cast<uint8_t>((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
  }
  return gray;
}

std::string join(const std::vector<float>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  os << "]";
  return os.str();
}

}  // namespace

Preprocessing Preprocessing::imagenet() {
  Preprocessing p;
  p.channels = 3;
  p.resize_shorter_side = 256;
  p.antialias = true;
  p.resize_in_float = false;
  p.crop_height = 224;
  p.crop_width = 224;
  p.scale = 1.0 / 255.0;
  p.mean = {0.485f, 0.456f, 0.406f};
  p.std = {0.229f, 0.224f, 0.225f};
  return p;
}

Status Preprocessing::validate() const {
  if (channels != 1 && channels != 3) return invalid_argument("preprocessing: channels must be 1 or 3, got ", channels);
  auto check_size = [](const char* what, int v) -> Status {
    if (v < 0 || v > kMaxImageDimension) {
      return invalid_argument("preprocessing: ", what, " must be in [0, ", kMaxImageDimension, "], got ", v);
    }
    return Status::ok();
  };
  QE_RETURN_IF_ERROR(check_size("resize_shorter_side", resize_shorter_side));
  QE_RETURN_IF_ERROR(check_size("resize height", resize_height));
  QE_RETURN_IF_ERROR(check_size("resize width", resize_width));
  QE_RETURN_IF_ERROR(check_size("crop height", crop_height));
  QE_RETURN_IF_ERROR(check_size("crop width", crop_width));
  if ((resize_height == 0) != (resize_width == 0)) {
    return invalid_argument("preprocessing: exact resize needs both height and width, got ", resize_height, "x",
                            resize_width);
  }
  if (resize_shorter_side > 0 && resize_height > 0) {
    return invalid_argument("preprocessing: both a shorter-side resize and an exact resize are set");
  }
  if ((crop_height == 0) != (crop_width == 0)) {
    return invalid_argument("preprocessing: centre crop needs both height and width, got ", crop_height, "x",
                            crop_width);
  }
  if (!std::isfinite(scale) || scale == 0) return invalid_argument("preprocessing: scale must be finite and non-zero");
  for (const auto* v : {&mean, &std}) {
    const char* name = v == &mean ? "mean" : "std";
    if (!v->empty() && v->size() != 1 && v->size() != static_cast<size_t>(channels)) {
      return invalid_argument("preprocessing: ", name, " has ", v->size(), " values for ", channels, " channels");
    }
    for (float x : *v) {
      if (!std::isfinite(x) || (v == &std && x == 0.f)) {
        return invalid_argument("preprocessing: ", name, " value ", x, " is not usable");
      }
    }
  }
  return Status::ok();
}

std::string Preprocessing::to_string() const {
  std::ostringstream os;
  os << "channels=" << channels;
  if (resize_shorter_side > 0) {
    os << " resize_shorter_side=" << resize_shorter_side << (round_long_side ? " (long side rounded)" : " (long side truncated)");
  }
  if (resize_height > 0) os << " resize=" << resize_height << "x" << resize_width;
  if (resize_shorter_side > 0 || resize_height > 0) {
    os << " bilinear" << (antialias ? " antialias" : "") << (resize_in_float ? " (float)" : " (8-bit, PIL)");
  }
  if (crop_height > 0) os << " center_crop=" << crop_height << "x" << crop_width;
  os << " scale=" << scale << " mean=" << join(mean) << " std=" << join(std);
  if (!source.empty()) os << " from " << source;
  return os.str();
}

void shorter_side_size(int h, int w, int shorter_side, bool round_long_side, int* out_h, int* out_w) {
  const int64_t shrt = std::min(h, w), lng = std::max(h, w);
  const int64_t num = int64_t{shorter_side} * lng;
  int64_t q = num / shrt;
  const int64_t twice_rem = 2 * (num % shrt);
  if (round_long_side && (twice_rem > shrt || (twice_rem == shrt && q % 2 != 0))) ++q;
  if (w <= h) {
    *out_w = shorter_side;
    *out_h = static_cast<int>(q);
  } else {
    *out_h = shorter_side;
    *out_w = static_cast<int>(q);
  }
}

std::optional<TensorDims> fixed_output_dims(const Preprocessing& p) {
  if (p.crop_height > 0) return TensorDims{p.channels, p.crop_height, p.crop_width};
  if (p.resize_height > 0) return TensorDims{p.channels, p.resize_height, p.resize_width};
  return std::nullopt;
}

namespace {

// Resize target for an image, with the same limit as decoding: Resize(256) of a 1x16384 strip
// would otherwise ask for a 256x4194304 image.
Status resized_size(const Preprocessing& p, int h, int w, int* rh, int* rw) {
  *rh = h;
  *rw = w;
  if (p.resize_shorter_side > 0) {
    shorter_side_size(h, w, p.resize_shorter_side, p.round_long_side, rh, rw);
    if (std::max(*rh, *rw) > kMaxImageDimension) {
      return out_of_range("resizing a ", h, "x", w, " image to shorter side ", p.resize_shorter_side, " gives ", *rh,
                          "x", *rw, ", larger than ", kMaxImageDimension);
    }
  } else if (p.resize_height > 0) {
    *rh = p.resize_height;
    *rw = p.resize_width;
  }
  return Status::ok();
}

}  // namespace

Result<TensorDims> preprocessed_dims(const Preprocessing& p, int image_h, int image_w) {
  if (image_h <= 0 || image_w <= 0) return invalid_argument("preprocessing: empty image ", image_h, "x", image_w);
  int rh = 0, rw = 0;
  QE_RETURN_IF_ERROR(resized_size(p, image_h, image_w, &rh, &rw));
  if (p.crop_height > 0) return TensorDims{p.channels, p.crop_height, p.crop_width};
  return TensorDims{p.channels, rh, rw};
}

Status preprocess(const Image& img, const Preprocessing& p, float* out) {
  QE_RETURN_IF_ERROR(p.validate());
  if (img.channels != 1 && img.channels != 3) {
    return invalid_argument("preprocessing: image has ", img.channels, " channels, expected 1 or 3");
  }
  if (img.height <= 0 || img.width <= 0 ||
      img.pixels.size() != static_cast<size_t>(img.height) * img.width * img.channels) {
    return invalid_argument("preprocessing: image buffer does not match its size ", img.height, "x", img.width, "x",
                            img.channels);
  }
  const Image* src = &img;
  Image gray;
  if (p.channels == 1 && img.channels == 3) {
    if (p.rgb_to_gray == RgbToGray::kError) {
      return invalid_argument("preprocessing: the image is RGB but the model takes 1 channel "
                              "(enable luminance conversion to accept colour images)");
    }
    gray = to_luminance(img);
    src = &gray;
  }
  QE_ASSIGN_OR_RETURN(TensorDims dims, preprocessed_dims(p, img.height, img.width));
  int rh = 0, rw = 0;
  QE_RETURN_IF_ERROR(resized_size(p, img.height, img.width, &rh, &rw));
  const bool resize = rh != img.height || rw != img.width;
  const int off_y = crop_offset(rh, dims.height);
  const int off_x = crop_offset(rw, dims.width);
  const size_t plane = static_cast<size_t>(dims.height) * dims.width;
  // A gray source feeds every output channel (PIL's convert("RGB") replicates it).
  const int src_channels = src->channels;

  if (!p.resize_in_float) {
    Image resized;
    const Image* r = src;
    if (resize) {
      resized = resize_bilinear_u8(*src, rh, rw, p.antialias);
      r = &resized;
    }
    for (int c = 0; c < dims.channels; ++c) {
      // ToTensor divides in float32 and Normalize subtracts/divides in float32: keep that order.
      const float mean = channel_value(p.mean, c, 0.f), sd = channel_value(p.std, c, 1.f);
      std::array<float, 256> lut;
      for (int v = 0; v < 256; ++v) lut[v] = (static_cast<float>(v * p.scale) - mean) / sd;
      const int sc = std::min(c, src_channels - 1);
      float* o = out + c * plane;
      for (int y = 0; y < dims.height; ++y) {
        const int sy = y + off_y;
        for (int x = 0; x < dims.width; ++x) {
          const int sx = x + off_x;
          const bool inside = sy >= 0 && sy < rh && sx >= 0 && sx < rw;
          *o++ = inside ? lut[r->at(sy, sx, sc)] : lut[0];
        }
      }
    }
    return Status::ok();
  }

  // Float path: scale first, resize the float planes, then crop and normalise.
  const size_t src_plane = static_cast<size_t>(src->height) * src->width;
  std::vector<float> planes(src_plane * src_channels);
  for (int c = 0; c < src_channels; ++c) {
    for (size_t i = 0; i < src_plane; ++i) {
      planes[c * src_plane + i] = static_cast<float>(src->pixels[i * src_channels + c] * p.scale);
    }
  }
  if (resize) {
    std::vector<float> resized(static_cast<size_t>(rh) * rw * src_channels);
    resize_bilinear_f32(planes.data(), src_channels, src->height, src->width, resized.data(), rh, rw, p.antialias);
    planes.swap(resized);
  }
  for (int c = 0; c < dims.channels; ++c) {
    const float mean = channel_value(p.mean, c, 0.f), sd = channel_value(p.std, c, 1.f);
    const float* s = &planes[static_cast<size_t>(std::min(c, src_channels - 1)) * rh * rw];
    float* o = out + c * plane;
    for (int y = 0; y < dims.height; ++y) {
      const int sy = y + off_y;
      for (int x = 0; x < dims.width; ++x) {
        const int sx = x + off_x;
        const bool inside = sy >= 0 && sy < rh && sx >= 0 && sx < rw;
        const float v = inside ? s[static_cast<size_t>(sy) * rw + sx] : 0.f;
        *o++ = (v - mean) / sd;
      }
    }
  }
  return Status::ok();
}

}  // namespace qe
