// Real images for model tests: a spread of a shared image folder, preprocessed as the model's
// sidecar JSON says. Missing folders or unreadable images fail the test.
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/data/batch_loader.h"
#include "engine/data/image_folder.h"
#include "engine/data/preprocess.h"
#include "support/test_support.h"

namespace qe::test {

// `count` images spread evenly over `folder` (one batch [count, ...]).
inline Tensor load_images(const std::string& model_path, const std::string& folder, size_t count) {
  auto pre = load_sidecar_preprocessing(model_path);
  REQUIRE(pre.is_ok());
  auto ds = scan_image_folder(require_file(folder));
  REQUIRE(ds.is_ok());
  REQUIRE(ds->samples.size() >= count);
  std::vector<Sample> picked;
  for (size_t i = 0; i < count; ++i) picked.push_back(ds->samples[i * ds->samples.size() / count]);
  BatchLoaderOptions lo;
  lo.batch_size = static_cast<int>(count);
  auto loader = BatchLoader::create(picked, *pre, lo);
  REQUIRE(loader.is_ok());
  auto batch = (*loader)->next();
  REQUIRE(batch);
  REQUIRE((*loader)->num_skipped() == 0);
  return batch->input;
}

}  // namespace qe::test
