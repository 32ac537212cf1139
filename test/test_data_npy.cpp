// .npy read/write: round trips over dtypes and ranks, byte-exact headers as numpy writes them,
// files numpy may produce (v2 headers, Python 2 longs), and malformed files.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/data/npy.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using namespace qe;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("qe_test_npy_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A file as numpy lays it out: magic, version, little-endian header length, header, data.
std::string npy_file(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += char(major);
  out += char(0);
  const size_t n = header.size();
  out += char(n & 0xFF);
  out += char((n >> 8) & 0xFF);
  if (major != 1) {
    out += char((n >> 16) & 0xFF);
    out += char((n >> 24) & 0xFF);
  }
  return out + header + data;
}

void check_error(const Result<Tensor>& r, const std::string& path, const std::string& what) {
  INFO(r.status().message());
  REQUIRE(!r.is_ok());
  CHECK(r.status().message().find(path) != std::string::npos);
  CHECK(r.status().message().find(what) != std::string::npos);
}

}  // namespace

TEST_CASE("npy round trip over dtypes and ranks") {
  TempDir tmp;
  const std::vector<Shape> shapes = {Shape{}, Shape{0}, Shape{5}, Shape{2, 3}, Shape{2, 1, 3, 4}};
  const std::vector<DType> dtypes = {DType::kF32, DType::kF64, DType::kI64, DType::kI32, DType::kU8,
                                     DType::kI8,  DType::kBool, DType::kF16, DType::kI16, DType::kU16};
  for (DType dt : dtypes) {
    for (const Shape& shape : shapes) {
      INFO(dtype_name(dt) << " " << shape.to_string());
      Tensor t(dt, shape);
      auto* bytes = static_cast<uint8_t*>(t.raw());
      for (size_t i = 0; i < t.bytes(); ++i) bytes[i] = uint8_t(dt == DType::kBool ? (i % 3 == 0) : i * 37 + 11);
      const std::string path = tmp.file("t.npy");
      REQUIRE(write_npy(path, t).is_ok());
      const std::string file = read_all(path);
      CHECK(file.size() % 64 == t.bytes() % 64);  // header padded to 64 bytes
      auto back = read_npy(path);
      REQUIRE(back.is_ok());
      CHECK(back->dtype() == dt);
      CHECK(back->shape() == shape);
      CHECK(std::memcmp(back->raw(), t.raw(), t.bytes()) == 0);
    }
  }
  CHECK(fs::directory_iterator(tmp.path) != fs::directory_iterator());
  for (const auto& e : fs::directory_iterator(tmp.path)) CHECK(e.path().filename() == "t.npy");  // no temp files left
}

TEST_CASE("npy header is byte-identical to numpy's") {
  TempDir tmp;
  Tensor t = Tensor::from_vector<float>(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  REQUIRE(write_npy(tmp.file("a.npy"), t).is_ok());
  std::string data(reinterpret_cast<const char*>(t.raw()), t.bytes());
  // np.save(np.arange(1, 7, dtype='<f4').reshape(2, 3)) writes exactly this.
  CHECK(read_all(tmp.file("a.npy")) == npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data));

  Tensor v = Tensor::from_vector<uint8_t>(Shape{4}, {1, 2, 3, 4});
  REQUIRE(write_npy(tmp.file("b.npy"), v).is_ok());
  CHECK(read_all(tmp.file("b.npy")) ==
        npy_file("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", std::string("\1\2\3\4", 4)));
}

TEST_CASE("npy reads version 2 headers, double quotes and Python 2 longs") {
  TempDir tmp;
  const float vals[3] = {1.5f, -2.f, 7.25f};
  const std::string data(reinterpret_cast<const char*>(vals), sizeof(vals));
  write_all(tmp.file("v2.npy"), npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", data, 2));
  auto a = read_npy(tmp.file("v2.npy"));
  REQUIRE(a.is_ok());
  CHECK(a->shape() == Shape{3});
  CHECK(a->data<float>()[2] == 7.25f);

  write_all(tmp.file("py2.npy"), npy_file("{\"shape\": (1L, 3L), \"descr\": \"<f4\", \"fortran_order\": False}", data));
  auto b = read_npy(tmp.file("py2.npy"));
  REQUIRE(b.is_ok());
  CHECK(b->shape() == Shape{1, 3});
}

TEST_CASE("npy errors name the file") {
  TempDir tmp;
  const std::string data(24, '\0');
  struct Case {
    std::string bytes;
    const char* what;
  };
  const std::vector<Case> cases = {
      {npy_file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", data), "Fortran"},
      {npy_file("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", data), "little-endian"},
      {npy_file("{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", data), "'<c8'"},
      {npy_file("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", data), "bad header"},
      {npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", data), "truncated"},
      {npy_file("{'descr': '<f4', 'fortran_order': False}", data), "'shape'"},
      {npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", data), "bad header"},
      {npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", data), "too large"},
      {"not an npy file at all", "magic"},
      {std::string("\x93NUMPY\x01\x00\xff\x00{'descr'", 18), "truncated"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string path = tmp.file("bad" + std::to_string(i) + ".npy");
    write_all(path, cases[i].bytes);
    check_error(read_npy(path), path, cases[i].what);
  }
  const std::string missing = tmp.file("missing.npy");
  auto r = read_npy(missing);
  check_error(r, missing, "does not exist");
  CHECK(r.status().code() == StatusCode::kNotFound);
}

TEST_CASE("npy write: unsupported dtype and unwritable path") {
  TempDir tmp;
  Tensor packed(DType::kI4, Shape{4});
  Status st = write_npy(tmp.file("p.npy"), packed);
  CHECK(st.code() == StatusCode::kUnsupported);
  CHECK(st.message().find("p.npy") != std::string::npos);
  CHECK(!fs::exists(tmp.file("p.npy")));

  const std::string bad = tmp.file("no/such/dir/x.npy");
  st = write_npy(bad, Tensor(DType::kF32, Shape{2}));
  CHECK(st.code() == StatusCode::kIoError);
  CHECK(st.message().find(bad) != std::string::npos);

  // Overwriting replaces the old content whole.
  REQUIRE(write_npy(tmp.file("o.npy"), Tensor(DType::kF32, Shape{1000})).is_ok());
  REQUIRE(write_npy(tmp.file("o.npy"), Tensor::from_vector<int32_t>(Shape{2}, {7, 8})).is_ok());
  auto back = read_npy(tmp.file("o.npy"));
  REQUIRE(back.is_ok());
  CHECK(back->to_int64_vector() == std::vector<int64_t>{7, 8});
}
