#include "frontends/onnx/onnx_import.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unordered_map>
#include <unordered_set>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "frontends/onnx/onnx_normalize.h"
#include "frontends/onnx/onnx_proto_util.h"
#include "frontends/onnx/qcdq_import.h"
#include "frontends/onnx/qonnx_import.h"

namespace qe {

namespace fs = std::filesystem;
using onnx_util::TensorSource;

namespace {

constexpr size_t kMaxNameLength = 4096;

bool is_default_domain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

Result<int64_t> default_opset(const onnx::ModelProto& m, const std::string& model) {
  int64_t opset = -1;
  for (const auto& imp : m.opset_import()) {
    if (!is_default_domain(imp.domain())) continue;
    if (opset >= 0 && opset != imp.version()) {
      return invalid_argument(model, ": declares the default domain twice, opsets ", opset, " and ", imp.version());
    }
    opset = imp.version();
  }
  if (opset < 0) {
    // IR 1-2 predate opset imports; those models are opset 1.
    if (m.ir_version() < 3 && m.opset_import_size() == 0) return int64_t{1};
    return int64_t{-1};  // an error only if a default-domain node shows up (reported by the caller)
  }
  if (opset < kOnnxMinOpset || opset > kOnnxMaxOpset) {
    return unsupported(model, ": default-domain opset ", opset, " is outside the supported range ", kOnnxMinOpset, "-",
                       kOnnxMaxOpset);
  }
  return opset;
}

// dtype and shape from a ValueInfoProto. Only tensor types are representable.
Status apply_type(const onnx::ValueInfoProto& vi, Value& v, bool strict) {
  if (!vi.has_type()) {
    if (strict) return invalid_argument("value '", vi.name(), "' has no type");
    return Status::ok();
  }
  const auto& type = vi.type();
  if (!type.has_tensor_type()) {
    if (strict) return unsupported("value '", vi.name(), "' is not a tensor (sequence, map, optional and sparse types are not supported)");
    return Status::ok();
  }
  const auto& tt = type.tensor_type();
  if (tt.elem_type() != 0) {
    auto dt = onnx_util::dtype_from_onnx(tt.elem_type());
    if (!dt || *dt == DType::kString) {
      if (strict) {
        return unsupported("value '", vi.name(), "' has element type ", onnx_util::onnx_type_name(tt.elem_type()),
                           ", which is not supported");
      }
      return Status::ok();
    }
    v.dtype = *dt;
  }
  if (tt.has_shape()) {
    std::vector<int64_t> dims;
    std::vector<std::string> params;
    bool any_param = false;
    for (const auto& d : tt.shape().dim()) {
      if (d.has_dim_value()) {
        if (d.dim_value() < 0) return invalid_argument("value '", vi.name(), "' has a negative dimension ", d.dim_value());
        dims.push_back(d.dim_value());
        params.emplace_back();
      } else {
        dims.push_back(kUnknownDim);
        params.push_back(d.dim_param());
        any_param = any_param || !d.dim_param().empty();
      }
    }
    v.shape = Shape(std::move(dims));
    v.shape_known = true;
    if (any_param) {
      v.dim_params = std::move(params);
    } else {
      v.dim_params.assign(v.shape.rank(), "");
    }
  }
  return Status::ok();
}

// Constant node → the tensor it holds.
Result<Tensor> constant_node_value(const onnx::NodeProto& node, const TensorSource& src, const std::string& what) {
  if (node.attribute_size() != 1) {
    return invalid_argument(what, ": Constant must have exactly one value attribute, has ", node.attribute_size());
  }
  const auto& a = node.attribute(0);
  QE_ASSIGN_OR_RETURN(AttrValue v, onnx_util::attr_from_proto(a, src, what));
  const std::string& n = a.name();
  if (n == "value") {
    if (auto* t = std::get_if<Tensor>(&v)) return *t;
  } else if (n == "value_float") {
    if (auto* f = std::get_if<float>(&v)) return Tensor::scalar(*f);
  } else if (n == "value_int") {
    if (auto* i = std::get_if<int64_t>(&v)) return Tensor::scalar(*i);
  } else if (n == "value_floats") {
    if (auto* f = std::get_if<std::vector<float>>(&v)) return Tensor::from_vector(Shape{static_cast<int64_t>(f->size())}, *f);
  } else if (n == "value_ints") {
    if (auto* i = std::get_if<std::vector<int64_t>>(&v)) {
      return Tensor::from_vector(Shape{static_cast<int64_t>(i->size())}, *i);
    }
  } else if (n == "sparse_value" || n == "value_string" || n == "value_strings") {
    return unsupported(what, ": Constant attribute '", n, "' is not supported");
  } else {
    return invalid_argument(what, ": unknown Constant attribute '", n, "'");
  }
  return invalid_argument(what, ": Constant attribute '", n, "' has the wrong type (", attr_type_name(v), ")");
}

class Importer {
 public:
  Importer(onnx::ModelProto& m, std::string model_name, TensorSource src, OnnxModelInfo* info, bool fuse_qcdq)
      : m_(m), model_(std::move(model_name)), src_(std::move(src)), info_(info), fuse_qcdq_(fuse_qcdq) {}

