// Builds small ONNX models with the protobuf API for the frontend tests. Header-only: only the
// tests that link protobuf themselves (test_onnx_*) include it.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace qe::test {

class OnnxModelBuilder {
 public:
  explicit OnnxModelBuilder(int64_t opset, int64_t ir_version = 0) {
    model_.set_ir_version(ir_version ? ir_version : (opset >= 13 ? 7 : opset >= 9 ? 4 : 3));
    model_.set_producer_name("qengine-test");
    auto* imp = model_.add_opset_import();
    imp->set_domain("");
    imp->set_version(opset);
    model_.mutable_graph()->set_name("test");
  }

  onnx::ModelProto& model() { return model_; }
  onnx::GraphProto& graph() { return *model_.mutable_graph(); }

  onnx::NodeProto* node(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs,
                        const std::string& name = "") {
    auto* n = graph().add_node();
    n->set_op_type(op);
    if (!name.empty()) n->set_name(name);
    for (auto& i : inputs) n->add_input(i);
    for (auto& o : outputs) n->add_output(o);
    return n;
  }

  // dims: >= 0 a fixed size, -1 a dim_param named by `params` (same index), or no value at all.
  static void set_type(onnx::ValueInfoProto* vi, int32_t elem, const std::vector<int64_t>& dims,
                       const std::vector<std::string>& params = {}) {
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    auto* shape = tt->mutable_shape();
    for (size_t i = 0; i < dims.size(); ++i) {
      auto* d = shape->add_dim();
      if (dims[i] >= 0) {
        d->set_dim_value(dims[i]);
      } else if (i < params.size() && !params[i].empty()) {
        d->set_dim_param(params[i]);
      }
    }
  }
  onnx::ValueInfoProto* input(const std::string& name, int32_t elem, const std::vector<int64_t>& dims,
                              const std::vector<std::string>& params = {}) {
    auto* vi = graph().add_input();
    vi->set_name(name);
    set_type(vi, elem, dims, params);
    return vi;
  }
  onnx::ValueInfoProto* output(const std::string& name, int32_t elem = 1, const std::vector<int64_t>& dims = {},
                               bool with_shape = false) {
    auto* vi = graph().add_output();
    vi->set_name(name);
    if (with_shape) {
      set_type(vi, elem, dims);
    } else {
      vi->mutable_type()->mutable_tensor_type()->set_elem_type(elem);
    }
    return vi;
  }

  onnx::TensorProto* initializer_raw(const std::string& name, int32_t elem, const std::vector<int64_t>& dims,
                                     const void* bytes, size_t n) {
    auto* t = graph().add_initializer();
    t->set_name(name);
    t->set_data_type(elem);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(bytes, n);
    return t;
  }
  onnx::TensorProto* initializer_f32(const std::string& name, const std::vector<int64_t>& dims,
                                     const std::vector<float>& v) {
    return initializer_raw(name, onnx::TensorProto::FLOAT, dims, v.data(), v.size() * sizeof(float));
  }
  onnx::TensorProto* initializer(const std::string& name, int32_t elem, const std::vector<int64_t>& dims) {
    auto* t = graph().add_initializer();
    t->set_name(name);
    t->set_data_type(elem);
    for (int64_t d : dims) t->add_dims(d);
    return t;
  }

  static void attr_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr_float(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attr_string(onnx::NodeProto* n, const std::string& name, const std::string& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
  }
  static void attr_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void attr_floats(onnx::NodeProto* n, const std::string& name, const std::vector<float>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOATS);
    for (float x : v) a->add_floats(x);
  }

  std::string bytes() const {
    std::string s;
    model_.SerializeToString(&s);
    return s;
  }

 private:
  onnx::ModelProto model_;
};

// x → Relu → y ("relu"), float [1, 4]: the smallest valid model; tests break one thing in it.
inline OnnxModelBuilder relu_model() {
  OnnxModelBuilder b(13);
  b.input("x", onnx::TensorProto::FLOAT, {1, 4});
  b.node("Relu", {"x"}, {"y"}, "relu");
  b.output("y");
  return b;
}

// y = x + w ("add"), where the float [4] initializer "w" is stored externally at `location`
// (with a declared `length` unless empty).
inline OnnxModelBuilder external_data_model(const std::string& location, const std::string& length = "16") {
  OnnxModelBuilder b(13);
  b.input("x", onnx::TensorProto::FLOAT, {4});
  auto* t = b.initializer("w", onnx::TensorProto::FLOAT, {4});
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* e = t->add_external_data();
  e->set_key("location");
  e->set_value(location);
  if (!length.empty()) {
    auto* l = t->add_external_data();
    l->set_key("length");
    l->set_value(length);
  }
  b.node("Add", {"x", "w"}, {"y"}, "add");
  b.output("y");
  return b;
}

// `depth` If nodes, each inside the previous one's then_branch: past protobuf's recursion limit.
inline std::string nested_subgraphs_model_bytes(int depth) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  onnx::GraphProto* g = m.mutable_graph();
  for (int level = 0; level < depth; ++level) {
    auto* n = g->add_node();
    n->set_op_type("If");
    auto* a = n->add_attribute();
    a->set_name("then_branch");
    a->set_type(onnx::AttributeProto::GRAPH);
    g = a->mutable_g();
  }
  return m.SerializeAsString();
}

}  // namespace qe::test
