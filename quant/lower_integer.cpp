#include "quant/lower_integer.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "engine/integer_regions.h"
#include "engine/session.h"
#include "graph/pass.h"
#include "graph/passes/passes.h"
#include "graph/schema.h"

namespace qe {

using lowering::IntGrid;

bool has_quantizers(const Graph& g) {
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    const Node& n = g.node(static_cast<NodeId>(i));
    if (n.alive && (n.op == OpKind::kFakeQuant || n.op == OpKind::kTrunc)) return true;
  }
  return false;
}

namespace {

const char* dtype_tag(DType t) { return t == DType::kU8 ? "u8" : t == DType::kI8 ? "s8" : "f32"; }

// The float engine's answer for a one-input elementwise node on the given values (so a lookup
// table reproduces exactly what the simulation computes).
Result<std::vector<float>> evaluate_unary(const Graph& g, const Node& n, const std::vector<float>& xs) {
  Graph t;
  const Shape shape{static_cast<int64_t>(xs.size())};
  ValueId in = t.add_value("x", DType::kF32, shape, true);
  std::vector<ValueId> inputs = {in};
  for (size_t i = 1; i < n.inputs.size(); ++i) {
    if (n.inputs[i] == kNoValue) {
      inputs.push_back(kNoValue);
      continue;
    }
    const Value& v = g.value(n.inputs[i]);
    if (!v.is_constant()) return unsupported("input ", i, " is not a constant");
    inputs.push_back(t.add_constant("c" + std::to_string(i), v.constant));
  }
  ValueId out = t.add_value("y", DType::kF32);
  t.add_node(n.op, "f", inputs, {out}, n.attrs);
  t.add_input(in);
  t.add_output(out);
  SessionOptions so;
  so.num_threads = 1;
  QE_ASSIGN_OR_RETURN(std::unique_ptr<Session> s, Session::create(std::move(t), so));
  QE_ASSIGN_OR_RETURN(std::vector<Tensor> y, s->run({Tensor::from_vector(shape, xs)}));
  return y[0].to_float_vector();
}

bool is_elementwise_unary(OpKind op) {
  switch (op) {
    case OpKind::kSigmoid: case OpKind::kHardSigmoid: case OpKind::kHardSwish: case OpKind::kTanh:
    case OpKind::kGelu: case OpKind::kRelu: case OpKind::kLeakyRelu: case OpKind::kClip: case OpKind::kExp:
    case OpKind::kErf: case OpKind::kAbs: case OpKind::kNeg: return true;
    default: return false;
  }
}

class Lowering {
 public:
  Lowering(Graph& g, const IntegerLoweringOptions& o) : g_(g), opt_(o) {}

  Result<IntegerLoweringReport> run() {
    QE_ASSIGN_OR_RETURN(std::vector<NodeId> order, g_.topological_order());
    for (NodeId id : order) {
      if (!g_.node(id).alive || replaced_.count(id)) continue;
      QE_RETURN_IF_ERROR(visit(id));
    }
    QE_RETURN_IF_ERROR(finish());
    return report_;
  }

 private:
  struct IntValue {
    ValueId v;
    IntGrid grid;
  };

  Graph& g_;
  IntegerLoweringOptions opt_;
  IntegerLoweringReport report_;
  std::unordered_map<ValueId, IntValue> ints_;  // float value → its integer twin
  std::unordered_set<NodeId> replaced_;         // original nodes now computed in integers
  std::unordered_set<ValueId> kept_float_;      // integer twins whose float producer stays

  const IntValue* int_of(ValueId v) const {
    auto it = ints_.find(v);
    return it == ints_.end() ? nullptr : &it->second;
  }

  const Node* single_consumer(ValueId v) const {
    const Value& val = g_.value(v);
    if (val.uses.size() != 1 || g_.is_graph_output(v)) return nullptr;
    return &g_.node(val.uses[0].node);
  }

  ValueId new_value(const std::string& base, DType t) { return g_.add_value(g_.unique_value_name(base), t); }

