// Preprocessing against the golden inputs the models were evaluated with, resize kernels against
// plain references, crop geometry, and sidecar parsing.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/data/image.h"
#include "engine/data/image_folder.h"
#include "engine/data/preprocess.h"
#include "engine/data/resize.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace qe;

namespace {

// Test image k of Fashion-MNIST lives in val/<class>/<k>.png for one of the class folders.
std::string fmnist_test_image(int index) {
  const fs::path val = test::shared_path("data/fashion-mnist/val");
  char name[16];
  std::snprintf(name, sizeof(name), "%05d.png", index);
  for (const auto& dir : fs::directory_iterator(val)) {
    fs::path p = dir.path() / name;
    if (fs::exists(p)) return p.string();
  }
  FAIL("no Fashion-MNIST test image " << name << " under " << val);
  return "";
}

Preprocessing sidecar(const std::string& rel_model) {
  auto p = load_sidecar_preprocessing(test::shared_path(rel_model));
  REQUIRE(p.is_ok());
  REQUIRE(!p->source.empty());
  return *p;
}

// Preprocesses `paths` into one [N, C, H, W] buffer.
std::vector<float> preprocess_all(const std::vector<std::string>& paths, const Preprocessing& p, TensorDims* dims) {
  std::vector<float> out;
  for (const auto& path : paths) {
    auto img = decode_image_file(path);
    REQUIRE(img.is_ok());
    auto d = preprocessed_dims(p, img->height, img->width);
    REQUIRE(d.is_ok());
    *dims = *d;
    size_t at = out.size();
    out.resize(at + d->numel());
    Status st = preprocess(*img, p, out.data() + at);
    REQUIRE(st.is_ok());
  }
  return out;
}

Image random_image(int h, int w, int c, uint32_t seed) {
  Image img(h, w, c);
  uint32_t s = seed;
  for (auto& v : img.pixels) {
    s = s * 1664525u + 1013904223u;
    v = static_cast<uint8_t>(s >> 24);
  }
  return img;
}

// Antialiased triangle-filter resampling evaluated directly in double for one output pixel and
// channel: the exact value PIL's fixed-point two-pass version approximates.
double reference_resample(const Image& in, int out_h, int out_w, int oy, int ox, int c) {
  auto weights = [](int in_size, int out_size, int o, std::vector<std::pair<int, double>>* w) {
    double scale = double(in_size) / out_size;
    double fs = std::max(1.0, scale);
    double center = (o + 0.5) * scale;
    double total = 0;
    for (int i = 0; i < in_size; ++i) {
      double d = std::fabs((i + 0.5 - center) / fs);
      if (d < 1.0) {
        w->push_back({i, 1.0 - d});
        total += 1.0 - d;
      }
    }
    for (auto& e : *w) e.second /= total;
  };
  std::vector<std::pair<int, double>> wy, wx;
  weights(in.height, out_h, oy, &wy);
  weights(in.width, out_w, ox, &wx);
  double acc = 0;
  for (auto [y, a] : wy)
    for (auto [x, b] : wx) acc += a * b * in.at(y, x, c);
  return acc;
}

}  // namespace

TEST_CASE("Fashion-MNIST 28x28 golden input (tiny CNN sidecar)") {
  Preprocessing p = sidecar("models/fmnist_tiny_cnn.onnx");
  CHECK(p.channels == 1);
  CHECK(p.resize_shorter_side == 0);
  CHECK(p.resize_height == 0);
  CHECK(!fixed_output_dims(p).has_value());
  std::vector<std::string> paths;
  for (int i = 0; i < 64; ++i) paths.push_back(fmnist_test_image(i));
  TensorDims dims;
  std::vector<float> got = preprocess_all(paths, p, &dims);
  CHECK(dims == TensorDims{1, 28, 28});
  std::vector<float> golden = test::read_f32_file(test::shared_path("models/golden/fmnist28_test_first64.input.f32"));
  REQUIRE(got.size() == golden.size());
  auto diff = test::compare(got.data(), golden.data(), static_cast<int64_t>(got.size()));
  WARN("Fashion-MNIST 28x28 golden: max abs diff " << diff.max_abs);
  CHECK(diff.max_abs <= 1e-6);
}

