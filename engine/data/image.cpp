#include "engine/data/image.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>

// stb_image is compiled into this file with static linkage: no symbol clashes with any other
// copy in the process, and only the three formats we promise are compiled in. Restricting the
// formats matters for more than size: TGA has no magic number, and a TGA-capable stb_image
// "decodes" many text files as images.
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

namespace qe {
namespace {

struct StbFree {
  void operator()(stbi_uc* p) const { stbi_image_free(p); }
};

std::string quoted(const std::string& name) { return "'" + name + "'"; }

const char* stb_reason() {
  const char* r = stbi_failure_reason();
  // stb_image gives no reason for some failures (e.g. PNG data that stops early).
  return r && *r ? r : "corrupt or truncated data";
}

Status check_regular_file(const std::string& path) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) return not_found("image file ", quoted(path), " does not exist");
  if (!std::filesystem::is_regular_file(status)) return io_error("image file ", quoted(path), " is not a regular file");
  return Status::ok();
}

Result<std::vector<uint8_t>> read_file_bytes(const std::string& path) {
  QE_RETURN_IF_ERROR(check_regular_file(path));
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return io_error("cannot open image file ", quoted(path), ": ", std::generic_category().message(errno));
  if (std::fseek(f.get(), 0, SEEK_END) != 0) return io_error("cannot seek in image file ", quoted(path));
  long size = std::ftell(f.get());
  if (size < 0) return io_error("cannot size image file ", quoted(path));
  if (size > kMaxImageFileBytes) {
    return out_of_range("image file ", quoted(path), " is ", size, " bytes, more than the ", kMaxImageFileBytes,
                        "-byte limit");
  }
  std::fseek(f.get(), 0, SEEK_SET);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0 && std::fread(bytes.data(), 1, bytes.size(), f.get()) != bytes.size()) {
    return io_error("cannot read image file ", quoted(path), ": ", std::generic_category().message(errno));
  }
  return bytes;
}

// stb_image feeds zeros past the end of a JPEG instead of failing, so a truncated file would
// decode into a half-gray image without complaint (libjpeg, and PIL with it, reject it). A
// complete JPEG has an end-of-image marker after its first scan header: inside entropy-coded
// data 0xFF is always followed by 0x00 or a restart marker, so FF D9 there is the real end.
// The segment walk skips APPn payloads, which may hold a thumbnail with its own EOI.
bool jpeg_has_end_marker(const uint8_t* d, size_t n) {
  size_t pos = 2;
  while (pos + 4 <= n) {
    if (d[pos] != 0xFF) return false;
    uint8_t marker = d[pos + 1];
    if (marker == 0xFF) { ++pos; continue; }  // fill bytes
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { pos += 2; continue; }  // no payload
    size_t len = (static_cast<size_t>(d[pos + 2]) << 8) | d[pos + 3];
    if (marker == 0xDA) {
      for (size_t i = pos + 2 + len; i + 1 < n; ++i) {
        if (d[i] == 0xFF && d[i + 1] == 0xD9) return true;
      }
      return false;
    }
    if (len < 2) return false;
    pos += 2 + len;
  }
  return false;
}

// stb_image 2.27 (Debian's libstb) trusts two things about Huffman tables that a hostile JPEG
// breaks (both found by fuzz_image_decode):
// - a DHT segment's 16 code-length counts add up to at most 256 symbols: it writes past its
//   257-entry arrays when they do (newer stb_image checks it);
// - a scan uses only tables defined before it: an undefined one is all zeros, and decoding with
//   it indexes past the table's 18-entry maxcode array.
// So every segment stb_image could reach is checked first: segments are skipped by their lengths
// as stb_image skips them, and everything else (entropy-coded data, junk between segments) is
// scanned byte by byte for markers, so no DHT or SOS stb_image would parse is missed. Past the
// end stb_image reads zeros. Returns why the file is refused, or nullptr.
const char* jpeg_huffman_problem(const uint8_t* d, size_t n) {
  auto byte_at = [&](size_t i) -> uint32_t { return i < n ? d[i] : 0; };
  bool defined[2][4] = {};  // [DC = 0 / AC = 1][table id]
  bool progressive = false;
  size_t pos = 0;
  while (pos < n) {
    if (d[pos] != 0xFF) {
      ++pos;
      continue;
    }
    size_t m = pos + 1;
    while (m < n && d[m] == 0xFF) ++m;  // fill bytes
    if (m >= n) break;
    const uint8_t marker = d[m];
    pos = m + 1;
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD9)) continue;  // no payload
    const size_t len = (byte_at(pos) << 8) | byte_at(pos + 1);
    if (marker == 0xC2) progressive = true;
    if (marker == 0xC4) {
      int64_t left = static_cast<int64_t>(len) - 2;
      size_t table = pos + 2;
      while (left > 0) {
        const uint32_t kind = byte_at(table);
        uint32_t symbols = 0;
        for (size_t i = 1; i <= 16; ++i) symbols += byte_at(table + i);
        if (symbols > 256) return "a Huffman table of more than 256 symbols";
        if ((kind >> 4) <= 1 && (kind & 15) <= 3) defined[kind >> 4][kind & 15] = true;  // others: stb_image refuses
        table += 17 + symbols;
        left -= 17 + static_cast<int64_t>(symbols);
      }
    }
    if (marker == 0xDA) {
      const uint32_t components = byte_at(pos + 2);
      const size_t tail = pos + 3 + 2 * size_t{components};
      const uint32_t spectral_start = byte_at(tail), approx_high = byte_at(tail + 2) >> 4;
      // Baseline scans decode both tables; progressive ones the DC table in a first DC scan and
      // the AC table in an AC scan (refinement of DC reads raw bits).
      const bool uses_dc = !progressive || (spectral_start == 0 && approx_high == 0);
      const bool uses_ac = !progressive || spectral_start != 0;
      for (uint32_t c = 0; c < components && c < 4; ++c) {
        const uint32_t tables = byte_at(pos + 4 + 2 * size_t{c});
        if ((uses_dc && (tables >> 4) <= 3 && !defined[0][tables >> 4]) ||
            (uses_ac && (tables & 15) <= 3 && !defined[1][tables & 15])) {
          return "a scan uses a Huffman table that was never defined";
        }
      }
    }
    pos += std::max<size_t>(len, 2);
  }
  return nullptr;
}

