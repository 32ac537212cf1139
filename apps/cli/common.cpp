#include "apps/cli/common.h"

#include <cstdio>
#include <iostream>
#include <sstream>

#include "frontends/onnx/onnx_import.h"

namespace qe::cli {

int report_error(const Status& status) {
  std::cerr << "qengine: error: " << status.message() << "\n";
  switch (status.code()) {
    // Limits (kOutOfRange: a 2^40-element shape, a 100000-pixel image, the arena cap) are the
    // input's fault and fixable by the user, like every other code but an internal failure.
    case StatusCode::kInternal: return kExitRuntime;
    default: return kExitBadInput;
  }
}

Result<size_t> parse_byte_size(const std::string& text) {
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (const std::exception&) {
    return invalid_argument("'", text, "' is not a size (e.g. 512M or 4G)");
  }
  std::string unit = text.substr(pos);
  for (const std::string suffix : {"iB", "B"}) {
    if (unit.ends_with(suffix)) {
      unit.resize(unit.size() - suffix.size());
      break;
    }
  }
  double scale = 1;
  if (unit == "K" || unit == "k") scale = 1024.0;
  else if (unit == "M" || unit == "m") scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "g") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "t") scale = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty()) return invalid_argument("'", text, "': unknown unit '", unit, "' (use K, M, G or T)");
  const double bytes = value * scale;
  if (!(bytes >= 1) || bytes > 1e18) return invalid_argument("'", text, "' is not a size between 1 byte and 1 EiB");
  return static_cast<size_t>(bytes);
}

Result<Dataset> open_image_folder(const std::string& root) {
  auto dataset = scan_image_folder(root);
  if (!dataset.is_ok()) {
    return Status(dataset.status().code(),
                  dataset.status().message() + " (expected one sub-folder per class: " + root +
                      "/<class>/<image>.jpg, .png or .bmp)");
  }
  return dataset;
}

namespace {

// "input=1,3,224,224" for the --input-shape hint: unknown dimensions shown as 1.
std::string input_shape_example(const Value& v) {
  std::string s = v.name + "=";
  for (size_t d = 0; d < (v.shape_known ? v.shape.rank() : 4); ++d) {
    if (d) s += ",";
    s += v.shape_known && v.shape[d] > 0 ? std::to_string(v.shape[d]) : "1";
  }
  return s;
}

}  // namespace

void warn(const std::string& message) { std::cerr << "qengine: warning: " << message << "\n"; }

Result<std::map<std::string, Shape>> parse_input_shape_flags(const std::vector<std::string>& flags) {
  std::map<std::string, Shape> out;
  for (const std::string& f : flags) {
    auto eq = f.find('=');
    if (eq == std::string::npos || eq == 0) {
      return invalid_argument("--input-shape '", f, "' should look like NAME=d0,d1,...");
    }
    std::vector<int64_t> dims;
    std::stringstream ss(f.substr(eq + 1));
    std::string tok;
    while (std::getline(ss, tok, ',')) {
      try {
        size_t used = 0;
        long long d = std::stoll(tok, &used);
        if (used != tok.size() || d <= 0 || d > (1LL << 31)) throw std::invalid_argument(tok);
        dims.push_back(d);
      } catch (const std::exception&) {
        return invalid_argument("--input-shape '", f, "': '", tok, "' is not a positive dimension");
      }
    }
    if (dims.empty()) return invalid_argument("--input-shape '", f, "' has no dimensions");
    const Shape shape(dims);
    if (auto n = shape.checked_numel(); !n.is_ok()) return out_of_range("--input-shape '", f, "': ", n.status().message());
    out[f.substr(0, eq)] = shape;
  }
  return out;
}