TEST_CASE("Fashion-MNIST 64x64 golden input (float resize sidecars)") {
  std::vector<std::string> paths;
  for (int i = 0; i < 64; ++i) paths.push_back(fmnist_test_image(i));
  std::vector<float> golden = test::read_f32_file(test::shared_path("models/golden/fmnist64_test_first64.input.f32"));
  for (const char* model : {"models/resnet18_fmnist64.onnx", "models/mobilenet_v2_fmnist64.onnx",
                            "models/mobilenet_v3_small_fmnist64.onnx", "models/vit_tiny_fmnist64.onnx"}) {
    INFO(model);
    Preprocessing p = sidecar(model);
    CHECK(p.resize_in_float);
    CHECK(!p.antialias);
    CHECK(p.labels.size() == 10);
    TensorDims dims;
    std::vector<float> got = preprocess_all(paths, p, &dims);
    CHECK(dims == TensorDims{3, 64, 64});
    REQUIRE(got.size() == golden.size());
    auto diff = test::compare(got.data(), golden.data(), static_cast<int64_t>(got.size()));
    WARN("Fashion-MNIST 64x64 golden (" << model << "): max abs diff " << diff.max_abs);
    CHECK(diff.max_abs <= 1e-5);
  }
}

TEST_CASE("Fashion-MNIST 64x64: resizing in 8 bit instead of float differs from the golden input") {
  // Guards the float path: if it silently fell back to PIL's 8-bit resize the golden test above
  // would be the only signal, so check the two are really different computations.
  Preprocessing p = sidecar("models/resnet18_fmnist64.onnx");
  p.resize_in_float = false;
  TensorDims dims;
  std::vector<float> got = preprocess_all({fmnist_test_image(0)}, p, &dims);
  std::vector<float> golden = test::read_f32_file(test::shared_path("models/golden/fmnist64_test_first64.input.f32"));
  auto diff = test::compare(got.data(), golden.data(), static_cast<int64_t>(got.size()));
  CHECK(diff.max_abs > 1e-3);
  CHECK(diff.max_abs < 0.05);  // a rounding-level difference (1/255/std ≈ 0.017 per level)
}

TEST_CASE("ImageNet golden input: stb_image + PIL-style resize against PIL") {
  auto ds = scan_image_folder(test::shared_path("imagenet/val"));
  REQUIRE(ds.is_ok());
  REQUIRE(ds->samples.size() >= 8);
  std::vector<std::string> paths;
  for (int i = 0; i < 8; ++i) paths.push_back(ds->samples[i].path);
  Preprocessing p = sidecar("imagenet/models/mobilenet_v2_tv_tflm.onnx");
  CHECK(p.resize_shorter_side == 256);
  CHECK(p.antialias);
  CHECK(!p.resize_in_float);
  CHECK(p.crop_height == 224);
  TensorDims dims;
  std::vector<float> got = preprocess_all(paths, p, &dims);
  CHECK(dims == TensorDims{3, 224, 224});
  std::vector<float> golden = test::read_f32_file(test::shared_path("imagenet/golden/val_first8.input.f32"));
  REQUIRE(got.size() == golden.size());
  auto diff = test::compare(got.data(), golden.data(), static_cast<int64_t>(got.size()));
  // In 8-bit levels: both sides are (level / 255 - mean) / std, so diff * std * 255 is an integer
  // up to float rounding.
  const float stds[3] = {0.229f, 0.224f, 0.225f};
  const int64_t plane = 224 * 224;
  int64_t exact = 0, one = 0, worst = 0;
  double sum_abs = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(double(got[i]) - golden[i]);
    sum_abs += d;
    const int64_t levels = std::llround(d * stds[(i / plane) % 3] * 255);
    exact += levels == 0;
    one += levels == 1;
    worst = std::max(worst, levels);
  }
  const double n = double(got.size());
  WARN("ImageNet golden (8 images): max abs diff " << diff.max_abs << ", mean abs diff " << sum_abs / n << "; "
                                                   << 100 * exact / n << "% exact, " << 100 * one / n
                                                   << "% one 8-bit level off, worst " << worst << " levels");
  // JPEG decoders differ (stb_image vs libjpeg-turbo: IDCT and chroma upsampling rounding), so
  // the bounds are measured ones: 94.6% exact, 99.8% within one level, worst 3 levels, mean abs
  // diff 0.00098 at the time of writing.
  CHECK(double(exact) / n > 0.93);
  CHECK(double(exact + one) / n > 0.995);
  CHECK(worst <= 4);
  CHECK(sum_abs / n < 0.002);
}

