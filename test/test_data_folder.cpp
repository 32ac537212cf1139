// Image folder scanning (root/<class>/<image>, labels.txt) and the background batch loader.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/data/batch_loader.h"
#include "engine/data/image.h"
#include "engine/data/image_folder.h"
#include "engine/data/preprocess.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace qe;

namespace {

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() / ("qe_test_folder_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string str() const { return path.string(); }
};

void touch(const fs::path& p, const std::string& text = "x") {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string fmnist_png(const std::string& cls, const std::string& name) {
  return test::shared_path("data/fashion-mnist/val/" + cls + "/" + name);
}

void check_error_names(const Status& st, const std::string& what) {
  INFO(st.message());
  CHECK(!st.is_ok());
  CHECK(st.message().find(what) != std::string::npos);
}

Preprocessing tiny_preprocessing() {
  auto p = load_sidecar_preprocessing(test::shared_path("models/fmnist_tiny_cnn.onnx"));
  REQUIRE(p.is_ok());
  return *p;
}

}  // namespace

TEST_CASE("scan: shared ImageNet val uses labels.txt line numbers") {
  auto ds = scan_image_folder(test::shared_path("imagenet/val"));
  REQUIRE(ds.is_ok());
  CHECK(ds->classes.size() == 1000);
  CHECK(ds->samples.size() == 500);
  CHECK(ds->warnings.empty());
  // val holds the odd class indices: its first folder n01443537 is line 1 of labels.txt.
  CHECK(ds->classes[1] == "n01443537");
  CHECK(ds->samples[0].label == 1);
  for (size_t i = 0; i < ds->samples.size(); ++i) {
    const Sample& s = ds->samples[i];
    CHECK(s.label % 2 == 1);
    CHECK(fs::path(s.path).parent_path().filename() == ds->classes[s.label]);
    if (i) CHECK(ds->samples[i - 1].path < s.path);
  }
}

TEST_CASE("scan: Fashion-MNIST val") {
  auto ds = scan_image_folder(test::shared_path("data/fashion-mnist/val"));
  REQUIRE(ds.is_ok());
  CHECK(ds->classes.size() == 10);
  CHECK(ds->classes[0] == "0_t-shirt_top");
  CHECK(ds->samples.size() == 10000);
}

TEST_CASE("scan: sorted folders without labels.txt, non-images skipped with a warning") {
  TempDir tmp("plain");
  touch(tmp.path / "zebra" / "b.png");
  touch(tmp.path / "zebra" / "a.JPEG");
  touch(tmp.path / "ant" / "x.bmp");
  touch(tmp.path / "ant" / "readme.txt");
  touch(tmp.path / "ant" / ".DS_Store");
  fs::create_directories(tmp.path / "ant" / "nested");
  touch(tmp.path / "notes.md");
  auto ds = scan_image_folder(tmp.str());
  REQUIRE(ds.is_ok());
  CHECK(ds->classes == std::vector<std::string>{"ant", "zebra"});
  REQUIRE(ds->samples.size() == 3);
  CHECK(ds->samples[0].path == (tmp.path / "ant" / "x.bmp").string());
  CHECK(ds->samples[0].label == 0);
  CHECK(ds->samples[1].path == (tmp.path / "zebra" / "a.JPEG").string());
  CHECK(ds->samples[2].label == 1);
  REQUIRE(ds->warnings.size() == 2);
  CHECK(ds->warnings[0].find("nested") != std::string::npos);
  CHECK(ds->warnings[1].find("readme.txt") != std::string::npos);
}

TEST_CASE("scan: labels.txt may list classes without a folder") {
  TempDir tmp("labels");
  touch(tmp.path / "labels.txt", "cat\r\ndog\nemu\n\n");
  touch(tmp.path / "emu" / "1.png");
  touch(tmp.path / "cat" / "2.png");
  auto ds = scan_image_folder(tmp.str());
  REQUIRE(ds.is_ok());
  CHECK(ds->classes == std::vector<std::string>{"cat", "dog", "emu"});
  REQUIRE(ds->samples.size() == 2);
  CHECK(ds->samples[0].label == 0);
  CHECK(ds->samples[1].label == 2);
}

TEST_CASE("scan: errors name the folder") {
  TempDir tmp("errors");
  SECTION("missing root") {
    auto r = scan_image_folder((tmp.path / "missing").string());
    check_error_names(r.status(), "missing");
    CHECK(r.status().code() == StatusCode::kNotFound);
  }
  SECTION("root is a file") {
    touch(tmp.path / "file");
    check_error_names(scan_image_folder((tmp.path / "file").string()).status(), "file");
  }
  SECTION("empty root") { check_error_names(scan_image_folder(tmp.str()).status(), tmp.str()); }
  SECTION("empty class folder") {
    touch(tmp.path / "a" / "1.png");
    fs::create_directories(tmp.path / "b");
    check_error_names(scan_image_folder(tmp.str()).status(), (tmp.path / "b").string());
  }
  SECTION("class folder without images") {
    touch(tmp.path / "a" / "list.csv");
    check_error_names(scan_image_folder(tmp.str()).status(), (tmp.path / "a").string());
  }
  SECTION("folder missing from labels.txt") {
    touch(tmp.path / "labels.txt", "a\nb\n");
    touch(tmp.path / "a" / "1.png");
    touch(tmp.path / "c" / "1.png");
    auto r = scan_image_folder(tmp.str());
    check_error_names(r.status(), (tmp.path / "c").string());
    check_error_names(r.status(), "labels.txt");
  }
  SECTION("malformed labels.txt") {
    touch(tmp.path / "a" / "1.png");
    touch(tmp.path / "labels.txt", "a\n\nb\n");
    check_error_names(scan_image_folder(tmp.str()).status(), "line 2 is empty");
    touch(tmp.path / "labels.txt", "a\nb\na\n");
    check_error_names(scan_image_folder(tmp.str()).status(), "repeats line 1");
  }
}

TEST_CASE("loader: batches equal direct preprocessing, in order, with 0 or 2 workers") {
  auto ds = scan_image_folder(test::shared_path("data/fashion-mnist/val"));
  REQUIRE(ds.is_ok());
  std::vector<Sample> samples(ds->samples.begin(), ds->samples.begin() + 100);
  Preprocessing p = tiny_preprocessing();
  for (int workers : {0, 2}) {
    INFO("workers " << workers);
    BatchLoaderOptions opt;
    opt.batch_size = 32;
    opt.num_workers = workers;
    opt.prefetch_batches = 1;
    auto loader = BatchLoader::create(samples, p, opt);
    REQUIRE(loader.is_ok());
    CHECK((*loader)->sample_dims() == TensorDims{1, 28, 28});
    int64_t seen = 0;
    std::vector<int64_t> sizes;
    while (auto batch = (*loader)->next()) {
      sizes.push_back(batch->size());
      REQUIRE(batch->input.shape() == Shape{batch->size(), 1, 28, 28});
      for (int64_t b = 0; b < batch->size(); ++b, ++seen) {
        CHECK(batch->indices[b] == seen);
        CHECK(batch->paths[b] == samples[seen].path);
        CHECK(batch->labels[b] == samples[seen].label);
        auto img = decode_image_file(samples[seen].path);
        REQUIRE(img.is_ok());
        std::vector<float> ref(28 * 28);
        REQUIRE(preprocess(*img, p, ref.data()).is_ok());
        CHECK(std::equal(ref.begin(), ref.end(), batch->input.data<float>() + b * 28 * 28));
      }
    }
    CHECK(sizes == std::vector<int64_t>{32, 32, 32, 4});
    CHECK(!(*loader)->next().has_value());
    CHECK((*loader)->num_skipped() == 0);
  }
}

TEST_CASE("loader: unreadable images are skipped with a warning, batches stay full") {
  TempDir tmp("loader");
  const fs::path cls = tmp.path / "0_t-shirt_top";
  fs::create_directories(cls);
  const char* good[] = {"00019.png", "00027.png", "00035.png", "00059.png", "00071.png", "00085.png"};
  for (const char* g : good) fs::copy_file(fmnist_png("0_t-shirt_top", g), cls / g);
  touch(cls / "00020.png", "not a png at all");  // sorts second
  touch(cls / "00099.png", "");                  // sorts last: the final batch comes out short
  {
    // A valid PNG of another size (the first image fixes 28x28).
    auto b = std::ifstream(fmnist_png("0_t-shirt_top", "00019.png"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(b)), {});
    bytes[19] = 30;  // IHDR width 28 -> 30; stb_image ignores the CRC, the pixel data no longer fits
    std::ofstream(cls / "00040.png", std::ios::binary) << bytes;
  }
  auto ds = scan_image_folder(tmp.str());
  REQUIRE(ds.is_ok());
  REQUIRE(ds->samples.size() == 9);

  BatchLoaderOptions opt;
  opt.batch_size = 4;
  opt.num_workers = 2;
  opt.prefetch_batches = 1;
  auto loader = BatchLoader::create(ds->samples, tiny_preprocessing(), opt);
  REQUIRE(loader.is_ok());
  std::vector<int64_t> sizes;
  std::vector<std::string> paths;
  while (auto batch = (*loader)->next()) {
    sizes.push_back(batch->size());
    paths.insert(paths.end(), batch->paths.begin(), batch->paths.end());
  }
  CHECK(sizes == std::vector<int64_t>{4, 2});
  CHECK((*loader)->num_skipped() == 3);
  auto warnings = (*loader)->warnings();
  REQUIRE(warnings.size() == 3);
  CHECK(warnings[0].find("00020.png") != std::string::npos);
  CHECK(warnings[1].find("00040.png") != std::string::npos);
  CHECK(warnings[2].find("00099.png") != std::string::npos);
  for (const auto& p : paths) CHECK(p.find("000") != std::string::npos);
  CHECK(paths.size() == 6);
}

TEST_CASE("loader: fixed-size ImageNet batches, limit, and shutdown with batches pending") {
  auto ds = scan_image_folder(test::shared_path("imagenet/val"));
  REQUIRE(ds.is_ok());
  BatchLoaderOptions opt;
  opt.batch_size = 3;
  opt.num_workers = 2;
  opt.limit = 7;
  auto loader = BatchLoader::create(ds->samples, Preprocessing::imagenet(), opt);
  REQUIRE(loader.is_ok());
  CHECK((*loader)->num_samples() == 7);
  auto first = (*loader)->next();
  REQUIRE(first.has_value());
  CHECK(first->input.shape() == Shape{3, 3, 224, 224});
  // The golden input holds the same first images.
  std::vector<float> golden = test::read_f32_file(test::shared_path("imagenet/golden/val_first8.input.f32"));
  auto diff = test::compare(first->input.data<float>(), golden.data(), first->input.numel());
  CHECK(diff.max_abs < 0.06);
  // Destroying the loader here must stop workers that are blocked on a full queue.
  loader->reset();

  auto again = BatchLoader::create(ds->samples, Preprocessing::imagenet(), opt);
  REQUIRE(again.is_ok());
  int64_t total = 0;
  while (auto b = (*again)->next()) total += b->size();
  CHECK(total == 7);
}

TEST_CASE("loader: bad options and empty or all-unreadable sample lists") {
  Preprocessing p = tiny_preprocessing();
  BatchLoaderOptions opt;
  opt.batch_size = 0;
  CHECK(!BatchLoader::create({}, p, opt).is_ok());
  opt = {};
  opt.height = 28;
  CHECK(!BatchLoader::create({}, p, opt).is_ok());  // width missing

  auto empty = BatchLoader::create({}, p, {});
  REQUIRE(empty.is_ok());
  CHECK(!(*empty)->next().has_value());

  TempDir tmp("unreadable");
  touch(tmp.path / "a.png", "junk");
  auto none = BatchLoader::create({{(tmp.path / "a.png").string(), 0}}, p, {});
  REQUIRE(!none.is_ok());
  CHECK(none.status().message().find("a.png") != std::string::npos);

  // With an explicit size nothing is probed up front; the sample is skipped at run time.
  opt = {};
  opt.height = opt.width = 28;
  auto skipped = BatchLoader::create({{(tmp.path / "a.png").string(), 0}}, p, opt);
  REQUIRE(skipped.is_ok());
  CHECK(!(*skipped)->next().has_value());
  CHECK((*skipped)->num_skipped() == 1);
}
