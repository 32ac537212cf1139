#include "quant/mixed/latency_table.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <unordered_map>


#include "engine/core/cpu_features.h"
#include "engine/core/text_file.h"
#include "engine/core/thread_pool.h"
#include "quant/lower_integer.h"
#include "quant/quantize_graph.h"
#include "quant/rules.h"
#include "quant/value_facts.h"

namespace qe {

namespace {

namespace fs = std::filesystem;

constexpr const char* kCacheFormat = "qengine-latency-table";
// 2: variants timed with interleaved runs; version-1 tables timed them one after another.
constexpr int kCacheVersion = 2;
// Random inputs the quantized variants are calibrated on: enough for valid ranges, which is all
// timing needs.
constexpr int kCalibrationBatches = 4;

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int resolved_threads(const LatencyOptions& o) { return o.num_threads > 0 ? o.num_threads : default_thread_count(); }

std::string cpu_brand() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    std::string brand = line.substr(colon + 1);
    const size_t first = brand.find_first_not_of(" \t");
    return first == std::string::npos ? "unknown CPU" : brand.substr(first);
  }
  return "unknown CPU";
}

Status check_options(const LatencyOptions& o) {
  if (o.runs < 1) return invalid_argument("latency table: runs must be >= 1 (got ", o.runs, ")");
  if (o.warmup < 0) return invalid_argument("latency table: warmup must be >= 0 (got ", o.warmup, ")");
  if (o.batch < 1) return invalid_argument("latency table: batch must be >= 1 (got ", o.batch, ")");
  return Status::ok();
}

Result<std::vector<int>> normalized_bits(const std::vector<int>& bits) {
  if (bits.empty()) return invalid_argument("latency table: no bit widths given");
  for (int b : bits) {
    if (b < 2 || b > 8) return invalid_argument("latency table: ", b, " bits is outside the integer kernels' 2..8");
  }
  std::vector<int> out = bits;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// The requested layers, checked against the graph's compute nodes (all of them when empty).
Result<std::vector<std::string>> resolve_layers(const Graph& g, const std::vector<std::string>& layers) {
  QE_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.topological_order());
  std::vector<std::string> compute;
  std::map<std::string, int> count;
  for (NodeId id : order) {
    const Node& n = g.node(id);
    if (!is_compute_op(n.op)) continue;
    compute.push_back(n.name);
    ++count[n.name];
  }
  std::vector<std::string> out = layers.empty() ? compute : layers;
  std::set<std::string> seen;
  for (const std::string& name : out) {
    auto it = count.find(name);
    if (name.empty()) return invalid_argument("latency table: a compute layer has no name (layers are named nodes)");
    if (it == count.end()) {
      return not_found("latency table: no compute layer (Conv, ConvTranspose, Gemm, MatMul) named '", name,
                       "' in the float graph");
    }
    if (it->second > 1) return invalid_argument("latency table: ", it->second, " compute nodes are named '", name, "'");
    if (!seen.insert(name).second) return invalid_argument("latency table: layer '", name, "' is listed twice");
  }
  return out;
}

Result<std::vector<Shape>> input_shapes(const Graph& g, int64_t batch) {
  std::vector<Shape> shapes;
  for (ValueId id : g.inputs()) {
    const Value& v = g.value(id);
    if (!v.shape_known) return invalid_argument("latency table: input '", v.name, "' has no declared shape");
    Shape s = v.shape;
    for (size_t d = 0; d < s.rank(); ++d) {
      if (d == 0 && s[d] < 0) s[d] = batch;
      if (s[d] < 0) return invalid_argument("latency table: input '", v.name, "' has an unknown dimension ", d);
    }
    if (s.rank() > 0 && s[0] != batch) {
      return invalid_argument("latency table: input '", v.name, "' has a fixed batch of ", s[0], ", asked for ", batch);
    }
    shapes.push_back(s);
  }
  return shapes;
}