  Result<Graph> run() {
    if (!m_.has_graph()) return invalid_argument(model_, ": is not an ONNX model (no graph)");
    if (m_.ir_version() <= 0) return invalid_argument(model_, ": is not an ONNX model (no IR version)");
    QE_ASSIGN_OR_RETURN(g_.opset, default_opset(m_, model_));
    const auto& gp = m_.graph();
    g_.name = gp.name();
    if (info_) {
      info_->ir_version = m_.ir_version();
      info_->opset = g_.opset;
      info_->producer = m_.producer_name() + (m_.producer_version().empty() ? "" : " " + m_.producer_version());
    }
    QE_RETURN_IF_ERROR(add_initializers(gp));
    QE_RETURN_IF_ERROR(add_graph_inputs(gp));
    QE_RETURN_IF_ERROR(add_nodes(gp));
    if (g_.opset < 0) return invalid_argument(model_, ": declares no opset for the default ONNX domain");
    QE_RETURN_IF_ERROR(add_graph_outputs(gp));
    for (const auto& vi : gp.value_info()) {
      ValueId v = g_.find_value(vi.name());
      if (v == kNoValue || g_.value(v).is_constant()) continue;
      Status st = apply_type(vi, g_.value(v), false);
      if (!st.is_ok()) return st.with_context(model_ + ": value_info: ");
    }
    for (const auto& [name, id] : pending_) {
      (void)id;
      return invalid_argument(model_, ": value '", name, "' is used by node '", first_user_[name],
                              "' but is not a graph input, an initializer or the output of any node");
    }
    // After value_info, so a quantizer's input rank is known where the file states it.
    for (const QonnxNode& q : qonnx_nodes_) {
      auto it = domain_opsets_.find(q.domain);
      Status st = convert_qonnx_node(g_, q.id, q.op_type, q.domain, it == domain_opsets_.end() ? 0 : it->second);
      if (!st.is_ok()) return st.with_context(model_ + ": ");
    }
    // Normalisation may add helper nodes, which are already canonical.
    const size_t imported_nodes = g_.num_nodes();
    for (size_t i = 0; i < imported_nodes; ++i) {
      if (!g_.node(static_cast<NodeId>(i)).alive) continue;
      Status st = normalize_onnx_node(g_, static_cast<NodeId>(i), g_.opset);
      if (!st.is_ok()) return st.with_context(model_ + ": ");
    }
    if (fuse_qcdq_) {
      Status st = fuse_qcdq_chains(g_);
      if (!st.is_ok()) return st.with_context(model_ + ": ");
    }
    return std::move(g_);
  }

 private:
  // Names are matched by rule files' regular expressions, which std::regex does by recursion
  // over the name: a megabyte-long name from a hostile file must not get that far.
  Status check_name_length(const std::string& name, const std::string& by) const {
    if (name.size() <= kMaxNameLength) return Status::ok();
    return invalid_argument(model_, ": ", by, " has a name of ", name.size(), " characters ('", name.substr(0, 32),
                            "...'); at most ", kMaxNameLength, " are accepted");
  }

