// Sidecar `<model>.json` → Preprocessing. Formats: shared/models/*.json (Fashion-MNIST) and
// shared/imagenet/models/*.json. Unknown keys (notes, formulas, provenance) are ignored; a key
// we know with a value we cannot honour is an error, never silently approximated.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/data/preprocess.h"

namespace qe {
namespace {

using nlohmann::json;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

class SidecarReader {
 public:
  explicit SidecarReader(std::string name) : name_(std::move(name)) {}

  Status error(const std::string& key, const std::string& what) const {
    return parse_error("sidecar '", name_, "': key '", key, "' ", what);
  }
  Status unsupported_value(const std::string& key, const std::string& what) const {
    return unsupported("sidecar '", name_, "': key '", key, "' ", what);
  }

  Result<int> dimension(const json& v, const std::string& key) const {
    if (!v.is_number_integer()) return error(key, "must be an integer, got " + v.dump());
    const int64_t x = v.get<int64_t>();
    if (x < 1 || x > kMaxImageDimension) {
      return error(key, "must be in [1, " + std::to_string(kMaxImageDimension) + "], got " + v.dump());
    }
    return static_cast<int>(x);
  }

  // An int (square / shorter side) or [h, w]; writes count = 1 or 2 values.
  Status size_pair(const json& v, const std::string& key, int* h, int* w, int* count) const {
    if (v.is_number()) {
      QE_ASSIGN_OR_RETURN(*h, dimension(v, key));
      *w = *h;
      *count = 1;
      return Status::ok();
    }
    if (!v.is_array() || v.empty() || v.size() > 2) return error(key, "must be an integer or [height, width], got " + v.dump());
    QE_ASSIGN_OR_RETURN(*h, dimension(v[0], key + "[0]"));
    *w = *h;
    if (v.size() == 2) {
      QE_ASSIGN_OR_RETURN(*w, dimension(v[1], key + "[1]"));
    }
    *count = static_cast<int>(v.size());
    return Status::ok();
  }

  Result<std::vector<float>> floats(const json& v, const std::string& key) const {
    std::vector<float> out;
    if (v.is_number()) {
      out.push_back(v.get<float>());
      return out;
    }
    if (!v.is_array() || v.empty()) return error(key, "must be a number or a non-empty array of numbers");
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_number()) return error(key + "[" + std::to_string(i) + "]", "must be a number, got " + v[i].dump());
      out.push_back(v[i].get<float>());
    }
    return out;
  }

  Result<bool> boolean(const json& v, const std::string& key) const {
    if (!v.is_boolean()) return error(key, "must be true or false, got " + v.dump());
    return v.get<bool>();
  }

  Result<std::string> string(const json& v, const std::string& key) const {
    if (!v.is_string()) return error(key, "must be a string, got " + v.dump());
    return v.get<std::string>();
  }