std::vector<Tensor> random_inputs(const Graph& g, const std::vector<Shape>& shapes, uint64_t seed) {
  std::vector<Tensor> inputs;
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < shapes.size(); ++i) {
    const DType dtype = g.value(g.inputs()[i]).dtype;
    Tensor t(dtype, shapes[i]);
    if (dtype == DType::kF32) {
      std::normal_distribution<float> dist(0.f, 1.f);
      for (int64_t e = 0; e < t.numel(); ++e) t.data<float>()[e] = dist(rng);
    } else {
      for (int64_t e = 0; e < t.numel(); ++e) write_element_from_double(t.raw(), dtype, e, static_cast<double>(rng() % 4));
    }
    inputs.push_back(std::move(t));
  }
  return inputs;
}

// The fake-quant graph of the whole model at `bits`: per-channel weights and every activation at
// `bits`, minmax ranges (timing does not care about range quality), no bias correction.
Result<Graph> quantize_uniform(const Graph& g, int bits, const std::vector<std::vector<Tensor>>& calib, int threads) {
  RuleSet rules = default_rule_set();
  QuantFlags flags;
  flags.w_bits = bits;
  flags.a_bits = bits;
  flags.per_channel = true;
  flags.a_method = "minmax";
  QE_RETURN_IF_ERROR(apply_flags(rules, flags));
  rules.algorithms.bias_correction = false;
  rules.algorithms.equalize_iterations = 0;  // rescales weights only: no effect on latency
  return quantize_graph(g, rules, "full", batch_list_passes(calib), threads);
}

struct VariantTiming {
  std::vector<LayerNodes> layer_nodes;
  std::vector<double> layer_us;  // median per layer
  double total_us = 0;
  double attributed_us = 0;
};

// Charges each run's node times to the layers and takes medians.
Result<VariantTiming> charge_layers(const NodeTimes& t, std::vector<LayerNodes> layer_nodes,
                                    const std::vector<std::string>& layers) {
  std::unordered_map<std::string, std::vector<size_t>> index;
  for (size_t i = 0; i < t.nodes.size(); ++i) index[t.nodes[i]].push_back(i);
  std::vector<std::vector<size_t>> steps(layer_nodes.size());
  std::set<size_t> charged;
  for (size_t l = 0; l < layer_nodes.size(); ++l) {
    for (const std::string& name : layer_nodes[l].nodes) {
      auto it = index.find(name);
      if (it == index.end()) return internal_error("latency table: node '", name, "' of layer '", layers[l], "' did not run");
      if (it->second.size() != 1) return internal_error("latency table: ", it->second.size(), " plan nodes are named '", name, "'");
      if (!charged.insert(it->second[0]).second) {
        return internal_error("latency table: node '", name, "' is charged to two layers");
      }
      steps[l].push_back(it->second[0]);
    }
  }
  VariantTiming v;
  v.layer_nodes = std::move(layer_nodes);
  std::vector<double> attributed(t.us.size(), 0.0);
  for (size_t l = 0; l < steps.size(); ++l) {
    std::vector<double> per_run;
    for (size_t r = 0; r < t.us.size(); ++r) {
      double us = 0;
      for (size_t s : steps[l]) us += t.us[r][s];
      per_run.push_back(us);
      attributed[r] += us;
    }
    v.layer_us.push_back(median_of(per_run));
  }
  v.total_us = median_of(t.whole_run_us);
  v.attributed_us = median_of(attributed);
  return v;
}

// A variant ready to time: its session and the plan nodes each layer became.
struct PreparedVariant {
  std::unique_ptr<Session> session;
  std::vector<LayerNodes> layer_nodes;
};

Result<PreparedVariant> prepare_variant(Graph g, const Graph* fake_quant, const IntegerLoweringReport* lowering,
                                        const std::vector<std::string>& layers, const std::vector<Shape>& shapes,
                                        const LatencyOptions& o) {
  SessionOptions so;
  so.num_threads = resolved_threads(o);
  PreparedVariant v;
  QE_ASSIGN_OR_RETURN(v.session, Session::create(std::move(g), so));
  QE_ASSIGN_OR_RETURN(Graph plan, v.session->specialized_graph(shapes));
  QE_ASSIGN_OR_RETURN(v.layer_nodes, attribute_layer_nodes(plan, layers, fake_quant, lowering));
  return v;
}