bool is_jpeg(const uint8_t* d, size_t n) { return n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF; }

uint32_t be16(const uint8_t* p) { return (uint32_t{p[0]} << 8) | p[1]; }
uint32_t be32(const uint8_t* p) { return (be16(p) << 16) | be16(p + 2); }
int64_t le32s(const uint8_t* p) {
  return static_cast<int32_t>(uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24));
}

// Width and height straight from the header, for a precise error on oversized images: stb_image
// rejects some of them itself and then reports only "unknown image type".
bool peek_dimensions(const uint8_t* d, size_t n, int64_t* w, int64_t* h) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n >= 24 && std::memcmp(d, kPng, 8) == 0 && std::memcmp(d + 12, "IHDR", 4) == 0) {
    *w = be32(d + 16);
    *h = be32(d + 20);
    return true;
  }
  if (n >= 26 && d[0] == 'B' && d[1] == 'M') {
    if (le32s(d + 14) == 12) {  // OS/2 core header: 16-bit sizes
      *w = d[18] | (d[19] << 8);
      *h = d[20] | (d[21] << 8);
    } else {
      *w = std::abs(le32s(d + 18));
      *h = std::abs(le32s(d + 22));  // negative height = top-down rows
    }
    return true;
  }
  if (is_jpeg(d, n)) {
    size_t pos = 2;
    while (pos + 9 <= n && d[pos] == 0xFF) {
      const uint8_t m = d[pos + 1];
      if (m == 0xFF) { ++pos; continue; }
      const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
      if (sof) {
        *h = be16(d + pos + 5);
        *w = be16(d + pos + 7);
        return true;
      }
      if (m == 0xDA) return false;
      pos += 2 + be16(d + pos + 2);
    }
  }
  return false;
}

// stb_image trusts a PNG chunk's length (it grows its buffer to fit before reading, up to GiBs
// for a 67-byte file) and reads zeros past the end of the data. A PNG is handed to it only when
// every chunk up to IEND lies inside the file.
bool png_chunks_fit(const uint8_t* d, size_t n) {
  size_t pos = 8;  // after the signature
  while (pos + 8 <= n) {
    const uint64_t length = (uint64_t{d[pos]} << 24) | (uint64_t{d[pos + 1]} << 16) | (uint64_t{d[pos + 2]} << 8) | d[pos + 3];
    if (length > n || pos + 12 + length > n) return false;
    if (std::memcmp(d + pos + 4, "IEND", 4) == 0) return true;
    pos += 12 + length;
  }
  return false;
}

uint32_t le16(const uint8_t* p) { return uint32_t{p[0]} | (uint32_t{p[1]} << 8); }

// stb_image reads zeros past the end of a BMP's pixel rows, so a truncated file would decode
// with its missing rows black. For the uncompressed layouts (BI_RGB, BI_BITFIELDS,
// BI_ALPHABITFIELDS) the rows' size follows from the header: width × bits per pixel, each row
// padded to 4 bytes. Returns the bytes the pixel rows need past the file's end (0 when they fit,
// or when the layout is compressed or the header too short: stb_image judges those).
uint64_t bmp_missing_bytes(const uint8_t* d, size_t n) {
  if (n < 30 || d[0] != 'B' || d[1] != 'M') return 0;
  const uint64_t header = static_cast<uint64_t>(le32s(d + 14));
  uint64_t width = 0, height = 0, bits = 0, compression = 0;
  if (header == 12) {  // OS/2 core header: 16-bit sizes, never compressed
    width = le16(d + 18);
    height = le16(d + 20);
    bits = le16(d + 24);
  } else if (header >= 40 && n >= 34) {
    width = static_cast<uint64_t>(std::abs(le32s(d + 18)));
    height = static_cast<uint64_t>(std::abs(le32s(d + 22)));
    bits = le16(d + 28);
    compression = static_cast<uint64_t>(le32s(d + 30));
  } else {
    return 0;
  }
  if (compression != 0 && compression != 3 && compression != 6) return 0;
  const auto limit = static_cast<uint64_t>(kMaxImageDimension);
  if (width > limit || height > limit || bits > 32) return 0;  // refused elsewhere
  const uint64_t row = (width * bits + 31) / 32 * 4;
  const uint64_t offset = static_cast<uint64_t>(static_cast<uint32_t>(le32s(d + 10)));
  const uint64_t start = std::max<uint64_t>(offset, 14 + header);
  const uint64_t end = start + row * height;
  return end > n ? end - n : 0;
}