TEST_CASE("8-bit antialiased resize stays within one level of the exact filter") {
  for (auto [h, w, oh, ow] : std::vector<std::array<int, 4>>{
           {37, 53, 11, 17}, {320, 427, 256, 341}, {28, 28, 64, 64}, {9, 31, 9, 7}, {17, 5, 40, 3}, {1, 13, 1, 5}}) {
    for (int c : {1, 3}) {
      Image in = random_image(h, w, c, 7u * h + w + c);
      Image out = resize_bilinear_u8(in, oh, ow, true);
      REQUIRE(out.height == oh);
      REQUIRE(out.width == ow);
      REQUIRE(out.channels == c);
      int worst = 0;
      for (int y = 0; y < oh; ++y)
        for (int x = 0; x < ow; ++x)
          for (int ch = 0; ch < c; ++ch) {
            double ref = reference_resample(in, oh, ow, y, x, ch);
            // Two rounding passes: each may move the value by half a level.
            worst = std::max(worst, int(std::ceil(std::fabs(out.at(y, x, ch) - ref) - 1e-9)));
          }
      INFO(h << "x" << w << " -> " << oh << "x" << ow << " c=" << c);
      CHECK(worst <= 1);
    }
  }
}

TEST_CASE("8-bit resize keeps a constant image constant and copies at the same size") {
  Image in(23, 41, 3);
  std::fill(in.pixels.begin(), in.pixels.end(), 200);
  for (bool aa : {true, false}) {
    Image out = resize_bilinear_u8(in, 10, 7, aa);
    for (uint8_t v : out.pixels) CHECK(v == 200);
  }
  Image r = random_image(5, 6, 3, 1);
  CHECK(resize_bilinear_u8(r, 5, 6, true).pixels == r.pixels);
}

TEST_CASE("float bilinear resize matches the half-pixel formula") {
  // Plain per-pixel formula from the model README: src = (x + 0.5) * in/out - 0.5 clamped at 0,
  // lerp between floor(src) and the next pixel (the last pixel repeats at the border).
  auto ref1d = [](int in, int out, int o, int* i0, int* i1, double* l) {
    double src = (o + 0.5) * double(in) / out - 0.5;
    if (src < 0) src = 0;
    *i0 = std::min(int(src), in - 1);
    *i1 = std::min(*i0 + 1, in - 1);
    *l = std::min(1.0, src - *i0);
  };
  for (auto [h, w, oh, ow] :
       std::vector<std::array<int, 4>>{{28, 28, 64, 64}, {7, 13, 19, 5}, {1, 9, 4, 9}, {30, 20, 7, 11}}) {
    const int c = 2;
    std::vector<float> in(size_t(c) * h * w), out(size_t(c) * oh * ow);
    for (size_t i = 0; i < in.size(); ++i) in[i] = float(std::sin(0.37 * i));
    resize_bilinear_f32(in.data(), c, h, w, out.data(), oh, ow, false);
    double worst = 0;
    for (int ch = 0; ch < c; ++ch)
      for (int y = 0; y < oh; ++y)
        for (int x = 0; x < ow; ++x) {
          int y0, y1, x0, x1;
          double ly, lx;
          ref1d(h, oh, y, &y0, &y1, &ly);
          ref1d(w, ow, x, &x0, &x1, &lx);
          auto at = [&](int yy, int xx) { return double(in[(size_t(ch) * h + yy) * w + xx]); };
          double ref = (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) + ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1));
          worst = std::max(worst, std::fabs(ref - out[(size_t(ch) * oh + y) * ow + x]));
        }
    INFO(h << "x" << w << " -> " << oh << "x" << ow);
    CHECK(worst < 5e-6);
  }
}