// One observed run, appended to `t` (the first run sets the node list, later ones must match).
Status time_one_run(Session& s, const std::vector<Tensor>& inputs, NodeTimes& t) {
  using clock = std::chrono::steady_clock;
  std::vector<std::string> names;
  std::vector<double> us;
  NodeId last_node = kNoNode;
  const auto start = clock::now();
  auto last = start;
  // A node reports each of its outputs in turn; its first report ends it.
  auto result = s.run_observed(inputs, [&](const Graph& g, ValueId v, const TensorView&) {
    const NodeId producer = g.value(v).producer;
    if (producer == last_node) return;
    const auto now = clock::now();
    names.push_back(g.node(producer).name);
    us.push_back(std::chrono::duration<double, std::micro>(now - last).count());
    last = now;
    last_node = producer;
  });
  const auto end = clock::now();
  QE_RETURN_IF_ERROR(result.status());
  if (t.us.empty()) {
    t.nodes = std::move(names);
  } else if (names != t.nodes) {
    return internal_error("latency table: the plan ran different nodes in two runs");
  }
  t.us.push_back(std::move(us));
  t.whole_run_us.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  return Status::ok();
}

// --- JSON helpers: every read names the field, so a hand-edited or truncated file says where.

Result<double> number_at(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return parse_error("latency table: ", where, key, " is missing or not a number");
  return it->get<double>();
}

Result<std::map<int, double>> bits_map_from_json(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_object()) return parse_error("latency table: ", where, key, " is missing or not an object");
  std::map<int, double> out;
  for (auto e = it->begin(); e != it->end(); ++e) {
    char* end = nullptr;
    const long bits = std::strtol(e.key().c_str(), &end, 10);
    if (e.key().empty() || *end != '\0' || bits < 1 || bits > 32 || !e.value().is_number()) {
      return parse_error("latency table: ", where, key, ": entry '", e.key(), "' is not <bits>: <number>");
    }
    out[static_cast<int>(bits)] = e.value().get<double>();
  }
  return out;
}

nlohmann::json bits_map_to_json(const std::map<int, double>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [bits, us] : m) j[std::to_string(bits)] = us;
  return j;
}

// FNV-1a: a stable file name for the key; the full key inside the file guards against collisions.
std::string hash_hex(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

Result<std::string> cache_key(const Graph& g, const std::vector<std::string>& layers, const std::vector<int>& bits,
                              const LatencyOptions& o, const std::string& machine) {
  std::ostringstream k;
  k << kCacheFormat << " v" << kCacheVersion << "\nmachine " << machine << "\nbatch " << o.batch << "\nthreads "
    << resolved_threads(o) << "\nbits";
  for (int b : bits) k << " " << b;
  k << "\ninputs";
  for (ValueId id : g.inputs()) k << " " << g.value(id).name << (g.value(id).shape_known ? g.value(id).shape.to_string() : "?");
  QE_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.topological_order());
  for (NodeId id : order) {
    const Node& n = g.node(id);
    if (!is_compute_op(n.op)) continue;
    k << "\ncompute " << n.name << " " << op_name(n.op) << " ";
    const bool has_weight = n.inputs.size() > 1 && n.inputs[1] != kNoValue && g.value(n.inputs[1]).is_constant();
    k << (has_weight ? g.value(n.inputs[1]).constant.shape().to_string() : "-");
  }
  k << "\nlayers";
  for (const std::string& l : layers) k << " " << l;
  return k.str();
}

Status write_atomically(const fs::path& path, const std::string& text) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return io_error("cannot create '", path.parent_path().string(), "': ", ec.message());
  return write_text_file_atomically(path.string(), text);
}

// The cached table, or nullopt (with a warning unless the file is simply absent).
std::optional<LatencyTable> read_cache(const fs::path& path, const std::string& key, std::vector<std::string>& warnings) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  const std::string ignored = "latency cache '" + path.string() + "' ignored, measuring again: ";
  Result<std::string> text = read_text_file(path.string());
  if (!text.is_ok()) {
    warnings.push_back(ignored + text.status().message());
    return std::nullopt;
  }
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    warnings.push_back(ignored + "not valid JSON");
    return std::nullopt;
  }
  auto format = j.find("format");
  auto version = j.find("version");
  if (format == j.end() || *format != kCacheFormat || version == j.end() || *version != kCacheVersion) {
    warnings.push_back(ignored + "not a version " + std::to_string(kCacheVersion) + " latency table");
    return std::nullopt;
  }
  auto stored_key = j.find("key");
  if (stored_key == j.end() || !stored_key->is_string() || stored_key->get<std::string>() != key) {
    warnings.push_back(ignored + "it was measured for another model or setting");
    return std::nullopt;
  }
  auto table = j.find("table");
  if (table == j.end()) {
    warnings.push_back(ignored + "no table");
    return std::nullopt;
  }
  auto t = latency_table_from_json(*table);
  if (!t.is_ok()) {
    warnings.push_back(ignored + t.status().message());
    return std::nullopt;
  }
  return std::move(t).value();
}