  Status define(const std::string& name, const std::string& by) {
    if (name.empty()) return invalid_argument(model_, ": ", by, " defines a value with an empty name");
    QE_RETURN_IF_ERROR(check_name_length(name, by));
    if (!defined_.insert(name).second) return invalid_argument(model_, ": value '", name, "' is defined twice (", by, ")");
    return Status::ok();
  }

  Status add_initializers(const onnx::GraphProto& gp) {
    if (gp.sparse_initializer_size() > 0) return unsupported(model_, ": sparse initializers are not supported");
    for (auto& tp : *m_.mutable_graph()->mutable_initializer()) {
      QE_RETURN_IF_ERROR(define(tp.name(), "an initializer"));
      QE_ASSIGN_OR_RETURN(Tensor t, onnx_util::tensor_from_proto(tp, src_, str_cat(model_, ": initializer '", tp.name(), "'")));
      if (info_) {
        info_->num_initializers++;
        info_->num_initializer_elements += t.numel();
      }
      g_.add_constant(tp.name(), std::move(t));
      // The bytes now live in the tensor; dropping the protobuf copy halves peak memory.
      std::string().swap(*tp.mutable_raw_data());
    }
    return Status::ok();
  }

  Status add_graph_inputs(const onnx::GraphProto& gp) {
    for (const auto& vi : gp.input()) {
      ValueId existing = g_.find_value(vi.name());
      // Before IR 4 every initializer was also listed as an input; it stays a constant.
      if (existing != kNoValue && g_.value(existing).is_constant()) continue;
      QE_RETURN_IF_ERROR(define(vi.name(), "a graph input"));
      ValueId v = g_.add_value(vi.name());
      Status st = apply_type(vi, g_.value(v), true);
      if (!st.is_ok()) return st.with_context(model_ + ": graph input: ");
      g_.add_input(v);
    }
    return Status::ok();
  }