TEST_CASE("float antialiased downscale matches the exact filter") {
  const int h = 40, w = 33, oh = 13, ow = 10;
  Image img = random_image(h, w, 1, 3);
  std::vector<float> in(img.pixels.begin(), img.pixels.end()), out(size_t(oh) * ow);
  resize_bilinear_f32(in.data(), 1, h, w, out.data(), oh, ow, true);
  double worst = 0;
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) worst = std::max(worst, std::fabs(out[y * ow + x] - reference_resample(img, oh, ow, y, x, 0)));
  CHECK(worst < 1e-3);  // values are 0..255
}

TEST_CASE("shorter-side resize and centre crop follow torchvision") {
  int oh = 0, ow = 0;
  shorter_side_size(263, 376, 256, false, &oh, &ow);
  CHECK(oh == 256);
  CHECK(ow == 365);  // torchvision: int(256 * 376 / 263) = int(365.99)
  shorter_side_size(263, 376, 256, true, &oh, &ow);
  CHECK(ow == 366);  // the golden inputs: round(365.99)
  shorter_side_size(427, 320, 256, true, &oh, &ow);
  CHECK(ow == 256);
  CHECK(oh == 342);  // 341.6
  shorter_side_size(427, 320, 256, false, &oh, &ow);
  CHECK(oh == 341);
  // Halves round to even, as Python's round(): 7.5 -> 8, 2.5 -> 2.
  shorter_side_size(2, 5, 3, true, &oh, &ow);
  CHECK(ow == 8);
  shorter_side_size(5, 2, 1, true, &oh, &ow);
  CHECK(oh == 2);
  CHECK(ow == 1);

  // A gray ramp image makes the crop offset visible in the output values.
  Preprocessing p;
  p.channels = 1;
  p.scale = 1.0;
  p.crop_height = 2;
  p.crop_width = 2;
  Image img(5, 7, 1);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 7; ++x) img.at(y, x, 0) = uint8_t(10 * y + x);
  float out[4];
  REQUIRE(preprocess(img, p, out).is_ok());
  // top = round(1.5) = 2, left = round(2.5) = 2 (Python rounds halves to even).
  CHECK(out[0] == 22.f);
  CHECK(out[3] == 33.f);

  // Crop larger than the image pads with zeros: left pad (4-2)//2 = 1, top pad (3-1)//2 = 1.
  Image small(1, 2, 1);
  small.pixels = {5, 6};
  p.crop_height = 3;
  p.crop_width = 4;
  float big[12];
  REQUIRE(preprocess(small, p, big).is_ok());
  const float expect[12] = {0, 0, 0, 0, 0, 5, 6, 0, 0, 0, 0, 0};
  for (int i = 0; i < 12; ++i) CHECK(big[i] == expect[i]);
}

TEST_CASE("channel conversion") {
  Image gray(2, 2, 1);
  gray.pixels = {0, 51, 102, 255};
  Preprocessing p;
  p.channels = 3;
  p.mean = {0.5f, 0.f, 0.f};
  p.std = {0.5f, 1.f, 2.f};
  std::vector<float> out(12);
  REQUIRE(preprocess(gray, p, out.data()).is_ok());
  CHECK(out[0] == Approx(-1.0));
  CHECK(out[4 + 1] == Approx(0.2));
  CHECK(out[8 + 3] == Approx(0.5));

  Image rgb(1, 1, 3);
  rgb.pixels = {255, 128, 0};
  Preprocessing g;
  g.channels = 1;
  g.scale = 1.0;
  float v = 0;
  Status refused = preprocess(rgb, g, &v);
  CHECK(refused.code() == StatusCode::kInvalidArgument);
  CHECK(refused.message().find("RGB") != std::string::npos);
  g.rgb_to_gray = RgbToGray::kLuminance;
  REQUIRE(preprocess(rgb, g, &v).is_ok());
  CHECK(v == 151.f);  // PIL: (255*19595 + 128*38470 + 0x8000) >> 16
}

TEST_CASE("preprocessing settings are validated") {
  Preprocessing p = Preprocessing::imagenet();
  CHECK(p.validate().is_ok());
  p.resize_height = 10;
  CHECK(!p.validate().is_ok());
  p = Preprocessing::imagenet();
  p.std = {1.f, 0.f, 1.f};
  CHECK(!p.validate().is_ok());
  p = Preprocessing::imagenet();
  p.mean = {0.f, 0.f};
  CHECK(!p.validate().is_ok());
  p = Preprocessing::imagenet();
  p.resize_shorter_side = 256;
  auto d = preprocessed_dims(p, 1, 16000);  // Resize(256) of a 1-pixel strip: 256 x 4 million
  CHECK(d.status().code() == StatusCode::kOutOfRange);
}

