// Image decoding: formats and channel handling, and hostile input (corrupt, truncated, not an
// image, forged dimensions) giving one-line errors that name the file.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

#include "engine/data/image.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace qe;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("qe_test_image_" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::vector<uint8_t> pattern(int h, int w, int c) {
  std::vector<uint8_t> v(size_t(h) * w * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) v[(size_t(y) * w + x) * c + k] = uint8_t(y * 31 + x * 7 + k * 80);
  return v;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

uint32_t crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

void put32(std::vector<uint8_t>* v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v->push_back(uint8_t(x >> s));
}

void png_chunk(std::vector<uint8_t>* png, const char* type, const std::vector<uint8_t>& data) {
  put32(png, uint32_t(data.size()));
  std::vector<uint8_t> body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  png->insert(png->end(), body.begin(), body.end());
  put32(png, crc32(body.data(), body.size()));
}

// A valid PNG with uncompressed (stored) deflate data; `rows` are raw scanlines without the
// filter byte. Lets the tests write 16-bit files and forged headers stb_image_write cannot.
std::vector<uint8_t> make_png(uint32_t w, uint32_t h, int bit_depth, int color_type, const std::vector<uint8_t>& rows,
                              size_t row_bytes) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<uint8_t> ihdr;
  put32(&ihdr, w);
  put32(&ihdr, h);
  ihdr.insert(ihdr.end(), {uint8_t(bit_depth), uint8_t(color_type), 0, 0, 0});
  png_chunk(&png, "IHDR", ihdr);
  std::vector<uint8_t> raw;
  for (size_t r = 0; row_bytes && r < rows.size() / row_bytes; ++r) {
    raw.push_back(0);
    raw.insert(raw.end(), rows.begin() + r * row_bytes, rows.begin() + (r + 1) * row_bytes);
  }
  std::vector<uint8_t> z = {0x78, 0x01, 0x01, uint8_t(raw.size()), uint8_t(raw.size() >> 8), uint8_t(~raw.size()),
                            uint8_t(~raw.size() >> 8)};
  z.insert(z.end(), raw.begin(), raw.end());
  uint32_t a = 1, b = 0;
  for (uint8_t x : raw) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  put32(&z, (b << 16) | a);
  png_chunk(&png, "IDAT", z);
  png_chunk(&png, "IEND", {});
  return png;
}

void check_one_line_error(const Status& st, const std::string& path) {
  INFO(st.message());
  CHECK(!st.is_ok());
  CHECK(st.message().find(path) != std::string::npos);
  CHECK(st.message().find('\n') == std::string::npos);
}

}  // namespace

TEST_CASE("PNG: 1-4 channels decode exactly, alpha is dropped") {
  TempDir tmp;
  const int h = 5, w = 7;
  for (int c = 1; c <= 4; ++c) {
    INFO("channels " << c);
    auto px = pattern(h, w, c);
    const std::string path = tmp.file("p" + std::to_string(c) + ".png");
    REQUIRE(stbi_write_png(path.c_str(), w, h, c, px.data(), w * c));
    auto img = decode_image_file(path);
    REQUIRE(img.is_ok());
    const int expect_c = c <= 2 ? 1 : 3;
    REQUIRE(img->channels == expect_c);
    REQUIRE(img->height == h);
    REQUIRE(img->width == w);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int k = 0; k < expect_c; ++k) CHECK(img->at(y, x, k) == px[(size_t(y) * w + x) * c + k]);
    auto info = read_image_info(path);
    REQUIRE(info.is_ok());
    CHECK(info->channels == expect_c);
    CHECK(info->width == w);
  }
}

TEST_CASE("BMP and JPEG decode; memory and file decoding agree") {
  TempDir tmp;
  const int h = 16, w = 24;
  auto px = pattern(h, w, 3);
  const std::string bmp = tmp.file("a.bmp");
  REQUIRE(stbi_write_bmp(bmp.c_str(), w, h, 3, px.data()));
  auto b = decode_image_file(bmp);
  REQUIRE(b.is_ok());
  CHECK(b->pixels == px);

  // A smooth image survives JPEG at high quality within a few levels.
  std::vector<uint8_t> smooth(size_t(h) * w * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < 3; ++k) smooth[(size_t(y) * w + x) * 3 + k] = uint8_t(60 + 4 * x + 3 * y + 20 * k);
  const std::string jpg = tmp.file("a.JPG");
  REQUIRE(stbi_write_jpg(jpg.c_str(), w, h, 3, smooth.data(), 100));
  auto j = decode_image_file(jpg);
  REQUIRE(j.is_ok());
  REQUIRE(j->channels == 3);
  int worst = 0;
  for (size_t i = 0; i < smooth.size(); ++i) worst = std::max(worst, std::abs(int(j->pixels[i]) - smooth[i]));
  CHECK(worst <= 8);
  auto bytes = read_bytes(jpg);
  auto m = decode_image_memory(bytes.data(), bytes.size(), "buffer");
  REQUIRE(m.is_ok());
  CHECK(m->pixels == j->pixels);

  CHECK(has_image_extension(jpg));
  CHECK(has_image_extension("x/y.PNG"));
  CHECK(!has_image_extension("x/y.txt"));
  CHECK(!has_image_extension("x/jpg"));
}