  void add_requant_attrs(Attributes& a, const IntGrid& y) {
    a.set("y_scale", y.scale);
    a.set("y_zero_point", static_cast<int64_t>(y.zero_point));
    a.set("y_min", static_cast<int64_t>(y.qmin));
    a.set("y_max", static_cast<int64_t>(y.qmax));
    a.set("out_dtype", std::string(dtype_tag(y.dtype)));
    a.set("requant", std::string(opt_.requant == kernels::RequantMode::kFloat ? "float" : "fixed"));
  }

  void note_float(NodeId id, const std::string& reason) {
    report_.float_nodes.push_back({describe_node(g_, id), reason});
  }

  Status visit(NodeId id) {
    const Node& n = g_.node(id);
    if (n.op == OpKind::kFakeQuant) return visit_fake_quant(id);
    if (n.op == OpKind::kTrunc) return visit_trunc(id);
    if (lowering::preserves_grid(n)) return visit_grid_preserving(id);
    if (n.op == OpKind::kConv || n.op == OpKind::kGemm || n.op == OpKind::kMatMul) {
      // Requantized outputs are made when the consumer FakeQuant is visited; here only the
      // compute nodes whose result stays float.
      if (absorbed_by_quantizer(n.outputs[0])) return Status::ok();
      std::string reason;
      if (!lower_compute(id, std::nullopt, {}, &reason)) note_float(id, reason);
    }
    return Status::ok();
  }

  // Whether a compute node's output reaches a lowerable activation FakeQuant (through at most
  // one Relu / Clip) as its only use.
  bool absorbed_by_quantizer(ValueId out) {
    const Node* c = single_consumer(out);
    if (c && lowering::clamp_bounds(g_, *c)) c = single_consumer(c->outputs[0]);
    return c && lowering::is_integer_activation_quantizer(g_, *c);
  }

  Status visit_fake_quant(NodeId id) {
    const Node& fq = g_.node(id);
    const ValueId x = fq.inputs[0];
    const std::string fq_name = fq.name;
    if (g_.value(x).is_constant()) return Status::ok();  // weights: read by their consumer
    auto gr = lowering::activation_grid(g_, id);
    if (!gr.grid) {
      note_float(id, gr.reason);
      return Status::ok();
    }
    const IntGrid& y = *gr.grid;
    const ValueId out = fq.outputs[0];
    if (const IntValue* xi = int_of(x)) {  // already an integer: same grid or a requantization
      ValueId v = xi->grid.same_as(y) ? xi->v : add_requant_lut(xi->v, xi->grid, y, g_.value(out).name);
      return map(id, out, v, y);
    }
    if (auto v = lower_producer(x, y, g_.value(out).name)) return map(id, out, *v, y);
    // Region entry: QuantizeLinear saturates to the container; narrower grids need a clamp.
    // QuantizeLinear rounds x / s and then adds the zero point, the quantizer rounds x / s + z:
    // with an odd zero point they differ at exact ties. Then the quantizer stays and
    // QuantizeLinear reads its output, which is on the grid, so no tie is left to round.
    const bool keep_quantizer = (y.zero_point & 1) != 0;
    const auto [scale, zpv] = y.add_constants(g_, g_.value(out).name);
    ValueId q = new_value(g_.value(out).name + "_q", y.dtype);
    g_.add_node(OpKind::kQuantizeLinear, fq_name + "_quantize", {keep_quantizer ? out : x, scale, zpv}, {q});
    ++report_.entries;
    const int32_t cmin = y.dtype == DType::kU8 ? 0 : -128, cmax = y.dtype == DType::kU8 ? 255 : 127;
    if (y.qmin != cmin || y.qmax != cmax) {
      IntGrid container = y;
      container.qmin = cmin;
      container.qmax = cmax;
      q = add_requant_lut(q, container, y, g_.value(out).name + "_clamp");
    }
    if (keep_quantizer) {
      ints_[out] = IntValue{q, y};
      kept_float_.insert(out);
      return Status::ok();
    }
    return map(id, out, q, y);
  }

  Status map(NodeId replaced, ValueId float_value, ValueId int_value, const IntGrid& grid) {
    ints_[float_value] = IntValue{int_value, grid};
    replaced_.insert(replaced);
    return Status::ok();
  }

