// classify: the edge example. One file over the public API only (include/qengine/qengine.hpp),
// linked fully statically so that it runs on a bare device with nothing installed.
//
//   classify [--top K] [--threads N] [--stats] MODEL IMAGE_OR_FOLDER...
//
// MODEL is a float ONNX, QONNX or QCDQ file; its sidecar (<model>.json) gives the preprocessing
// and the class labels. Folders are searched recursively for .png/.jpg/.jpeg/.bmp files, in
// sorted order. Each image prints its path, then the top-K classes as `qengine run` prints them.
// Errors are one line on stderr; an image that fails does not stop the others, but the exit
// code is then 1 (2 for a bad command line). --stats prints the images classified and the peak
// resident memory (VmHWM) on stderr at the end.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <system_error>
#include <vector>

#include <qengine/qengine.hpp>

namespace {

namespace fs = std::filesystem;

constexpr const char* kUsage = "usage: classify [--top K] [--threads N] [--stats] MODEL IMAGE_OR_FOLDER...";

struct Args {
  int top = 5;
  int threads = 0;
  bool stats = false;
  std::string model;
  std::vector<std::string> inputs;
};

// One line, whatever the message holds.
void print_error(std::string message) {
  std::replace(message.begin(), message.end(), '\n', ' ');
  std::cerr << "classify: error: " << message << "\n";
}

// A whole-string non-negative integer, or -1.
int parse_count(const std::string& text) {
  if (text.empty() || text.size() > 6) return -1;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
  }
  return std::atoi(text.c_str());
}

// False (after printing why) when the command line is unusable.
bool parse_args(int argc, char** argv, Args* args) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--stats") {
      args->stats = true;
    } else if (a == "--top" || a == "--threads") {
      if (i + 1 >= argc) {
        print_error(a + " needs a value");
        return false;
      }
      const int n = parse_count(argv[++i]);
      if (n < (a == "--top" ? 1 : 0)) {
        print_error(a + " expects " + (a == "--top" ? "a positive" : "a non-negative") + " integer, got '" +
                    argv[i] + "'");
        return false;
      }
      (a == "--top" ? args->top : args->threads) = n;
    } else if (a.size() > 1 && a[0] == '-') {
      print_error("unknown option '" + a + "'");
      return false;
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() < 2) {
    print_error(positional.empty() ? "missing MODEL and images" : "no images given");
    return false;
  }
  args->model = positional.front();
  args->inputs.assign(positional.begin() + 1, positional.end());
  return true;
}

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

// Files as given; folders expanded to their images. False (after printing why) when an input
// does not exist or a folder holds no image.
bool collect_images(const std::vector<std::string>& inputs, std::vector<std::string>* images) {
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (!fs::is_directory(input, ec)) {
      images->push_back(input);  // a missing or unreadable file fails when it is classified
      continue;
    }
    std::vector<std::string> found;
    for (fs::recursive_directory_iterator it(input, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file(ec) && is_image_file(it->path())) found.push_back(it->path().string());
    }
    if (ec) {
      print_error("cannot list folder '" + input + "': " + ec.message());
      return false;
    }
    if (found.empty()) {
      print_error("folder '" + input + "' holds no .png/.jpg/.jpeg/.bmp image");
      return false;
    }
    std::sort(found.begin(), found.end());
    images->insert(images->end(), found.begin(), found.end());
  }
  return true;
}

// Peak resident set size of this process in kB (Linux /proc), or -1.
long peak_rss_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

void print_top(const std::string& image, const std::vector<qengine::Prediction>& top) {
  std::cout << image << "\n";
  for (size_t r = 0; r < top.size(); ++r) {
    const qengine::Prediction& p = top[r];
    const std::string name = p.label.empty() ? "class " + std::to_string(p.class_index) : p.label;
    std::printf("  %zu. %-24s %6.2f%%  (class %d, logit %.3f)\n", r + 1, name.c_str(), 100 * p.probability,
                p.class_index, p.logit);
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse_args(argc, argv, &args)) {
    std::cerr << kUsage << "\n";
    return 2;
  }
  std::vector<std::string> images;
  if (!collect_images(args.inputs, &images)) return 1;

  int failed = 0;
  try {
    const qengine::Model model = qengine::Model::load(args.model);
    qengine::SessionOptions options;
    options.threads = args.threads;
    options.max_concurrent_runs = 1;  // one image at a time: one engine instance, least memory
    const qengine::Session session(model, options);
    for (const std::string& image : images) {
      try {
        print_top(image, session.classify(image, args.top));
      } catch (const qengine::Error& e) {
        print_error(e.what());
        ++failed;
      }
    }
  } catch (const std::exception& e) {  // the model (qengine::Error) or out of memory
    print_error(e.what());
    return 1;
  }
  if (args.stats) {
    std::cerr << "classify: stats: images=" << images.size() - failed << " failed=" << failed
              << " peak_rss_kb=" << peak_rss_kb() << "\n";
  }
  return failed == 0 ? 0 : 1;
}