// A QLut that moves a value onto another grid (identity in real values) rather than computing
// a unary op: the value it writes is a FakeQuant of the value it reads.
bool is_requantize_lut(const Graph& plan, const Node& lut, const Graph& fake_quant,
                       const std::unordered_multimap<std::string, std::string>& float_of_int) {
  const std::string& in = plan.value(lut.inputs[0]).name;
  const std::string& out = plan.value(lut.outputs[0]).name;
  auto outs = float_of_int.equal_range(out);
  for (auto o = outs.first; o != outs.second; ++o) {
    const ValueId fv = fake_quant.find_value(o->second);
    if (fv == kNoValue || fake_quant.value(fv).producer == kNoNode) continue;
    const Node& fq = fake_quant.node(fake_quant.value(fv).producer);
    if (fq.op != OpKind::kFakeQuant || fq.inputs.empty() || fq.inputs[0] == kNoValue) continue;
    const std::string& fq_input = fake_quant.value(fq.inputs[0]).name;
    auto ins = float_of_int.equal_range(in);
    for (auto i = ins.first; i != ins.second; ++i) {
      if (i->second == fq_input) return true;
    }
  }
  return false;
}

}  // namespace

bool LayerLatency::operator==(const LayerLatency& o) const {
  return layer == o.layer && float_us == o.float_us && us_by_bits == o.us_by_bits &&
         float_fallback_bits == o.float_fallback_bits && nodes_by_bits == o.nodes_by_bits;
}

bool LatencyTable::operator==(const LatencyTable& o) const {
  return machine == o.machine && batch == o.batch && num_threads == o.num_threads && runs == o.runs &&
         layers == o.layers && float_total_us == o.float_total_us && total_us_by_bits == o.total_us_by_bits &&
         float_attributed_us == o.float_attributed_us && attributed_us_by_bits == o.attributed_us_by_bits;
}

std::string latency_machine_string(int num_threads) {
  return cpu_brand() + " | isa=" + isa_level_name(cpu_features().level) + " | " + std::to_string(num_threads) +
         " threads";
}

Result<NodeTimes> time_session_nodes(Session& s, const std::vector<Tensor>& inputs, int runs, int warmup) {
  QE_ASSIGN_OR_RETURN(std::vector<NodeTimes> t, time_sessions_interleaved({&s}, inputs, runs, warmup));
  return std::move(t.front());
}

Result<std::vector<NodeTimes>> time_sessions_interleaved(const std::vector<Session*>& sessions,
                                                         const std::vector<Tensor>& inputs, int runs, int warmup) {
  for (Session* s : sessions) {
    for (int i = 0; i < warmup; ++i) QE_RETURN_IF_ERROR(s->run(inputs).status());
  }
  std::vector<NodeTimes> t(sessions.size());
  for (int r = 0; r < runs; ++r) {
    for (size_t k = 0; k < sessions.size(); ++k) QE_RETURN_IF_ERROR(time_one_run(*sessions[k], inputs, t[k]));
  }
  return t;
}