  // 256-entry table from one grid to another (identity in real values).
  ValueId add_requant_lut(ValueId in, const IntGrid& from, const IntGrid& to, const std::string& name) {
    const std::vector<float> xs = from.byte_values();
    std::vector<int64_t> table(256);
    for (size_t b = 0; b < 256; ++b) table[b] = to.quantize(xs[b]);
    return add_lut(in, table, to.dtype, name);
  }

  ValueId add_lut(ValueId in, const std::vector<int64_t>& table, DType out, const std::string& name) {
    ValueId v = new_value(name + "_q", out);
    Attributes a;
    a.set("table", table);
    a.set("out_dtype", std::string(dtype_tag(out)));
    g_.add_node(OpKind::kQLut, name + "_lut", {in}, {v}, std::move(a));
    ++report_.integer_nodes;
    return v;
  }

  // The node producing float value x (possibly through one Relu/Clip) computed in integers onto
  // grid y; nullopt when its inputs are not integers or the op has no integer form.
  std::optional<ValueId> lower_producer(ValueId x, const IntGrid& y, const std::string& name) {
    const Value& xv = g_.value(x);
    if (xv.producer == kNoNode || xv.uses.size() != 1 || g_.is_graph_output(x)) return std::nullopt;
    NodeId pid = xv.producer;
    const Node& p = g_.node(pid);
    std::optional<std::pair<float, float>> clamp;
    NodeId core = pid;
    if (auto b = lowering::clamp_bounds(g_, p)) {
      const Value& in = g_.value(p.inputs[0]);
      if (in.producer != kNoNode && in.uses.size() == 1 && !g_.is_graph_output(p.inputs[0])) {
        const OpKind op = g_.node(in.producer).op;
        if (op == OpKind::kConv || op == OpKind::kGemm || op == OpKind::kMatMul || op == OpKind::kAdd) {
          clamp = b;
          core = in.producer;
        }
      }
    }
    IntGrid out = y;
    if (clamp) {  // Q(clip(v, a, b)) = clamp(Q(v), Q(a), Q(b)): rounding is monotonic
      if (std::isfinite(clamp->first)) out.qmin = std::max(out.qmin, y.quantize(clamp->first));
      if (std::isfinite(clamp->second)) out.qmax = std::min(out.qmax, y.quantize(clamp->second));
    }
    const Node& c = g_.node(core);
    std::optional<ValueId> v;
    std::string reason;
    switch (c.op) {
      case OpKind::kConv: case OpKind::kGemm: case OpKind::kMatMul:
        v = lower_compute(core, out, name, &reason);
        if (!v) note_float(core, reason);
        break;
      case OpKind::kAdd: case OpKind::kMul: v = lower_binary(core, out, name); break;
      case OpKind::kGlobalAveragePool:
        if (auto dp = lowering::direct_pool(g_, x, &reason)) v = lower_global_pool(dp->pool, dp->window, out, name, std::nullopt);
        if (!v && !reason.empty()) note_float(core, reason);
        break;
      default:
        if (is_elementwise_unary(c.op)) v = lower_unary(core, y, name);
        break;
    }
    if (!v) return std::nullopt;
    replaced_.insert(core);
    if (core != pid) replaced_.insert(pid);
    ++report_.lowered_nodes;
    return v;
  }

  // Conv / Gemm / MatMul with an integer data input and quantized weights. With `y`, the output
  // is requantized onto it (new value named after `name`); without, the integer node is dequantized
  // and takes over the original node's output value.
  std::optional<ValueId> lower_compute(NodeId id, std::optional<IntGrid> y, const std::string& name,
                                       std::string* reason) {
    const Node& n = g_.node(id);
    const IntValue* xi = n.inputs.empty() ? nullptr : int_of(n.inputs[0]);
    if (!xi) {
      *reason = "its input is not quantized";
      return std::nullopt;
    }
    auto ic = lowering::integer_compute(g_, id, xi->grid, reason);
    if (!ic) return std::nullopt;
    Attributes& a = ic->attrs;
    if (y) {
      add_requant_attrs(a, *y);
    } else {
      a.set("out_dtype", std::string("f32"));
      a.set("requant", std::string(opt_.requant == kernels::RequantMode::kFloat ? "float" : "fixed"));
    }
    const std::string base = n.name.empty() ? std::string(op_name(n.op)) : n.name;
    ValueId wv = g_.add_constant(g_.unique_value_name(base + "_wq"), std::move(ic->weights));
    std::vector<ValueId> inputs = {xi->v, wv};
    if (ic->bias) inputs.push_back(g_.add_constant(g_.unique_value_name(base + "_bq"), std::move(*ic->bias)));
    const OpKind op = ic->op;
    ++report_.integer_nodes;
    if (y) {
      ValueId v = new_value(name + "_q", y->dtype);
      g_.add_node(op, base + "_int", inputs, {v}, std::move(ic->attrs));
      return v;
    }
    // Float output: the integer node takes over the original output value.
    ValueId out = n.outputs[0];
    g_.remove_node(id);
    g_.add_node(op, base + "_int", inputs, {out}, std::move(ic->attrs));
    ++report_.lowered_nodes;
    return out;
  }