Status apply_input_shape_flags(Graph& g, const std::string& path, const std::vector<std::string>& flags) {
  QE_ASSIGN_OR_RETURN(auto overrides, parse_input_shape_flags(flags));
  for (const auto& [name, shape] : overrides) {
    ValueId v = g.find_value(name);
    if (v == kNoValue || !g.is_graph_input(v)) {
      std::string inputs;
      for (ValueId in : g.inputs()) inputs += (inputs.empty() ? "" : ", ") + g.value(in).name;
      return invalid_argument("--input-shape: model '", path, "' has no input named '", name, "' (its inputs: ",
                              inputs, ")");
    }
    Value& val = g.value(v);
    if (val.shape_known && val.shape.rank() != shape.rank()) {
      return invalid_argument("--input-shape: input '", name, "' has rank ", val.shape.rank(), " (shape ",
                              val.shape.to_string(), "), got ", shape.to_string(), "; e.g. --input-shape ",
                              input_shape_example(val));
    }
    val.shape = shape;
    val.shape_known = true;
    val.dim_params.assign(shape.rank(), "");
  }
  return Status::ok();
}

Result<std::unique_ptr<Session>> create_run_session(Graph g, const std::string& what, const OpenModelOptions& options,
                                                    IntegerLoweringReport* lowering, bool* integer) {
  if (integer) *integer = false;
  if (!options.simulate && has_quantizers(g)) {
    IntegerLoweringOptions lo;
    lo.requant = options.requant;
    auto report = lower_to_integer(g, lo);
    if (!report.is_ok()) return report.status().with_context(what + ": integer lowering: ");
    const auto& left = report->float_nodes;
    if (!left.empty() && !options.quiet) {
      warn(what + ": " + std::to_string(left.size()) + " node(s) stay in float, simulated as written (" +
           left[0].node + ": " + left[0].reason + (left.size() > 1 ? "; ..." : "") +
           "); `qengine info --explain` lists them");
    }
    if (lowering) *lowering = std::move(report).value();
    if (integer) *integer = true;
  }
  SessionOptions so;
  so.num_threads = options.threads;
  so.optimize = options.optimize;
  auto session = Session::create(std::move(g), so);
  if (!session.is_ok()) return session.status().with_context(what + ": ");
  return std::move(session).value();
}

Result<OpenedModel> open_model(const std::string& path, const OpenModelOptions& options) {
  OpenedModel m;
  m.path = path;
  QE_ASSIGN_OR_RETURN(m.imported, import_onnx_file(path));
  QE_RETURN_IF_ERROR(apply_input_shape_flags(m.imported, path, options.input_shape_flags));
  QE_ASSIGN_OR_RETURN(m.session, create_run_session(m.imported, path, options, &m.lowering, &m.integer));
  return m;
}

Result<std::vector<Shape>> concrete_input_shapes(const Graph& g, int64_t batch) {
  std::vector<Shape> shapes;
  for (ValueId id : g.inputs()) {
    const Value& v = g.value(id);
    if (!v.shape_known) {
      return invalid_argument("input '", v.name, "' has no declared shape; give one with --input-shape ", v.name,
                              "=d0,d1,... (e.g. ", input_shape_example(v), ")");
    }
    Shape s = v.shape;
    for (size_t d = 0; d < s.rank(); ++d) {
      if (s[d] < 0) s[d] = d == 0 ? batch : 1;
    }
    if (s.rank() > 0 && batch != 1 && v.shape[0] < 0) s[0] = batch;
    shapes.push_back(s);
  }
  return shapes;
}

void add_integer_flags(CLI::App& cmd, OpenModelOptions& o) {
  cmd.add_flag("--simulate", o.simulate,
               "Run a quantized model as the fake-quant simulation (quantizers in float, quantized Conv/Gemm/MatMul "
               "summed exactly in integers) instead of on the integer kernels; the two agree bit for bit");
  cmd.add_option_function<std::string>(
         "--requant",
         [&o](const std::string& v) {
           o.requant = v == "fixed" ? kernels::RequantMode::kFixedPoint : kernels::RequantMode::kFloat;
         },
         "Requantization of integer kernels: float (fp32 scale and division, bit-identical with --simulate; "
         "default) or fixed (int32 multiplier and shift, as HAWQ-V3)")
      ->check(CLI::IsMember({"float", "fixed"}));
}

std::string format_count(double v) {
  char buf[32];
  if (v >= 1e9) std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  else if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (v >= 1e3) std::snprintf(buf, sizeof buf, "%.1fK", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

}  // namespace qe::cli