Result<std::vector<LayerNodes>> attribute_layer_nodes(const Graph& plan, const std::vector<std::string>& layers,
                                                      const Graph* fake_quant, const IntegerLoweringReport* lowering) {
  if ((fake_quant == nullptr) != (lowering == nullptr)) {
    return internal_error("attribute_layer_nodes: give both the fake-quant graph and its lowering report, or neither");
  }
  std::unordered_map<std::string, NodeId> by_name;
  for (size_t i = 0; i < plan.num_nodes(); ++i) {
    const Node& n = plan.node(static_cast<NodeId>(i));
    if (n.alive) by_name.emplace(n.name, n.id);
  }
  std::unordered_multimap<std::string, std::string> float_of_int;
  if (lowering) {
    for (const auto& v : lowering->values) float_of_int.emplace(v.int_name, v.float_name);
  }
  auto only_feeds = [&](ValueId v, NodeId consumer) {
    const Value& val = plan.value(v);
    return val.uses.size() == 1 && val.uses[0].node == consumer && !plan.is_graph_output(v);
  };
  std::vector<LayerNodes> out;
  for (const std::string& layer : layers) {
    LayerNodes ln;
    auto integer = fake_quant ? by_name.find(layer + "_int") : by_name.end();
    if (integer != by_name.end() &&
        (plan.node(integer->second).op == OpKind::kQConv || plan.node(integer->second).op == OpKind::kQGemm)) {
      ln.nodes.push_back(layer + "_int");
      // Walk up the data input through the entry / requantization nodes that exist for this layer alone.
      NodeId cur = integer->second;
      while (!plan.node(cur).inputs.empty()) {
        const ValueId x = plan.node(cur).inputs[0];
        if (x == kNoValue || plan.value(x).producer == kNoNode || !only_feeds(x, cur)) break;
        const Node& p = plan.node(plan.value(x).producer);
        if (p.op == OpKind::kQuantizeLinear) {
          ln.nodes.push_back(p.name);
          break;  // its input is float: the region starts here
        }
        if (p.op != OpKind::kQLut || p.inputs.empty() || p.inputs[0] == kNoValue) break;
        const ValueId lut_in = p.inputs[0];
        const bool after_entry = plan.value(lut_in).producer != kNoNode &&
                                 plan.node(plan.value(lut_in).producer).op == OpKind::kQuantizeLinear;
        if (!after_entry && !is_requantize_lut(plan, p, *fake_quant, float_of_int)) break;
        ln.nodes.push_back(p.name);
        cur = p.id;
      }
    } else {
      auto f = by_name.find(layer);
      if (f == by_name.end() || !is_compute_op(plan.node(f->second).op)) {
        return internal_error("latency table: layer '", layer, "' is neither '", layer, "_int' nor a float '", layer,
                              "' in the ", fake_quant ? "integer" : "float", " plan");
      }
      ln.nodes.push_back(layer);
      ln.stayed_float = fake_quant != nullptr;
    }
    out.push_back(std::move(ln));
  }
  return out;
}