  std::optional<ValueId> lower_binary(NodeId id, const IntGrid& y, const std::string& name) {
    const Node& n = g_.node(id);
    const IntValue* a = int_of(n.inputs[0]);
    const IntValue* b = int_of(n.inputs[1]);
    if (!a || !b) return std::nullopt;
    // The kernels take equal shapes or one operand broadcast per (image, channel) plane.
    const Value& av = g_.value(n.inputs[0]);
    const Value& bv = g_.value(n.inputs[1]);
    if (!av.shape_known || !bv.shape_known || av.shape.rank() != bv.shape.rank()) return std::nullopt;
    if (!(av.shape == bv.shape)) {
      // Decided by the dims, not by element counts: a dynamic batch (-1) has none.
      auto per_plane = [](const Shape& s) {
        if (s.rank() < 3) return false;
        for (size_t d = 2; d < s.rank(); ++d) {
          if (s[d] != 1) return false;
        }
        return true;
      };
      const bool a_per_plane = per_plane(av.shape), b_per_plane = per_plane(bv.shape);
      if (a_per_plane == b_per_plane) return std::nullopt;
      const Shape& small = a_per_plane ? av.shape : bv.shape;
      const Shape& full = a_per_plane ? bv.shape : av.shape;
      if (small[0] != full[0] || small[1] != full[1]) return std::nullopt;
    }
    Attributes at;
    at.set("a_scale", a->grid.scale);
    at.set("a_zero_point", static_cast<int64_t>(a->grid.zero_point));
    at.set("b_scale", b->grid.scale);
    at.set("b_zero_point", static_cast<int64_t>(b->grid.zero_point));
    add_requant_attrs(at, y);
    ValueId v = new_value(name + "_q", y.dtype);
    g_.add_node(n.op == OpKind::kAdd ? OpKind::kQAdd : OpKind::kQMul, n.name + "_int", {a->v, b->v}, {v},
                std::move(at));
    ++report_.integer_nodes;
    return v;
  }

  std::optional<ValueId> lower_unary(NodeId id, const IntGrid& y, const std::string& name) {
    const Node& n = g_.node(id);
    const IntValue* xi = int_of(n.inputs[0]);
    if (!xi) return std::nullopt;
    auto ys = evaluate_unary(g_, n, xi->grid.byte_values());
    if (!ys.is_ok()) return std::nullopt;
    std::vector<int64_t> table(256);
    for (size_t i = 0; i < 256; ++i) table[i] = y.quantize((*ys)[i]);
    return add_lut(xi->v, table, y.dtype, name);
  }

  // GlobalAveragePool of an integer tensor onto grid y: the window sum of (x - zp) times a
  // multiplier. Under a Trunc, the Trunc's multiplier (`trunc_multiplier`, a shift). Quantized
  // directly, fp32(x_scale / window) and then a division by y_scale, as the simulation's pool
  // (engine/exact_simulation.h) and its quantizer compute it.
  std::optional<ValueId> lower_global_pool(NodeId id, int64_t window, const IntGrid& y, const std::string& name,
                                           std::optional<double> trunc_multiplier) {
    const Node& n = g_.node(id);
    const IntValue* xi = int_of(n.inputs[0]);
    if (!xi) return std::nullopt;
    Attributes a;
    a.set("x_zero_point", static_cast<int64_t>(xi->grid.zero_point));
    add_requant_attrs(a, y);
    if (trunc_multiplier) {
      a.set("multiplier", static_cast<float>(*trunc_multiplier));
      a.erase("y_scale");
    } else {
      a.set("multiplier", lowering::DirectPool{id, window}.multiplier(xi->grid.scale));
    }
    ValueId v = new_value(name + "_q", y.dtype);
    g_.add_node(OpKind::kQAvgPool, n.name + "_int", {xi->v}, {v}, std::move(a));
    ++report_.integer_nodes;
    return v;
  }