  // Values are created for every node output before any node is added, so a file whose nodes
  // are not in dependency order still imports (the graph sorts itself).
  Status add_nodes(const onnx::GraphProto& gp) {
    for (const auto& imp : m_.opset_import()) {
      if (is_qonnx_domain(imp.domain())) domain_opsets_[imp.domain()] = imp.version();
    }
    std::unordered_set<std::string> node_names;
    for (const auto& np : gp.node()) {
      QE_RETURN_IF_ERROR(check_name_length(np.name(), str_cat("a ", np.op_type().substr(0, 64), " node")));
      if (!np.name().empty()) node_names.insert(np.name());
    }
    std::vector<std::string> names(static_cast<size_t>(gp.node_size()));
    std::vector<std::optional<OpKind>> ops(names.size());
    for (int i = 0; i < gp.node_size(); ++i) {
      const auto& np = gp.node(i);
      std::string& name = names[static_cast<size_t>(i)];
      name = np.name();
      if (name.empty()) {
        name = str_cat(np.op_type(), "_", i);
        for (int k = 1; node_names.count(name); ++k) name = str_cat(np.op_type(), "_", i, "_", k);
        node_names.insert(name);
      }
      const std::string domain = np.domain().empty() ? "ai.onnx" : np.domain();
      if (info_) info_->op_counts[np.op_type()]++;
      std::optional<OpKind> op;
      if (is_qonnx_domain(np.domain())) {
        op = qonnx_op_kind(np.op_type());
        if (!op) {
          return unsupported(model_, ": node '", name, "' has op type '", np.op_type(), "' in QONNX domain '", domain,
                             "'; the supported QONNX ops are Quant, IntQuant, BipolarQuant, FloatQuant and Trunc");
        }
      } else if (!is_default_domain(np.domain())) {
        return unsupported(model_, ": node '", name, "' has op type '", np.op_type(), "' in domain '", domain,
                           "'; only the default ONNX domain (ai.onnx) and the QONNX domains are supported");
      } else {
        op = op_from_name(np.op_type());
        // qengine's internal nodes are IR only (in a file, quantizers are QONNX ops).
        if (op && op_is_internal(*op)) op.reset();
        if (!op) {
          return unsupported(model_, ": op type '", np.op_type(), "' (node '", name, "', domain '", domain,
                             "') is not supported");
        }
      }
      ops[static_cast<size_t>(i)] = op;
      const std::string what = str_cat(model_, ": node '", name, "' (", np.op_type(), ")");
      if (*op == OpKind::kConstant) {
        if (np.output_size() != 1) return invalid_argument(what, ": Constant must have one output");
        QE_RETURN_IF_ERROR(define(np.output(0), what));
        QE_ASSIGN_OR_RETURN(Tensor t, constant_node_value(np, src_, what));
        if (info_) info_->num_constant_nodes++;
        g_.add_constant(np.output(0), std::move(t));
        continue;
      }
      for (const auto& out : np.output()) {
        if (out.empty()) continue;
        QE_RETURN_IF_ERROR(define(out, what));
        g_.add_value(out);
      }
    }
    for (int i = 0; i < gp.node_size(); ++i) {
      const auto& np = gp.node(i);
      const std::string& name = names[static_cast<size_t>(i)];
      if (*ops[static_cast<size_t>(i)] == OpKind::kConstant) continue;
      const std::string what = str_cat(model_, ": node '", name, "' (", np.op_type(), ")");
      Attributes attrs;
      for (const auto& ap : np.attribute()) {
        if (attrs.has(ap.name())) return invalid_argument(what, ": attribute '", ap.name(), "' appears twice");
        if (!ap.name().empty() && ap.name()[0] == '_') {
          return invalid_argument(what, ": attribute '", ap.name(), "' uses the prefix '_' reserved for qengine");
        }
        QE_ASSIGN_OR_RETURN(AttrValue v, onnx_util::attr_from_proto(ap, src_, what));
        // Cast-1 to Cast-5 name the target type ("FLOAT"); later opsets use its number.
        if (*ops[static_cast<size_t>(i)] == OpKind::kCast && ap.name() == "to") {
          if (auto* type_name = std::get_if<std::string>(&v)) {
            int32_t code = onnx_util::onnx_type_from_name(*type_name);
            if (code == 0) return invalid_argument(what, ": Cast to unknown type '", *type_name, "'");
            v = AttrValue(static_cast<int64_t>(code));
          }
        }
        attrs.set(ap.name(), std::move(v));
      }
      std::vector<ValueId> inputs;
      for (const auto& in : np.input()) inputs.push_back(in.empty() ? kNoValue : use(in, name));
      std::vector<ValueId> outputs;
      for (const auto& out : np.output()) outputs.push_back(out.empty() ? kNoValue : g_.find_value(out));
      while (!inputs.empty() && inputs.back() == kNoValue) inputs.pop_back();
      while (!outputs.empty() && outputs.back() == kNoValue) outputs.pop_back();
      if (outputs.empty()) return invalid_argument(what, ": has no outputs");
      NodeId id = g_.add_node(*ops[static_cast<size_t>(i)], name, std::move(inputs), std::move(outputs), std::move(attrs));
      if (is_qonnx_domain(np.domain())) qonnx_nodes_.push_back({id, np.op_type(), np.domain()});
    }
    return Status::ok();
  }

  // A value read by a node; unknown names are remembered and reported after all nodes are read.
  ValueId use(const std::string& name, const std::string& node_name) {
    ValueId v = g_.find_value(name);
    if (v != kNoValue) return v;
    pending_[name] = g_.add_value(name);
    first_user_[name] = node_name;
    return pending_[name];
  }

  Status add_graph_outputs(const onnx::GraphProto& gp) {
    if (gp.output_size() == 0) return invalid_argument(model_, ": the graph has no outputs");
    for (const auto& vi : gp.output()) {
      ValueId v = g_.find_value(vi.name());
      if (v == kNoValue) return invalid_argument(model_, ": graph output '", vi.name(), "' is not produced by any node");
      if (!g_.value(v).is_constant()) {
        Value tmp;
        Status st = apply_type(vi, tmp, false);
        if (!st.is_ok()) return st.with_context(model_ + ": graph output: ");
        Value& val = g_.value(v);
        if (tmp.dtype != DType::kUndefined) val.dtype = tmp.dtype;
        if (tmp.shape_known) {
          val.shape = tmp.shape;
          val.shape_known = true;
          val.dim_params = tmp.dim_params;
        }
      }
      g_.add_output(v);
    }
    return Status::ok();
  }

