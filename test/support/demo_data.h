// The bundled demo model and its 200 images (examples/), as the API tests use them.
#pragma once

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/data/image_folder.h"
#include "support/test_support.h"

namespace qe::test {

inline std::string demo_model() { return require_file(source_dir() + "/examples/models/fmnist_tiny_cnn.onnx"); }
inline std::string demo_images() { return require_file(source_dir() + "/examples/images"); }

inline std::vector<Sample> demo_samples() {
  auto dataset = scan_image_folder(demo_images());
  REQUIRE(dataset.is_ok());
  REQUIRE(dataset->samples.size() == 200);
  return dataset->samples;
}

}  // namespace qe::test
