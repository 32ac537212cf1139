// ImageNet-style labelled image folders: root/<class>/<image>.
#pragma once

#include <string>
#include <vector>

#include "engine/core/status.h"

namespace qe {

struct Sample {
  std::string path;
  int label = -1;  // index into Dataset::classes
};

struct Dataset {
  std::string root;
  // Class names in label order: the lines of root/labels.txt when present (which may list
  // classes without a folder), else the sorted folder names.
  std::vector<std::string> classes;
  std::vector<Sample> samples;        // sorted by path
  std::vector<std::string> warnings;  // skipped entries, one line each
};

// Errors: missing or unreadable root, no class folders, a class folder without images, a folder
// that labels.txt does not list, a malformed labels.txt. Files with other extensions are
// skipped with a warning.
Result<Dataset> scan_image_folder(const std::string& root);

// Reads a labels file: one class name per line, surrounding whitespace trimmed; blank lines
// only at the end; duplicates are an error.
Result<std::vector<std::string>> read_labels_file(const std::string& path);

}  // namespace qe