  onnx::ModelProto& m_;
  std::string model_;
  TensorSource src_;
  OnnxModelInfo* info_;
  Graph g_;
  std::unordered_set<std::string> defined_;
  std::unordered_map<std::string, ValueId> pending_;  // used before (or without) being defined
  std::unordered_map<std::string, std::string> first_user_;
  struct QonnxNode {
    NodeId id;
    std::string op_type;
    std::string domain;
  };
  std::vector<QonnxNode> qonnx_nodes_;  // converted once every constant is known
  std::unordered_map<std::string, int64_t> domain_opsets_;
  bool fuse_qcdq_;
};

}  // namespace

namespace {

Status check_size(size_t size, const std::string& name, const OnnxImportOptions& options) {
  if (size == 0) return parse_error(name, ": is empty, not an ONNX model");
  if (size > options.max_model_bytes) {
    return out_of_range(name, ": is ", size, " bytes, larger than the limit of ", options.max_model_bytes,
                        " bytes (protobuf cannot parse 2 GiB; use external data for large weights)");
  }
  return Status::ok();
}

Status parse_model(google::protobuf::io::ZeroCopyInputStream* raw, size_t size, const std::string& name,
                   const OnnxImportOptions& options, onnx::ModelProto* model) {
  google::protobuf::io::CodedInputStream in(raw);
  in.SetTotalBytesLimit(static_cast<int>(std::min<size_t>(size, (size_t{1} << 31) - 1)));
  in.SetRecursionLimit(options.max_recursion_depth);
  if (!model->ParseFromCodedStream(&in) || !in.ConsumedEntireMessage()) {
    return parse_error(name, ": is not a valid ONNX model (protobuf parse failed: truncated, corrupt or not ONNX)");
  }
  return Status::ok();
}

Result<Graph> import_model(onnx::ModelProto& model, const std::string& base_dir, const std::string& name,
                           const OnnxImportOptions& options, OnnxModelInfo* info) {
  TensorSource src;
  src.base_dir = base_dir;
  src.allow_external = options.allow_external_data;
  if (info) *info = OnnxModelInfo{};
  Importer importer(model, name, src, info, options.fuse_qcdq);
  return importer.run();
}

}  // namespace

Result<Graph> import_onnx_bytes(const void* data, size_t size, const std::string& base_dir,
                                const std::string& display_name, const OnnxImportOptions& options, OnnxModelInfo* info) {
  const std::string name = display_name.empty() ? std::string("<memory>") : display_name;
  QE_RETURN_IF_ERROR(check_size(size, name, options));
  onnx::ModelProto model;
  google::protobuf::io::ArrayInputStream raw(data, static_cast<int>(size));
  QE_RETURN_IF_ERROR(parse_model(&raw, size, name, options, &model));
  return import_model(model, base_dir, name, options, info);
}

Result<Graph> import_onnx_file(const std::string& path, const OnnxImportOptions& options, OnnxModelInfo* info) {
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) return not_found("model file '", path, "' does not exist");
  if (fs::is_directory(status)) return invalid_argument("model path '", path, "' is a directory, not an ONNX file");
  if (!fs::is_regular_file(status)) return invalid_argument("model path '", path, "' is not a regular file");
  uint64_t size = fs::file_size(path, ec);
  if (ec) return io_error("cannot read the size of '", path, "': ", ec.message());
  QE_RETURN_IF_ERROR(check_size(static_cast<size_t>(size), path, options));
  // Parsed straight from the file: no second copy of the whole model in memory.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open '", path, "' for reading: ", std::strerror(errno));
  onnx::ModelProto model;
  Status parsed;
  {
    google::protobuf::io::FileInputStream raw(fd);
    raw.SetCloseOnDelete(true);
    parsed = parse_model(&raw, static_cast<size_t>(size), path, options, &model);
    if (!parsed.is_ok() && raw.GetErrno() != 0) {
      parsed = io_error("reading '", path, "' failed: ", std::strerror(raw.GetErrno()));
    }
  }
  QE_RETURN_IF_ERROR(parsed);
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  return import_model(model, dir.string(), path, options, info);
}

}  // namespace qe
