#include "apps/cli/preprocessing_flags.h"

#include "apps/cli/common.h"
#include "engine/data/image_folder.h"

namespace qe::cli {

void PreprocessingFlags::add_to(CLI::App* cmd) {
  auto* g = "Preprocessing (default: the model's sidecar JSON, else ImageNet's)";
  cmd->add_option("--resize", resize, "Resize the shorter side to this length (0: no resize)")->group(g);
  cmd->add_option("--crop", crop, "Centre crop: N or HxW (0: no crop)")->group(g);
  cmd->add_option("--mean", mean, "Per-channel mean after scaling, e.g. 0.485,0.456,0.406")->delimiter(',')->group(g);
  cmd->add_option("--std", std, "Per-channel std, e.g. 0.229,0.224,0.225")->delimiter(',')->group(g);
  cmd->add_option("--channels", channels, "1 (gray) or 3 (RGB)")->check(CLI::IsMember({1, 3}))->group(g);
  cmd->add_option("--scale", scale, "Pixel scale before mean/std (default 1/255)")->group(g);
  cmd->add_flag("--no-antialias", no_antialias, "Plain bilinear when downscaling")->group(g);
  cmd->add_flag("--resize-in-float", resize_in_float, "Scale to float first, then resize without rounding")->group(g);
  cmd->add_flag("--no-sidecar", ignore_sidecar, "Ignore the model's sidecar JSON")->group(g);
}

Result<Preprocessing> resolve_preprocessing(const std::string& model_path, const Graph& model,
                                            const PreprocessingFlags& f, bool quiet) {
  Preprocessing p = Preprocessing::imagenet();
  if (!f.ignore_sidecar) {
    QE_ASSIGN_OR_RETURN(p, load_sidecar_preprocessing(model_path));
    if (p.source.empty() && !quiet) {
      warn("no sidecar " + sidecar_path_for(model_path) +
           "; using ImageNet preprocessing (resize 256, crop 224): write that file or set --resize, --crop, --mean, "
           "--std, --channels");
    }
  }
  if (f.resize >= 0) {
    p.resize_shorter_side = f.resize;
    p.resize_height = p.resize_width = 0;
  }
  if (!f.crop.empty()) {
    int h = 0, w = 0;
    auto x = f.crop.find('x');
    try {
      h = std::stoi(f.crop.substr(0, x));
      w = x == std::string::npos ? h : std::stoi(f.crop.substr(x + 1));
    } catch (const std::exception&) {
      return invalid_argument("--crop '", f.crop, "' should be N or HxW");
    }
    if (h < 0 || w < 0) return invalid_argument("--crop '", f.crop, "' must not be negative");
    p.crop_height = h;
    p.crop_width = w;
  }
  if (!f.mean.empty()) p.mean = f.mean;
  if (!f.std.empty()) p.std = f.std;
  if (f.channels) p.channels = f.channels;
  if (f.scale > 0) p.scale = f.scale;
  if (f.no_antialias) p.antialias = false;
  if (f.resize_in_float) p.resize_in_float = true;
  if (Status st = p.validate(); !st.is_ok()) {
    const size_t channels = static_cast<size_t>(p.channels);
    if (p.mean.size() == channels && p.std.size() == channels) return st;
    return Status(st.code(), st.message() + "; give --mean and --std " + std::to_string(channels) + " value(s) each");
  }

  if (model.inputs().size() != 1) {
    return invalid_argument("images need a model with one input; this one has ", model.inputs().size(),
                            " (use --input NAME=file.npy)");
  }
  const Value& in = model.value(model.inputs()[0]);
  if (in.shape_known && in.shape.rank() != 4) {
    return invalid_argument("input '", in.name, "' has shape ", in.shape.to_string(),
                            "; images need a 4-D NCHW input (use --input NAME=file.npy)");
  }
  if (in.shape_known && in.shape[1] > 0 && in.shape[1] != p.channels) {
    return invalid_argument("input '", in.name, "' wants ", in.shape[1], " channels but preprocessing gives ",
                            p.channels, p.source.empty() ? " (no sidecar " + sidecar_path_for(model_path) + ")" : "",
                            "; use --channels ", in.shape[1]);
  }
  if (auto dims = fixed_output_dims(p); dims && in.shape_known) {
    bool h_ok = in.shape[2] < 0 || in.shape[2] == dims->height;
    bool w_ok = in.shape[3] < 0 || in.shape[3] == dims->width;
    if (!h_ok || !w_ok) {
      return invalid_argument("preprocessing makes ", dims->height, "x", dims->width, " images but input '", in.name,
                              "' expects ", in.shape.to_string(), " (use --crop/--resize or --input-shape)");
    }
  }
  return p;
}

Result<std::vector<std::string>> resolve_label_names(const std::string& labels_file, const Preprocessing& p) {
  if (!labels_file.empty()) return read_labels_file(labels_file);
  return p.labels;
}

}  // namespace qe::cli
