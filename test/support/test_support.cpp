#include "support/test_support.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

namespace qe::test {

std::string source_dir() {
  const char* s = std::getenv("QENGINE_SOURCE_DIR");
  return s ? s : ".";
}

std::string binary_dir() {
  const char* s = std::getenv("QENGINE_BINARY_DIR");
  return s ? s : ".";
}

std::string shared_dir() {
  const char* s = std::getenv("QENGINE_SHARED");
  if (s && *s) return s;
  return source_dir() + "/../shared";
}

std::string shared_path(const std::string& rel) { return require_file(shared_dir() + "/" + rel); }

std::string require_file(const std::string& path) {
  if (!std::filesystem::exists(path)) {
    throw std::runtime_error("required test data is missing: " + path + " (set QENGINE_SHARED)");
  }
  return path;
}

std::vector<float> read_f32_file(const std::string& path) {
  std::ifstream f(require_file(path), std::ios::binary | std::ios::ate);
  auto size = static_cast<size_t>(f.tellg());
  if (size % 4 != 0) throw std::runtime_error("not a float32 file: " + path);
  std::vector<float> v(size / 4);
  f.seekg(0);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(size));
  return v;
}

DiffStats compare(const float* a, const float* b, int64_t n) {
  DiffStats d;
  for (int64_t i = 0; i < n; ++i) {
    double diff = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (std::isnan(a[i]) != std::isnan(b[i])) diff = INFINITY;
    if (diff > d.max_abs || d.worst_index < 0) {
      if (diff > d.max_abs) d.max_abs = diff;
      d.worst_index = i;
    }
    double rel = diff / std::max(1e-6, std::fabs(static_cast<double>(b[i])));
    if (rel > d.max_rel) d.max_rel = rel;
  }
  return d;
}

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  Tensor t(DType::kF32, shape);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

}  // namespace qe::test