  // GlobalAveragePool → Trunc (the `full` policy's average pool): a window sum and a shift.
  Status visit_trunc(NodeId id) {
    std::string reason;
    auto tp = lowering::trunc_pool(g_, id, &reason);
    if (!tp) {
      note_float(id, reason);
      return Status::ok();
    }
    const IntValue* xi = int_of(g_.node(tp->pool).inputs[0]);
    if (!xi) {
      note_float(id, "pool input is not quantized");
      return Status::ok();
    }
    const ValueId out = g_.node(id).outputs[0];
    auto v = lower_global_pool(tp->pool, tp->window, tp->y, g_.value(out).name, tp->multiplier(xi->grid.scale));
    if (!v) {
      note_float(id, "pool has no integer form");
      return Status::ok();
    }
    replaced_.insert(tp->pool);
    ++report_.lowered_nodes;
    return map(id, out, *v, tp->y);
  }

  Status visit_grid_preserving(NodeId id) {
    const Node& n = g_.node(id);
    const IntValue* xi = int_of(n.inputs[0]);
    if (!xi) return Status::ok();
    std::vector<ValueId> inputs = n.inputs;
    inputs[0] = xi->v;
    if (n.op == OpKind::kConcat) {
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        const IntValue* ii = int_of(n.inputs[i]);
        if (!ii || !ii->grid.same_as(xi->grid)) return Status::ok();
        inputs[i] = ii->v;
      }
    }
    const IntGrid grid = xi->grid;
    const ValueId out = n.outputs[0];
    ValueId v = new_value(g_.value(out).name + "_q", grid.dtype);
    g_.add_node(n.op, n.name + "_int", inputs, {v}, n.attrs);
    ++report_.lowered_nodes;
    return map(id, out, v, grid);
  }

  // Float readers of integer values get a DequantizeLinear; the replaced float nodes go.
  Status finish() {
    std::vector<std::pair<ValueId, IntValue>> needs_float;
    for (const auto& [fv, iv] : ints_) {
      report_.values.push_back({g_.value(fv).name, g_.value(iv.v).name, iv.grid.scale, iv.grid.zero_point});
      bool needed = g_.is_graph_output(fv);
      for (const Use& u : g_.value(fv).uses) needed = needed || !replaced_.count(u.node);
      if (needed && !kept_float_.count(fv)) needs_float.emplace_back(fv, iv);
    }
    for (NodeId id : replaced_) {
      if (g_.node(id).alive) g_.remove_node(id);
    }
    for (const auto& [fv, iv] : needs_float) {
      const std::string base = g_.value(fv).name;
      const auto [scale, zpv] = iv.grid.add_constants(g_, base);
      g_.add_node(OpKind::kDequantizeLinear, base + "_dequantize", {iv.v, scale, zpv}, {fv});
      ++report_.exits;
    }
    PassManager pm;
    pm.add(make_dead_code_elimination_pass());
    PassContext ctx;
    QE_RETURN_IF_ERROR(pm.run(g_, ctx, 1));
    return infer_shapes(g_);
  }
};

}  // namespace

Result<IntegerLoweringReport> lower_to_integer(Graph& g, const IntegerLoweringOptions& options) {
  QE_RETURN_IF_ERROR(infer_shapes(g));
  Lowering l(g, options);
  return l.run();
}

std::string format_lowering_report(const IntegerLoweringReport& r) {
  std::ostringstream os;
  os << "integer lowering: " << r.integer_nodes << " integer ops for " << r.lowered_nodes << " float ops, "
     << r.entries << " quantize entries, " << r.exits << " dequantize exits\n";
  for (const auto& f : r.float_nodes) os << "  stays float: " << f.node << ": " << f.reason << "\n";
  return os.str();
}

}  // namespace qe