Result<LatencyTable> measure_layer_latency(const Graph& canonical_float_graph, const std::vector<std::string>& layers,
                                           const std::vector<int>& bits, const LatencyOptions& o) {
  QE_RETURN_IF_ERROR(check_options(o));
  QE_ASSIGN_OR_RETURN(std::vector<int> widths, normalized_bits(bits));
  QE_ASSIGN_OR_RETURN(std::vector<std::string> names, resolve_layers(canonical_float_graph, layers));
  QE_ASSIGN_OR_RETURN(std::vector<Shape> shapes, input_shapes(canonical_float_graph, o.batch));
  const int threads = resolved_threads(o);
  const std::vector<Tensor> inputs = random_inputs(canonical_float_graph, shapes, 1234);
  std::vector<std::vector<Tensor>> calib;
  for (int i = 0; i < kCalibrationBatches; ++i) calib.push_back(random_inputs(canonical_float_graph, shapes, 99 + i));

  LatencyTable table;
  table.machine = latency_machine_string(threads);
  table.batch = o.batch;
  table.num_threads = threads;
  table.runs = o.runs;
  table.layers.resize(names.size());
  for (size_t l = 0; l < names.size(); ++l) table.layers[l].layer = names[l];

  // Prepare every variant (float first), then time them together.
  std::vector<PreparedVariant> prepared;
  const int variants = 1 + static_cast<int>(widths.size());
  auto fl = prepare_variant(canonical_float_graph, nullptr, nullptr, names, shapes, o);
  if (!fl.is_ok()) return fl.status().with_context("latency table: float: ");
  prepared.push_back(std::move(fl).value());
  if (o.progress) o.progress(1, variants + 1);
  for (int b : widths) {
    const std::string what = "latency table: " + std::to_string(b) + "-bit: ";
    auto q = quantize_uniform(canonical_float_graph, b, calib, threads);
    if (!q.is_ok()) return q.status().with_context(what);
    Graph lowered = *q;
    auto report = lower_to_integer(lowered);
    if (!report.is_ok()) return report.status().with_context(what + "integer lowering: ");
    auto v = prepare_variant(std::move(lowered), &*q, &*report, names, shapes, o);
    if (!v.is_ok()) return v.status().with_context(what);
    prepared.push_back(std::move(v).value());
    if (o.progress) o.progress(static_cast<int>(prepared.size()), variants + 1);
  }
  std::vector<Session*> sessions;
  for (PreparedVariant& v : prepared) sessions.push_back(v.session.get());
  auto times = time_sessions_interleaved(sessions, inputs, o.runs, o.warmup);
  if (!times.is_ok()) return times.status().with_context("latency table: ");
  for (size_t k = 0; k < prepared.size(); ++k) {
    const std::string what = k == 0 ? "latency table: float: " : "latency table: " + std::to_string(widths[k - 1]) + "-bit: ";
    auto v = charge_layers((*times)[k], std::move(prepared[k].layer_nodes), names);
    if (!v.is_ok()) return v.status().with_context(what);
    if (k == 0) {
      table.float_total_us = v->total_us;
      table.float_attributed_us = v->attributed_us;
      for (size_t l = 0; l < names.size(); ++l) table.layers[l].float_us = v->layer_us[l];
      continue;
    }
    const int b = widths[k - 1];
    table.total_us_by_bits[b] = v->total_us;
    table.attributed_us_by_bits[b] = v->attributed_us;
    for (size_t l = 0; l < names.size(); ++l) {
      LayerLatency& ll = table.layers[l];
      ll.us_by_bits[b] = v->layer_us[l];
      ll.nodes_by_bits[b] = v->layer_nodes[l].nodes;
      if (v->layer_nodes[l].stayed_float) ll.float_fallback_bits.push_back(b);
    }
  }
  if (o.progress) o.progress(variants + 1, variants + 1);
  return table;
}

Result<LatencyTable> load_or_measure_layer_latency(const Graph& g, const std::vector<std::string>& layers,
                                                   const std::vector<int>& bits, const LatencyOptions& o,
                                                   const std::string& cache_dir, LatencyCacheInfo* info) {
  LatencyCacheInfo local;
  LatencyCacheInfo& inf = info ? *info : local;
  inf = LatencyCacheInfo{};
  QE_RETURN_IF_ERROR(check_options(o));
  QE_ASSIGN_OR_RETURN(std::vector<int> widths, normalized_bits(bits));
  QE_ASSIGN_OR_RETURN(std::vector<std::string> names, resolve_layers(g, layers));
  if (cache_dir.empty()) return invalid_argument("latency table: no cache directory given");
  QE_ASSIGN_OR_RETURN(std::string key, cache_key(g, names, widths, o, latency_machine_string(resolved_threads(o))));
  const fs::path path = fs::path(cache_dir) / (hash_hex(key) + ".json");
  inf.path = path.string();
  if (auto cached = read_cache(path, key, inf.warnings)) {
    inf.hit = true;
    return std::move(*cached);
  }
  QE_ASSIGN_OR_RETURN(LatencyTable table, measure_layer_latency(g, names, widths, o));
  nlohmann::json file = {{"format", kCacheFormat}, {"version", kCacheVersion}, {"key", key},
                         {"table", latency_table_to_json(table)}};
  Status written = write_atomically(path, file.dump(1));
  if (!written.is_ok()) inf.warnings.push_back("latency cache not written: " + written.message());
  return table;
}

std::string default_latency_cache_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return (fs::path(xdg) / "qengine" / "latency").string();
  const char* home = std::getenv("HOME");
  if (home && *home) return (fs::path(home) / ".cache" / "qengine" / "latency").string();
  std::error_code ec;
  const fs::path tmp = fs::temp_directory_path(ec);
  return ((ec ? fs::path("/tmp") : tmp) / "qengine" / "latency").string();
}

