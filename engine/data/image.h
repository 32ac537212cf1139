// Decoded 8-bit images (JPEG, PNG, BMP through stb_image).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/status.h"

namespace qe {

// Interleaved 8-bit pixels, row-major HWC. `channels` is 1 (gray) or 3 (RGB): alpha is dropped
// on decode, since the models consume RGB and PIL's convert("RGB") drops it the same way.
struct Image {
  int height = 0;
  int width = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;

  Image() = default;
  Image(int h, int w, int c) : height(h), width(w), channels(c), pixels(static_cast<size_t>(h) * w * c) {}
  uint8_t at(int y, int x, int c) const { return pixels[(static_cast<size_t>(y) * width + x) * channels + c]; }
  uint8_t& at(int y, int x, int c) { return pixels[(static_cast<size_t>(y) * width + x) * channels + c]; }
};

// Header facts read without decoding the pixels.
struct ImageInfo {
  int height = 0;
  int width = 0;
  int channels = 0;  // channels of the decoded Image (1 or 3), not of the file
};

// Decoding refuses larger images before allocating anything: a forged header can claim
// 65535x65535 in a few bytes, and this keeps one image under 16384*16384*3 = 768 MiB.
constexpr int kMaxImageDimension = 16384;
// Files larger than this are not read into memory (no legitimate input comes close).
constexpr int64_t kMaxImageFileBytes = int64_t{1} << 30;

// Errors name the file (or `name` for memory buffers) in one line.
Result<Image> decode_image_file(const std::string& path);
Result<Image> decode_image_memory(const uint8_t* data, size_t size, const std::string& name = "<memory>");
Result<ImageInfo> read_image_info(const std::string& path);
Result<ImageInfo> read_image_info_memory(const uint8_t* data, size_t size, const std::string& name = "<memory>");

// Extensions of the formats decode_image_file handles (.jpg .jpeg .png .bmp, any case).
bool has_image_extension(const std::string& path);

}  // namespace qe