TEST_CASE("16-bit PNG decodes to its high byte") {
  TempDir tmp;
  // 2x1 RGB, 16-bit big-endian samples.
  std::vector<uint8_t> row = {0x12, 0x34, 0xAB, 0xCD, 0xFF, 0xFF, 0x00, 0x01, 0x80, 0x00, 0x7F, 0xFF};
  const std::string path = tmp.file("deep.png");
  write_bytes(path, make_png(2, 1, 16, 2, row, row.size()));
  auto img = decode_image_file(path);
  REQUIRE(img.is_ok());
  REQUIRE(img->channels == 3);
  CHECK(img->pixels == std::vector<uint8_t>{0x12, 0xAB, 0xFF, 0x00, 0x80, 0x7F});
  // Gray 16-bit.
  write_bytes(path, make_png(1, 2, 16, 0, {0xFE, 0x00, 0x01, 0xFF}, 2));
  auto g = decode_image_file(path);
  REQUIRE(g.is_ok());
  CHECK(g->channels == 1);
  CHECK(g->pixels == std::vector<uint8_t>{0xFE, 0x01});
}

TEST_CASE("bad input gives one-line errors naming the file") {
  TempDir tmp;
  SECTION("missing file") {
    const std::string p = tmp.file("nope.jpg");
    auto r = decode_image_file(p);
    check_one_line_error(r.status(), p);
    CHECK(r.status().code() == StatusCode::kNotFound);
  }
  SECTION("text file with an image extension") {
    const std::string p = tmp.file("notes.jpg");
    std::ofstream(p) << "this is not an image\nsecond line\n";
    auto r = decode_image_file(p);
    check_one_line_error(r.status(), p);
    CHECK(r.status().code() == StatusCode::kParseError);
    check_one_line_error(read_image_info(p).status(), p);
  }
  SECTION("empty file and directory") {
    const std::string p = tmp.file("empty.png");
    std::ofstream(p).flush();
    check_one_line_error(decode_image_file(p).status(), p);
    const std::string d = tmp.file("dir.png");
    fs::create_directory(d);
    check_one_line_error(decode_image_file(d).status(), d);
    check_one_line_error(read_image_info(d).status(), d);
  }
  SECTION("truncated and corrupt JPEG") {
    std::vector<uint8_t> px(64 * 48 * 3);
    for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 13);
    const std::string good = tmp.file("good.jpg");
    REQUIRE(stbi_write_jpg(good.c_str(), 64, 48, 3, px.data(), 90));
    auto bytes = read_bytes(good);
    REQUIRE(decode_image_file(good).is_ok());

    const std::string cut = tmp.file("cut.jpg");
    write_bytes(cut, std::vector<uint8_t>(bytes.begin(), bytes.begin() + bytes.size() * 2 / 3));
    auto r = decode_image_file(cut);
    check_one_line_error(r.status(), cut);
    CHECK(r.status().message().find("truncated") != std::string::npos);

    // Header cut before the frame header: not even the size is known.
    const std::string stub = tmp.file("stub.jpg");
    write_bytes(stub, std::vector<uint8_t>(bytes.begin(), bytes.begin() + 20));
    check_one_line_error(decode_image_file(stub).status(), stub);

    // 12-bit sample precision in the frame header, which stb_image (and we) do not decode.
    auto bad = bytes;
    size_t sof = 2;
    while (sof + 4 < bad.size() && !(bad[sof] == 0xFF && bad[sof + 1] == 0xC0)) sof += 2 + (bad[sof + 2] << 8 | bad[sof + 3]);
    REQUIRE(sof + 4 < bad.size());
    bad[sof + 4] = 12;
    const std::string precision = tmp.file("p12.jpg");
    write_bytes(precision, bad);
    check_one_line_error(decode_image_file(precision).status(), precision);
  }
  SECTION("truncated BMP") {
    // 24-bit, 23 pixels wide: rows of 69 bytes padded to 72, so a missing byte can hide in padding
    // only if the check ignored it.
    const int w = 23, h = 9;
    std::vector<uint8_t> px(size_t(w) * h * 3);
    for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 7 + 1);
    const std::string good = tmp.file("good.bmp");
    REQUIRE(stbi_write_bmp(good.c_str(), w, h, 3, px.data()));
    auto bytes = read_bytes(good);
    REQUIRE(bytes.size() == 54 + size_t(72) * h);
    auto ok = decode_image_file(good);
    REQUIRE(ok.is_ok());
    CHECK(ok->pixels == px);
    for (size_t cut : {size_t(1), size_t(72), bytes.size() - 60}) {
      INFO("cut " << cut << " bytes");
      const std::string p = tmp.file("cut.bmp");
      write_bytes(p, std::vector<uint8_t>(bytes.begin(), bytes.end() - static_cast<std::ptrdiff_t>(cut)));
      auto r = decode_image_file(p);
      check_one_line_error(r.status(), p);
      CHECK(r.status().message().find("truncated BMP") != std::string::npos);
      CHECK(r.status().message().find(std::to_string(cut) + " more bytes") != std::string::npos);
      check_one_line_error(read_image_info(p).status(), p);
    }
  }
  SECTION("forged huge dimensions are refused before decoding") {
    const std::string png = tmp.file("huge.png");
    write_bytes(png, make_png(20000, 17000, 8, 0, {}, 0));
    auto r = decode_image_file(png);
    check_one_line_error(r.status(), png);
    CHECK(r.status().code() == StatusCode::kOutOfRange);
    CHECK(r.status().message().find("20000x17000") != std::string::npos);
    // Past stb_image's own 1 GiB check.
    write_bytes(png, make_png(100000, 100000, 8, 2, {}, 0));
    r = decode_image_file(png);
    check_one_line_error(r.status(), png);
    CHECK(r.status().code() == StatusCode::kOutOfRange);
    CHECK(r.status().message().find("100000x100000") != std::string::npos);

    // JPEG frame header claiming 65000x60000 (stb_image would try to allocate ~11 GiB).
    std::vector<uint8_t> px(8 * 8 * 3, 128);
    const std::string good = tmp.file("small.jpg");
    REQUIRE(stbi_write_jpg(good.c_str(), 8, 8, 3, px.data(), 90));
    auto bytes = read_bytes(good);
    size_t sof = 2;
    while (sof + 9 < bytes.size() && !(bytes[sof] == 0xFF && bytes[sof + 1] == 0xC0)) {
      sof += 2 + (bytes[sof + 2] << 8 | bytes[sof + 3]);
    }
    REQUIRE(sof + 9 < bytes.size());
    bytes[sof + 5] = 0xEA;  // height 60000
    bytes[sof + 6] = 0x60;
    bytes[sof + 7] = 0xFD;  // width 65000
    bytes[sof + 8] = 0xE8;
    const std::string jpg = tmp.file("huge.jpg");
    write_bytes(jpg, bytes);
    auto j = decode_image_file(jpg);
    check_one_line_error(j.status(), jpg);
    CHECK(j.status().code() == StatusCode::kOutOfRange);
    auto info = read_image_info(jpg);
    CHECK(info.status().code() == StatusCode::kOutOfRange);

    // BMP info header claiming 40000 x -30000 (top-down).
    std::vector<uint8_t> bmp(54, 0);
    bmp[0] = 'B';
    bmp[1] = 'M';
    bmp[14] = 40;
    const int32_t bw = 40000, bh = -30000;
    std::memcpy(&bmp[18], &bw, 4);
    std::memcpy(&bmp[22], &bh, 4);
    bmp[26] = 1;
    bmp[28] = 24;
    const std::string big_bmp = tmp.file("huge.bmp");
    write_bytes(big_bmp, bmp);
    auto b = decode_image_file(big_bmp);
    check_one_line_error(b.status(), big_bmp);
    CHECK(b.status().message().find("40000x30000") != std::string::npos);
  }
}

TEST_CASE("random corruption of real files never crashes the decoder") {
  // Flipped bytes in a real ImageNet JPEG and a real Fashion-MNIST PNG: each result must be an
  // error or a well-formed image of the header's size.
  std::vector<std::string> sources = {
      test::shared_path("imagenet/val/n01443537/n01443537_goldfish.JPEG"),
      test::shared_path("data/fashion-mnist/val/0_t-shirt_top/00019.png")};
  std::mt19937 rng(1234);
  int errors = 0, decoded = 0;
  for (const auto& src : sources) {
    const auto original = read_bytes(src);
    for (int trial = 0; trial < 60; ++trial) {
      auto bytes = original;
      const int flips = 1 + int(rng() % 8);
      for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = uint8_t(rng());
      if (trial % 3 == 0) bytes.resize(rng() % bytes.size());
      auto r = decode_image_memory(bytes.data(), bytes.size(), "fuzz");
      if (r.is_ok()) {
        ++decoded;
        CHECK(r->pixels.size() == size_t(r->height) * r->width * r->channels);
        CHECK(r->width <= kMaxImageDimension);
      } else {
        ++errors;
        CHECK(r.status().message().find("fuzz") != std::string::npos);
      }
    }
  }
  CHECK(errors > 0);
}
