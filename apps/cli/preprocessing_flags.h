// Preprocessing for run/eval: the model's sidecar JSON, else ImageNet defaults, then flags.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "engine/data/preprocess.h"
#include "graph/graph.h"

namespace qe::cli {

struct PreprocessingFlags {
  int resize = -1;             // shorter side; 0 disables
  std::string crop;            // "224" or "224x192"; "0" disables
  std::vector<float> mean;
  std::vector<float> std;
  int channels = 0;
  bool no_antialias = false;
  bool resize_in_float = false;
  double scale = 0;
  bool ignore_sidecar = false;

  void add_to(CLI::App* cmd);
};

// Resolves the preprocessing and checks it against the model's input [N, C, H, W].
Result<Preprocessing> resolve_preprocessing(const std::string& model_path, const Graph& model,
                                            const PreprocessingFlags& flags, bool quiet);

// Class names for printing: --labels file, else the sidecar's labels, else empty.
Result<std::vector<std::string>> resolve_label_names(const std::string& labels_file, const Preprocessing& p);

}  // namespace qe::cli
