#include "frontends/onnx/onnx_export.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <unordered_set>

#include <onnx/checker.h>
#include <onnx/defs/schema.h>

#include "engine/core/temp_files.h"
#include "frontends/onnx/onnx_export_dialect.h"
#include "frontends/onnx/onnx_export_lower.h"
#include "frontends/onnx/onnx_proto_util.h"

namespace qe {

namespace fs = std::filesystem;

namespace {

// The IR version released together with each opset (onnx/helper.py VERSION_TABLE).
int64_t ir_version_for_opset(int64_t opset) {
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

class Writer {
 public:
  Writer(const Graph& g, const OnnxExportOptions& o, const OnnxDialect& d) : g_(g), options_(o), dialect_(d) {}

  Status write(int64_t opset, onnx::ModelProto* model) {
    model->set_ir_version(ir_version_for_opset(opset));
    model->set_producer_name(options_.producer_name);
    auto* imp = model->add_opset_import();
    imp->set_domain("");
    imp->set_version(opset);
    for (const auto& [domain, version] : dialect_.opset_imports) {
      auto* extra = model->add_opset_import();
      extra->set_domain(domain);
      extra->set_version(version);
    }
    onnx::GraphProto* gp = model->mutable_graph();
    gp->set_name(g_.name.empty() ? "qengine" : g_.name);
    assign_names();
    QE_ASSIGN_OR_RETURN(std::vector<NodeId> order, g_.topological_order());

    std::vector<bool> used(g_.num_values(), false);
    for (NodeId id : order) {
      for (ValueId v : g_.node(id).inputs) {
        if (v != kNoValue) used[static_cast<size_t>(v)] = true;
      }
    }
    for (ValueId v : g_.outputs()) used[static_cast<size_t>(v)] = true;

    for (ValueId v : g_.inputs()) {
      const Value& val = g_.value(v);
      if (val.is_constant()) continue;  // written as an initializer below
      QE_RETURN_IF_ERROR(write_value_info(v, gp->add_input(), true));
    }
    for (size_t i = 0; i < g_.num_values(); ++i) {
      const Value& val = g_.value(static_cast<ValueId>(i));
      if (!used[i] || !val.is_constant()) continue;
      if (val.dtype == DType::kString) return unsupported("constant '", val.name, "': string tensors cannot be exported");
      onnx_util::tensor_to_proto(val.constant, names_[i], gp->add_initializer());
    }
    for (NodeId id : order) QE_RETURN_IF_ERROR(write_node(g_.node(id), gp->add_node()));
    for (ValueId v : g_.outputs()) QE_RETURN_IF_ERROR(write_value_info(v, gp->add_output(), true));
    if (options_.write_value_info) {
      for (NodeId id : order) {
        for (ValueId v : g_.node(id).outputs) {
          if (v == kNoValue || g_.is_graph_output(v) || g_.value(v).dtype == DType::kUndefined) continue;
          QE_RETURN_IF_ERROR(write_value_info(v, gp->add_value_info(), false));
        }
      }
    }
    return Status::ok();
  }

 private:
  // Value names must be unique in the file; the IR keeps them unique but a pass may have
  // reused one, so duplicates get a suffix instead of producing an invalid model.
  void assign_names() {
    names_.resize(g_.num_values());
    std::unordered_set<std::string> taken;
    for (size_t i = 0; i < g_.num_values(); ++i) {
      const std::string& given = g_.value(static_cast<ValueId>(i)).name;
      const std::string n = given.empty() ? std::string("v") : given;
      std::string candidate = n;
      for (int k = 1; taken.count(candidate); ++k) candidate = str_cat(n, "__", k);
      taken.insert(candidate);
      names_[i] = candidate;
    }
  }

  Status write_value_info(ValueId v, onnx::ValueInfoProto* vi, bool required) {
    const Value& val = g_.value(v);
    vi->set_name(names_[static_cast<size_t>(v)]);
    int32_t et = onnx_util::dtype_to_onnx(val.dtype);
    if (et == 0) {
      if (required) {
        return invalid_argument("graph input/output '", val.name,
                                "' has no known element type (run shape inference before exporting)");
      }
      return Status::ok();
    }
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(et);
    if (!val.shape_known) return Status::ok();
    auto* shape = tt->mutable_shape();
    for (size_t d = 0; d < val.shape.rank(); ++d) {
      auto* dim = shape->add_dim();
      if (val.shape[d] >= 0) {
        dim->set_dim_value(val.shape[d]);
      } else if (d < val.dim_params.size() && !val.dim_params[d].empty()) {
        dim->set_dim_param(val.dim_params[d]);
      } else {
        dim->set_dim_param(str_cat(names_[static_cast<size_t>(v)], "_d", d));
      }
    }
    return Status::ok();
  }

  Status write_node(const Node& n, onnx::NodeProto* np) {
    std::optional<NodeSpelling> spelling = dialect_.spell ? dialect_.spell(n) : std::nullopt;
    if (spelling) {
      np->set_op_type(spelling->op_type);
      if (!spelling->domain.empty()) np->set_domain(spelling->domain);
    } else {
      np->set_op_type(std::string(op_name(n.op)));
    }
    np->set_name(n.name);
    for (ValueId v : n.inputs) np->add_input(v == kNoValue ? std::string() : names_[static_cast<size_t>(v)]);
    for (ValueId v : n.outputs) np->add_output(v == kNoValue ? std::string() : names_[static_cast<size_t>(v)]);
    for (const auto& [k, v] : n.attrs.items()) {
      if (const Tensor* t = std::get_if<Tensor>(&v); t && !t->defined()) {
        return invalid_argument(describe_node(g_, n.id), ": attribute '", k, "' holds an empty tensor");
      }
      onnx_util::attr_to_proto(k, v, np->add_attribute());
    }
    return Status::ok();
  }

  const Graph& g_;
  const OnnxExportOptions& options_;
  const OnnxDialect& dialect_;
  std::vector<std::string> names_;
};

Result<onnx::ModelProto> build_model(const ExportLowering& lowered, const OnnxExportOptions& options,
                                     const OnnxDialect& dialect) {
  if (options.check && lowered.opset > onnx_checker_max_opset()) {
    return unsupported("the model needs ONNX opset ", lowered.opset, " (", lowered.opset_reason,
                       "), but the linked ONNX checker only knows opsets up to ", onnx_checker_max_opset(),
                       "; export with checking disabled to write it unchecked");
  }
  onnx::ModelProto model;
  Writer w(lowered.graph, options, dialect);
  QE_RETURN_IF_ERROR(w.write(lowered.opset, &model));
  if (model.ByteSizeLong() >= (size_t{1} << 31)) {
    return out_of_range("the model serialises to ", model.ByteSizeLong(),
                        " bytes; protobuf cannot write 2 GiB or more in one file");
  }
  // The checker skips the schemas of domains it does not know, as long as the model declares
  // their opset import (the dialect's), so QONNX files are checked too.
  if (options.check) {
    try {
      onnx::checker::check_model(model);
    } catch (const std::exception& e) {
      return invalid_argument("onnx::checker rejected the exported model: ", e.what());
    }
  }
  return model;
}

}  // namespace

int64_t onnx_checker_max_opset() {
  auto map = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto it = map.find(onnx::ONNX_DOMAIN);
  return it == map.end() ? 0 : it->second.second;
}

Result<std::string> export_lowered_bytes(const ExportLowering& lowered, const OnnxExportOptions& options,
                                         const OnnxDialect& dialect) {
  QE_ASSIGN_OR_RETURN(onnx::ModelProto model, build_model(lowered, options, dialect));
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return internal_error("protobuf failed to serialise the exported model");
  return bytes;
}

Result<std::string> export_onnx_bytes(const Graph& g, const OnnxExportOptions& options) {
  QE_ASSIGN_OR_RETURN(ExportLowering lowered, lower_for_export(g, options.opset));
  // Quantizer nodes have two file forms with different limits; the caller picks one.
  for (size_t i = 0; i < lowered.graph.num_nodes(); ++i) {
    const Node& n = lowered.graph.node(static_cast<NodeId>(i));
    if (n.alive && op_is_internal(n.op) && n.op != OpKind::kFakeQuant && n.op != OpKind::kTrunc) {
      return unsupported(describe_node(lowered.graph, n.id),
                         " belongs to qengine's integer runtime and has no ONNX form; export the fake-quant model "
                         "(before lowering) instead");
    }
    if (n.alive && (n.op == OpKind::kFakeQuant || n.op == OpKind::kTrunc)) {
      return unsupported(describe_node(lowered.graph, n.id),
                         " is a quantizer, which plain ONNX export cannot write; export the graph as QONNX "
                         "(export_qonnx) or as QuantizeLinear/DequantizeLinear (export_qcdq)");
    }
  }
  return export_lowered_bytes(lowered, options, OnnxDialect{});
}

Status export_onnx_file(const Graph& g, const std::string& path, const OnnxExportOptions& options) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return invalid_argument("cannot export to '", path, "': it is a directory");
  QE_ASSIGN_OR_RETURN(std::string bytes, export_onnx_bytes(g, options));
  return write_file_atomically(path, bytes);
}

Status write_file_atomically(const std::string& path, const std::string& bytes) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return invalid_argument("cannot export to '", path, "': it is a directory");
  fs::path target(path);
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  if (!fs::is_directory(dir, ec)) return not_found("cannot export to '", path, "': directory '", dir.string(), "' does not exist");
  // A unique temporary in the destination directory, so the final rename is atomic.
  std::random_device rd;
  fs::path tmp = dir / str_cat(".", target.filename().string(), ".tmp.", ::getpid(), ".", rd());
  const TempFileGuard guard(tmp.string());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return io_error("cannot create temporary file '", tmp.string(), "' next to '", path, "'");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) {
      f.close();
      fs::remove(tmp, ec);
      return io_error("writing '", tmp.string(), "' failed (disk full?)");
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    std::error_code ignore;
    fs::remove(tmp, ignore);
    return io_error("cannot move '", tmp.string(), "' to '", path, "': ", ec.message());
  }
  return Status::ok();
}

}  // namespace qe