nlohmann::json latency_table_to_json(const LatencyTable& t) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerLatency& l : t.layers) {
    nlohmann::json nodes = nlohmann::json::object();
    for (const auto& [bits, list] : l.nodes_by_bits) nodes[std::to_string(bits)] = list;
    layers.push_back({{"layer", l.layer},
                      {"float_us", l.float_us},
                      {"us_by_bits", bits_map_to_json(l.us_by_bits)},
                      {"float_fallback_bits", l.float_fallback_bits},
                      {"nodes_by_bits", nodes}});
  }
  return {{"machine", t.machine},
          {"batch", t.batch},
          {"num_threads", t.num_threads},
          {"runs", t.runs},
          {"float_total_us", t.float_total_us},
          {"float_attributed_us", t.float_attributed_us},
          {"total_us_by_bits", bits_map_to_json(t.total_us_by_bits)},
          {"attributed_us_by_bits", bits_map_to_json(t.attributed_us_by_bits)},
          {"layers", layers}};
}

Result<LatencyTable> latency_table_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return parse_error("latency table: not a JSON object");
  LatencyTable t;
  auto machine = j.find("machine");
  if (machine == j.end() || !machine->is_string()) return parse_error("latency table: machine is missing or not a string");
  t.machine = machine->get<std::string>();
  QE_ASSIGN_OR_RETURN(double batch, number_at(j, "batch", ""));
  QE_ASSIGN_OR_RETURN(double threads, number_at(j, "num_threads", ""));
  QE_ASSIGN_OR_RETURN(double runs, number_at(j, "runs", ""));
  t.batch = static_cast<int64_t>(batch);
  t.num_threads = static_cast<int>(threads);
  t.runs = static_cast<int>(runs);
  QE_ASSIGN_OR_RETURN(t.float_total_us, number_at(j, "float_total_us", ""));
  QE_ASSIGN_OR_RETURN(t.float_attributed_us, number_at(j, "float_attributed_us", ""));
  QE_ASSIGN_OR_RETURN(t.total_us_by_bits, bits_map_from_json(j, "total_us_by_bits", ""));
  QE_ASSIGN_OR_RETURN(t.attributed_us_by_bits, bits_map_from_json(j, "attributed_us_by_bits", ""));
  auto layers = j.find("layers");
  if (layers == j.end() || !layers->is_array()) return parse_error("latency table: layers is missing or not an array");
  for (size_t i = 0; i < layers->size(); ++i) {
    const nlohmann::json& lj = (*layers)[i];
    const std::string where = "layers[" + std::to_string(i) + "].";
    if (!lj.is_object()) return parse_error("latency table: ", where, " is not an object");
    LayerLatency l;
    auto name = lj.find("layer");
    if (name == lj.end() || !name->is_string()) return parse_error("latency table: ", where, "layer is missing or not a string");
    l.layer = name->get<std::string>();
    QE_ASSIGN_OR_RETURN(l.float_us, number_at(lj, "float_us", where));
    QE_ASSIGN_OR_RETURN(l.us_by_bits, bits_map_from_json(lj, "us_by_bits", where));
    auto fallback = lj.find("float_fallback_bits");
    if (fallback == lj.end() || !fallback->is_array()) {
      return parse_error("latency table: ", where, "float_fallback_bits is missing or not an array");
    }
    for (const nlohmann::json& b : *fallback) {
      if (!b.is_number_integer()) return parse_error("latency table: ", where, "float_fallback_bits holds a non-integer");
      l.float_fallback_bits.push_back(b.get<int>());
    }
    auto nodes = lj.find("nodes_by_bits");
    if (nodes == lj.end() || !nodes->is_object()) {
      return parse_error("latency table: ", where, "nodes_by_bits is missing or not an object");
    }
    for (auto e = nodes->begin(); e != nodes->end(); ++e) {
      const int bits = std::atoi(e.key().c_str());
      if (bits < 1 || std::to_string(bits) != e.key() || !e.value().is_array()) {
        return parse_error("latency table: ", where, "nodes_by_bits: entry '", e.key(), "' is not <bits>: [names]");
      }
      std::vector<std::string>& list = l.nodes_by_bits[bits];
      for (const nlohmann::json& n : e.value()) {
        if (!n.is_string()) return parse_error("latency table: ", where, "nodes_by_bits holds a non-string");
        list.push_back(n.get<std::string>());
      }
    }
    t.layers.push_back(std::move(l));
  }
  return t;
}

}  // namespace qe