  Result<Preprocessing> parse(const json& root) const {
    if (!root.is_object()) return parse_error("sidecar '", name_, "': top level must be a JSON object");
    auto it = root.find("preprocessing");
    if (it == root.end()) return parse_error("sidecar '", name_, "': missing key 'preprocessing'");
    if (!it->is_object()) return error("preprocessing", "must be an object");
    const json& pp = *it;
    auto has = [&](const char* k) { return pp.contains(k) && !pp.at(k).is_null(); };
    const std::string P = "preprocessing.";

    Preprocessing p;
    p.mean.clear();
    p.std.clear();
    if (has("channels")) {
      if (!pp["channels"].is_number_integer() || (pp["channels"] != 1 && pp["channels"] != 3)) {
        return error(P + "channels", "must be 1 or 3, got " + pp["channels"].dump());
      }
      p.channels = pp["channels"].get<int>();
    }
    if (has("channel_order")) {
      QE_ASSIGN_OR_RETURN(std::string order, string(pp["channel_order"], P + "channel_order"));
      const std::string o = lower(order.substr(0, 3));
      if (o != "rgb" && !(p.channels == 1 && (o == "l" || o == "gra"))) {
        return unsupported_value(P + "channel_order", "is '" + order + "'; only RGB input is supported");
      }
    }
    if (has("layout")) {
      QE_ASSIGN_OR_RETURN(std::string layout, string(pp["layout"], P + "layout"));
      if (layout.rfind("NCHW", 0) != 0) return unsupported_value(P + "layout", "is '" + layout + "'; only NCHW is supported");
    }
    if (has("rgb_to_gray")) {
      QE_ASSIGN_OR_RETURN(std::string mode, string(pp["rgb_to_gray"], P + "rgb_to_gray"));
      if (lower(mode) == "luminance") {
        p.rgb_to_gray = RgbToGray::kLuminance;
      } else if (lower(mode) != "error") {
        return error(P + "rgb_to_gray", "must be 'luminance' or 'error', got '" + mode + "'");
      }
    }

    // Resize: "resize" (int = shorter side, [h, w] = exact) or "resize_shorter_side".
    if (has("resize") && has("resize_shorter_side")) {
      return error(P + "resize", "conflicts with 'resize_shorter_side': give one of them");
    }
    if (has("resize")) {
      int h = 0, w = 0, count = 0;
      QE_RETURN_IF_ERROR(size_pair(pp["resize"], P + "resize", &h, &w, &count));
      if (count == 1) {
        p.resize_shorter_side = h;
      } else {
        p.resize_height = h;
        p.resize_width = w;
      }
    }
    if (has("resize_shorter_side")) {
      QE_ASSIGN_OR_RETURN(p.resize_shorter_side, dimension(pp["resize_shorter_side"], P + "resize_shorter_side"));
    }
    if (has("resize_long_side")) {
      QE_ASSIGN_OR_RETURN(std::string mode, string(pp["resize_long_side"], P + "resize_long_side"));
      if (lower(mode) == "round") {
        p.round_long_side = true;
      } else if (lower(mode) == "floor" || lower(mode) == "truncate") {
        p.round_long_side = false;
      } else {
        return error(P + "resize_long_side", "must be 'round' or 'floor', got '" + mode + "'");
      }
    }
    if (has("interpolation")) {
      QE_ASSIGN_OR_RETURN(std::string interp, string(pp["interpolation"], P + "interpolation"));
      const std::string l = lower(interp);
      if (l.rfind("bilinear", 0) != 0 && l != "linear") {
        return unsupported_value(P + "interpolation", "is '" + interp + "'; only bilinear is supported");
      }
    }
    if (has("align_corners")) {
      QE_ASSIGN_OR_RETURN(bool ac, boolean(pp["align_corners"], P + "align_corners"));
      if (ac) return unsupported_value(P + "align_corners", "is true; only half-pixel centres are supported");
    }
    if (has("half_pixel_centers")) {
      QE_ASSIGN_OR_RETURN(bool hp, boolean(pp["half_pixel_centers"], P + "half_pixel_centers"));
      if (!hp) return unsupported_value(P + "half_pixel_centers", "is false; only half-pixel centres are supported");
    }
    if (has("resize_in_float")) {
      QE_ASSIGN_OR_RETURN(p.resize_in_float, boolean(pp["resize_in_float"], P + "resize_in_float"));
    } else if (has("resize_computed_on")) {
      QE_ASSIGN_OR_RETURN(std::string on, string(pp["resize_computed_on"], P + "resize_computed_on"));
      const std::string l = lower(on);
      if (l.find("float") != std::string::npos) {
        p.resize_in_float = true;
      } else if (l.find("uint8") != std::string::npos || l.find("8-bit") != std::string::npos ||
                 l.find("8 bit") != std::string::npos) {
        p.resize_in_float = false;
      } else {
        return error(P + "resize_computed_on", "must name 'float32' or 'uint8', got '" + on + "'");
      }
    }
    // PIL (8-bit path) always antialiases; F.interpolate (float path) does not by default.
    p.antialias = !p.resize_in_float;
    if (has("antialias")) {
      QE_ASSIGN_OR_RETURN(p.antialias, boolean(pp["antialias"], P + "antialias"));
    }

    if (has("center_crop")) {
      int h = 0, w = 0, count = 0;
      QE_RETURN_IF_ERROR(size_pair(pp["center_crop"], P + "center_crop", &h, &w, &count));
      p.crop_height = h;
      p.crop_width = w;
    }
    if (has("scale")) {
      if (!pp["scale"].is_number()) return error(P + "scale", "must be a number, got " + pp["scale"].dump());
      p.scale = pp["scale"].get<double>();
    }
    if (has("mean")) {
      QE_ASSIGN_OR_RETURN(p.mean, floats(pp["mean"], P + "mean"));
    }
    if (has("std")) {
      QE_ASSIGN_OR_RETURN(p.std, floats(pp["std"], P + "std"));
    }

    if (root.contains("labels") && !root["labels"].is_null()) {
      const json& labels = root["labels"];
      if (!labels.is_array()) return error("labels", "must be an array of strings");
      for (size_t i = 0; i < labels.size(); ++i) {
        if (!labels[i].is_string()) return error("labels[" + std::to_string(i) + "]", "must be a string");
        p.labels.push_back(labels[i].get<std::string>());
      }
    }
    Status valid = p.validate();
    if (!valid.is_ok()) return parse_error("sidecar '", name_, "': ", valid.message());
    p.source = name_;
    return p;
  }

 private:
  std::string name_;
};

}  // namespace

std::string sidecar_path_for(const std::string& model_path) {
  return std::filesystem::path(model_path).replace_extension(".json").string();
}

Result<Preprocessing> parse_sidecar_preprocessing(const std::string& json_text, const std::string& name) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {  // parse errors, and numbers such as 1e999 that do not fit
    return parse_error("sidecar '", name, "' is not valid JSON: ", e.what());
  }
  return SidecarReader(name).parse(root);
}

Result<Preprocessing> load_sidecar_preprocessing(const std::string& model_path) {
  const std::string path = sidecar_path_for(model_path);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Preprocessing::imagenet();
  std::ifstream f(path, std::ios::binary);
  if (!f) return io_error("cannot open sidecar '", path, "'");
  std::ostringstream text;
  text << f.rdbuf();
  if (f.bad()) return io_error("cannot read sidecar '", path, "'");
  return parse_sidecar_preprocessing(text.str(), path);
}

}  // namespace qe
