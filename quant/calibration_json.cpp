#include "quant/calibration_json.h"

#include <cmath>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "quant/calibrator_params.h"

namespace qe {

namespace {

using json = nlohmann::ordered_json;  // keys in the order written: id, node, role first

json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// A scalar for per-tensor tensors, a flat list otherwise.
json values(const Tensor& t) {
  if (!t.defined()) return nullptr;
  std::vector<float> v = t.to_float_vector();
  if (v.size() == 1) return v[0];
  return v;
}

json ranges_json(const std::vector<ObservedRange>& ranges) {
  if (ranges.empty()) return nullptr;
  if (ranges.size() == 1) {
    const ObservedRange& r = ranges[0];
    return {{"min", r.min}, {"max", r.max}, {"lo", r.lo}, {"hi", r.hi}};
  }
  json mn = json::array(), mx = json::array(), lo = json::array(), hi = json::array();
  for (const ObservedRange& r : ranges) {
    mn.push_back(r.min);
    mx.push_back(r.max);
    lo.push_back(r.lo);
    hi.push_back(r.hi);
  }
  return {{"min", mn}, {"max", mx}, {"lo", lo}, {"hi", hi}};
}

json params_json(const QuantParams& p) {
  json j = {{"kind", quant_kind_name(p.kind)}, {"bits", p.bits},          {"signed", p.is_signed},
            {"narrow", p.narrow},              {"axis", p.axis},          {"po2", p.po2},
            {"rounding_mode", rounding_mode_name(p.rounding)},
            {"scale", values(p.scale)},        {"zero_point", values(p.zero_point)}};
  if (p.group_size > 0) j["group_size"] = p.group_size;
  if (p.kind == QuantKind::kInt) {
    j["min_int"] = p.min_int();
    j["max_int"] = p.max_int();
  }
  return j;
}

}  // namespace

Result<std::string> calibration_json(const Graph& g, const QuantPlan& plan, const CalibrationResult& calib,
                                     const SqnrReport* sqnr, int indent) {
  QE_RETURN_IF_ERROR(validate_plan(g, plan));
  if (calib.quantizers.size() != plan.quantizers.size() || calib.truncs.size() != plan.truncs.size()) {
    return invalid_argument("calibration.json: the calibration result does not belong to this plan");
  }
  if (sqnr && sqnr->quantizers.size() != plan.quantizers.size()) {
    return invalid_argument("calibration.json: the SQNR report does not belong to this plan");
  }
  std::unordered_map<std::string, const LayerSqnr*> layer_by_node;
  if (sqnr) {
    for (const LayerSqnr& l : sqnr->layers) layer_by_node[l.node] = &l;
  }
  json quantizers = json::array();
  for (const PlannedQuantizer& q : plan.quantizers) {
    const QuantizerResult& r = calib.quantizers[static_cast<size_t>(q.id)];
    const QuantSpec& s = q.spec;
    json j = {{"id", q.id},
              {"node", q.owner != kNoNode ? g.node(q.owner).name : std::string()},
              {"op", q.owner != kNoNode ? std::string(op_name(g.node(q.owner).op)) : std::string()},
              {"role", quant_role_name(q.role)},
              {"value", g.value(q.value).name},
              {"enabled", s.enabled}};
    if (s.enabled) {
      j["symmetric"] = s.symmetric;
      j["granularity"] = granularity_name(s.granularity);
      j["scale_type"] = scale_type_name(s.scale_type);
      if (q.role != QuantRole::kBias) j["method"] = range_method_name(s.method);
      if (q.role != QuantRole::kBias && s.method == RangeMethod::kPercentile) j["percentile"] = s.percentile;
      if (q.channel_axis >= 0) j["channel_axis"] = q.channel_axis;
      if (q.share_group >= 0) {
        j["share_group"] = q.share_group;
        j["share_all"] = q.share_all;
      }
      if (q.role == QuantRole::kBias) {
        j["bias_input"] = q.bias_input;
        j["bias_weight"] = q.bias_weight;
      }
      if (!q.consumers.empty()) {
        json c = json::array();
        for (const Use& u : q.consumers) c.push_back(g.node(u.node).name);
        j["consumers"] = c;
      }
      if (r.params.scale.defined()) j.update(params_json(r.params));
      j["range"] = ranges_json(r.ranges);
    }
    if (sqnr) {
      j["sqnr_db"] = number(sqnr->quantizers[static_cast<size_t>(q.id)].sqnr_db);
      auto it = q.owner != kNoNode ? layer_by_node.find(g.node(q.owner).name) : layer_by_node.end();
      if (it != layer_by_node.end()) {
        j["weight_sqnr_db"] = number(it->second->weight_sqnr_db);
        j["output_sqnr_db"] = number(it->second->output_sqnr_db);
      }
    }
    quantizers.push_back(std::move(j));
  }
  json truncs = json::array();
  for (size_t t = 0; t < plan.truncs.size(); ++t) {
    const PlannedTrunc& pt = plan.truncs[t];
    const TruncResult& r = calib.truncs[t];
    json j = {{"node", g.node(pt.pool).name},
              {"op", op_name(g.node(pt.pool).op)},
              {"input_quantizer", pt.input_quantizer},
              {"window", pt.window},
              {"fallback", r.fallback}};
    if (r.fallback) {
      j["quantizer"] = params_json(r.fallback_params);
      j["range"] = ranges_json(r.fallback_ranges);
    } else {
      j.update({{"scale", values(r.scale)},
                {"zero_point", values(r.zero_point)},
                {"out_scale", values(r.out_scale)},
                {"in_bits", r.in_bits},
                {"out_bits", r.out_bits},
                {"shift", r.shift},
                {"signed", r.is_signed},
                {"narrow", r.narrow},
                {"rounding_mode", rounding_mode_name(r.rounding)}});
    }
    truncs.push_back(std::move(j));
  }
  json doc = {{"policy", plan.policy},
              {"keep_batch_norm", plan.keep_batch_norm},
              {"samples", calib.samples},
              {"batches", calib.batches},
              {"seconds", calib.seconds},
              {"observe_seconds", calib.observe_seconds},
              {"quantizers", quantizers},
              {"truncs", truncs}};
  if (sqnr) {
    json layers = json::array();
    for (const LayerSqnr& l : sqnr->layers) {
      layers.push_back({{"node", l.node},
                        {"op", l.op},
                        {"output", l.output},
                        {"weight_sqnr_db", number(l.weight_sqnr_db)},
                        {"output_sqnr_db", number(l.output_sqnr_db)}});
    }
    json outputs = json::array();
    for (const OutputSqnr& o : sqnr->outputs) outputs.push_back({{"name", o.name}, {"sqnr_db", number(o.sqnr_db)}});
    doc["sqnr"] = {{"samples", sqnr->samples},
                   {"batches", sqnr->batches},
                   {"output_sqnr_db", number(sqnr->output_sqnr_db)},
                   {"outputs", outputs},
                   {"layers", layers}};
  }
  return doc.dump(indent);
}

}  // namespace qe