Result<ImageInfo> info_impl(const uint8_t* data, size_t size, const std::string& name) {
  if (size == 0) return parse_error("image ", quoted(name), " is empty");
  if (size > static_cast<size_t>(INT32_MAX)) return out_of_range("image ", quoted(name), " is too large to decode");
  int64_t pw = 0, ph = 0;
  if (peek_dimensions(data, size, &pw, &ph) && (pw > kMaxImageDimension || ph > kMaxImageDimension)) {
    return out_of_range("image ", quoted(name), " is ", pw, "x", ph, " pixels, larger than the ", kMaxImageDimension,
                        "x", kMaxImageDimension, " limit");
  }
  if (data[0] == 0xFF) {
    if (const char* problem = jpeg_huffman_problem(data, size)) {
      return parse_error("image ", quoted(name), " is a corrupt JPEG (", problem, ")");
    }
  }
  if (const uint64_t missing = bmp_missing_bytes(data, size); missing > 0) {
    return parse_error("image ", quoted(name), " is a truncated BMP (its pixel rows need ", missing,
                       " more bytes than the file has)");
  }
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &comp)) {
    return parse_error("image ", quoted(name), " is not a readable JPEG, PNG or BMP image (", stb_reason(), ")");
  }
  // stb_image's BMP header reader passes a top-down image's negative height through (decoding
  // flips it positive).
  if (h < 0 && size >= 2 && data[0] == 'B' && data[1] == 'M') h = -h;
  if (w <= 0 || h <= 0) return parse_error("image ", quoted(name), " has an empty size ", w, "x", h);
  if (w > kMaxImageDimension || h > kMaxImageDimension) {
    return out_of_range("image ", quoted(name), " is ", w, "x", h, " pixels, larger than the ", kMaxImageDimension,
                        "x", kMaxImageDimension, " limit");
  }
  ImageInfo info;
  info.width = w;
  info.height = h;
  info.channels = comp <= 2 ? 1 : 3;
  return info;
}

}  // namespace

bool has_image_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}

Result<ImageInfo> read_image_info_memory(const uint8_t* data, size_t size, const std::string& name) {
  return info_impl(data, size, name);
}

Result<ImageInfo> read_image_info(const std::string& path) {
  // Headers sit at the front; 64 KiB covers JPEGs with large EXIF/ICC segments before SOF.
  QE_RETURN_IF_ERROR(check_regular_file(path));
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return io_error("cannot open image file ", quoted(path), ": ", std::generic_category().message(errno));
  std::vector<uint8_t> head(64 * 1024);
  size_t n = std::fread(head.data(), 1, head.size(), f.get());
  auto info = info_impl(head.data(), n, path);
  if (info.is_ok() || n < head.size()) return info;
  QE_ASSIGN_OR_RETURN(auto bytes, read_file_bytes(path));
  return info_impl(bytes.data(), bytes.size(), path);
}

Result<Image> decode_image_memory(const uint8_t* data, size_t size, const std::string& name) {
  QE_ASSIGN_OR_RETURN(ImageInfo info, info_impl(data, size, name));
  if (size >= 8 && std::memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0 && !png_chunks_fit(data, size)) {
    return parse_error("image ", quoted(name), " is a corrupt PNG (a chunk runs past the end of the file, or no IEND)");
  }
  if (is_jpeg(data, size) && !jpeg_has_end_marker(data, size)) {
    return parse_error("image ", quoted(name), " is a truncated or corrupt JPEG (no end-of-image marker)");
  }
  int w = 0, h = 0, comp = 0;
  // Requesting 8-bit output also converts 16-bit PNGs (stb keeps the high byte).
  std::unique_ptr<stbi_uc, StbFree> pixels(
      stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &comp, info.channels));
  if (!pixels) return parse_error("cannot decode image ", quoted(name), ": ", stb_reason());
  if (w != info.width || h != info.height) {
    return parse_error("image ", quoted(name), " decoded to ", w, "x", h, " but its header says ", info.width, "x",
                       info.height);
  }
  Image img(h, w, info.channels);
  std::memcpy(img.pixels.data(), pixels.get(), img.pixels.size());
  return img;
}

Result<Image> decode_image_file(const std::string& path) {
  QE_ASSIGN_OR_RETURN(auto bytes, read_file_bytes(path));
  return decode_image_memory(bytes.data(), bytes.size(), path);
}

}  // namespace qe