TEST_CASE("sidecars: every shared sidecar parses; ImageNet ones match the defaults") {
  for (const char* m : {"imagenet/models/mobilenet_v1_075_keras.onnx", "imagenet/models/mobilenet_v2_tfslim_qat.onnx",
                        "imagenet/models/mobilenet_v2_tv_tflm.onnx", "imagenet/models/squeezenet1_1_caffe.onnx"}) {
    INFO(m);
    Preprocessing p = sidecar(m);
    Preprocessing d = Preprocessing::imagenet();
    CHECK(p.channels == d.channels);
    CHECK(p.resize_shorter_side == d.resize_shorter_side);
    CHECK(p.antialias == d.antialias);
    CHECK(p.resize_in_float == d.resize_in_float);
    CHECK(p.crop_height == d.crop_height);
    CHECK(p.crop_width == d.crop_width);
    CHECK(p.scale == Approx(d.scale));
    CHECK(p.mean == d.mean);
    CHECK(p.std == d.std);
    CHECK(p.labels.empty());
  }
  Preprocessing tiny = sidecar("models/fmnist_tiny_cnn.onnx");
  REQUIRE(tiny.labels.size() == 10);
  CHECK(tiny.labels[9] == "9_ankle_boot");
  CHECK(tiny.mean == std::vector<float>{0.286f});
}

TEST_CASE("sidecars: missing gives defaults, malformed names the file and key") {
  const fs::path dir = fs::temp_directory_path() / ("qe_test_sidecar_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string model = (dir / "m.onnx").string();
  auto missing = load_sidecar_preprocessing(model);
  REQUIRE(missing.is_ok());
  CHECK(missing->source.empty());
  CHECK(missing->resize_shorter_side == 256);

  auto write = [&](const std::string& text) { std::ofstream(dir / "m.json") << text; };
  struct Case {
    const char* json;
    const char* key;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"preprocessing": {"mean": [0.1, "x", 0.3]}})", "preprocessing.mean[1]"},
           {R"({"preprocessing": {"resize": [64, -1]}})", "preprocessing.resize[1]"},
           {R"({"preprocessing": {"interpolation": "bicubic"}})", "preprocessing.interpolation"},
           {R"({"preprocessing": {"channels": 4}})", "preprocessing.channels"},
           {R"({"preprocessing": {"center_crop": "224"}})", "preprocessing.center_crop"},
           {R"({"preprocessing": {"align_corners": true}})", "preprocessing.align_corners"},
           {R"({"preprocessing": {"resize": 256, "resize_shorter_side": 256}})", "preprocessing.resize"},
           {R"({"preprocessing": {}, "labels": [1, 2]})", "labels[0]"},
           {R"({"labels": []})", "preprocessing"},
           {R"({"preprocessing": {"mean": [0.1, 0.2]}})", "mean"},
           {R"({"preprocessing": )", "not valid JSON"},
       }) {
    write(c.json);
    auto r = load_sidecar_preprocessing(model);
    INFO(c.json);
    REQUIRE(!r.is_ok());
    INFO(r.status().message());
    CHECK(r.status().message().find((dir / "m.json").string()) != std::string::npos);
    CHECK(r.status().message().find(c.key) != std::string::npos);
  }
  write(R"({"preprocessing": {"resize": [32, 48], "resize_in_float": true, "antialias": true, "mean": 0.5, "std": 0.25,
            "channels": 1, "center_crop": 30}, "labels": ["a", "b"]})");
  auto ok = load_sidecar_preprocessing(model);
  REQUIRE(ok.is_ok());
  CHECK(ok->resize_height == 32);
  CHECK(ok->resize_width == 48);
  CHECK(ok->resize_in_float);
  CHECK(ok->antialias);
  CHECK(ok->crop_height == 30);
  CHECK(ok->crop_width == 30);
  CHECK(ok->labels == std::vector<std::string>{"a", "b"});
  fs::remove_all(dir);
}
