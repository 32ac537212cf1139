#include "engine/data/image_folder.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "engine/data/image.h"

namespace qe {
namespace {

namespace fs = std::filesystem;

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n\v\f";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

bool is_hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

// Directory entries sorted by name; errors name the directory.
Result<std::vector<fs::directory_entry>> list_dir(const fs::path& dir) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return io_error("cannot list folder '", dir.string(), "': ", ec.message());
  std::vector<fs::directory_entry> entries;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return io_error("cannot list folder '", dir.string(), "': ", ec.message());
    if (!is_hidden(it->path())) entries.push_back(*it);
  }
  if (ec) return io_error("cannot list folder '", dir.string(), "': ", ec.message());
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
  return entries;
}

}  // namespace

Result<std::vector<std::string>> read_labels_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) return io_error("cannot open labels file '", path, "'");
  std::vector<std::string> labels;
  std::unordered_map<std::string, size_t> seen;
  std::string line;
  size_t lineno = 0, blank_at = 0;
  while (std::getline(f, line)) {
    ++lineno;
    std::string name = trim(line);
    if (name.empty()) {
      if (!blank_at) blank_at = lineno;
      continue;
    }
    // Line k is class k, so a blank line in the middle would silently shift every label after it.
    if (blank_at) return parse_error("labels file '", path, "': line ", blank_at, " is empty");
    auto [it, inserted] = seen.emplace(name, lineno);
    if (!inserted) {
      return parse_error("labels file '", path, "': '", name, "' on line ", lineno, " repeats line ", it->second);
    }
    labels.push_back(std::move(name));
  }
  if (f.bad()) return io_error("cannot read labels file '", path, "'");
  if (labels.empty()) return parse_error("labels file '", path, "' lists no classes");
  return labels;
}

Result<Dataset> scan_image_folder(const std::string& root) {
  std::error_code ec;
  if (!fs::exists(root, ec)) return not_found("image folder '", root, "' does not exist");
  if (!fs::is_directory(root, ec)) return invalid_argument("image folder '", root, "' is not a directory");

  Dataset ds;
  ds.root = root;
  QE_ASSIGN_OR_RETURN(auto entries, list_dir(root));
  std::vector<fs::path> class_dirs;
  for (const auto& e : entries) {
    if (e.is_directory(ec)) class_dirs.push_back(e.path());
  }
  if (class_dirs.empty()) return invalid_argument("image folder '", root, "' has no class sub-folders");

  const fs::path labels_path = fs::path(root) / "labels.txt";
  const bool has_labels = fs::is_regular_file(labels_path, ec);
  std::unordered_map<std::string, int> label_of;
  if (has_labels) {
    QE_ASSIGN_OR_RETURN(ds.classes, read_labels_file(labels_path.string()));
  } else {
    for (const auto& d : class_dirs) ds.classes.push_back(d.filename().string());
  }
  for (size_t i = 0; i < ds.classes.size(); ++i) label_of.emplace(ds.classes[i], static_cast<int>(i));

  for (const auto& dir : class_dirs) {
    const std::string cls = dir.filename().string();
    auto found = label_of.find(cls);
    if (found == label_of.end()) {
      return invalid_argument("class folder '", dir.string(), "' is not listed in '", labels_path.string(), "'");
    }
    QE_ASSIGN_OR_RETURN(auto files, list_dir(dir));
    size_t images = 0;
    for (const auto& f : files) {
      const std::string p = f.path().string();
      if (f.is_directory(ec)) {
        ds.warnings.push_back("skipped sub-folder '" + p + "' (images must sit directly in the class folder)");
      } else if (!has_image_extension(p)) {
        ds.warnings.push_back("skipped '" + p + "': not a .jpg/.jpeg/.png/.bmp file");
      } else {
        ds.samples.push_back({p, found->second});
        ++images;
      }
    }
    if (images == 0) return invalid_argument("class folder '", dir.string(), "' contains no images");
  }
  std::sort(ds.samples.begin(), ds.samples.end(), [](const Sample& a, const Sample& b) { return a.path < b.path; });
  return ds;
}

}  // namespace qe
