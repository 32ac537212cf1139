// The rule file's "algorithms" object (see docs/config.md):
//   "algorithms": {
//     "equalize": true | false | {"iterations": 20, "merge_bias": true},
//     "split_channels": false | {"ratio": 0.02, "side": "input"},
//     "smoothquant": true | false | {"alpha": 0.5},
//     "bias_correction": true | false,
//     "gptq": true | false | {"act_order": false, "damp": 0.01, "block_size": 128},
//     "gpfq": true | false | {"damp": 0.01},
//     "adaround": true | false | {"iterations": 1000, "reg_weight": 0.01, "blocks": false,
//                   "block_iterations": 300}
//   }
#include "quant/ptq_config.h"
#include "quant/rules_internal.h"

namespace qe {

std::string_view weight_rounding_name(WeightRoundingAlgorithm a) {
  switch (a) {
    case WeightRoundingAlgorithm::kNearest: return "nearest";
    case WeightRoundingAlgorithm::kGptq: return "gptq";
    case WeightRoundingAlgorithm::kGpfq: return "gpfq";
    case WeightRoundingAlgorithm::kAdaRound: return "adaround";
  }
  return "?";
}

namespace rules_detail {

namespace {

// `true` / `false`, or an object of settings (which switches the algorithm on).
Result<bool> switch_or_object(const Json& j, const Where& at, const std::vector<std::string>& keys) {
  if (j.is_boolean()) return j.get<bool>();
  if (!j.is_object()) return at.error("expected true, false or an object, got ", describe_json(j));
  QE_RETURN_IF_ERROR(check_keys(j, at, keys));
  return true;
}

Result<double> number_in_range(const Json& j, const Where& at, double lo, double hi, bool lo_open) {
  QE_ASSIGN_OR_RETURN(double v, get_number(j, at));
  if (v < lo || v > hi || (lo_open && v == lo)) {
    return at.error(v, " is outside ", lo_open ? "(" : "[", lo, ", ", hi, "]");
  }
  return v;
}

Status set_rounding(PtqConfig& c, WeightRoundingAlgorithm a, const Where& at) {
  if (c.rounding != WeightRoundingAlgorithm::kNearest && c.rounding != a) {
    return at.error("only one of gptq, gpfq and adaround can be on (", weight_rounding_name(c.rounding),
                    " is on already)");
  }
  c.rounding = a;
  return Status::ok();
}

}  // namespace

Status parse_ptq_config(const Json& j, const Where& at, PtqConfig& c) {
  QE_RETURN_IF_ERROR(expect_object(j, at));
  QE_RETURN_IF_ERROR(check_keys(j, at, {"equalize", "split_channels", "smoothquant", "bias_correction", "gptq", "gpfq",
                                        "adaround"}));
  if (j.contains("equalize")) {
    const Where w = at.key("equalize");
    QE_ASSIGN_OR_RETURN(bool on, switch_or_object(j["equalize"], w, {"iterations", "merge_bias"}));
    c.equalize_iterations = on ? 20 : 0;
    if (on && j["equalize"].is_object()) {
      const Json& o = j["equalize"];
      if (o.contains("iterations")) {
        QE_ASSIGN_OR_RETURN(int64_t it, get_int(o["iterations"], w.key("iterations")));
        if (it < 1 || it > 1000) return w.key("iterations").error(it, " is outside 1..1000");
        c.equalize_iterations = static_cast<int>(it);
      }
      if (o.contains("merge_bias")) {
        QE_ASSIGN_OR_RETURN(c.merge_bias, get_bool(o["merge_bias"], w.key("merge_bias")));
      }
    }
  }
  if (j.contains("split_channels")) {
    const Where w = at.key("split_channels");
    QE_ASSIGN_OR_RETURN(bool on, switch_or_object(j["split_channels"], w, {"ratio", "side"}));
    c.split_ratio = on ? 0.02 : 0;
    if (on && j["split_channels"].is_object()) {
      const Json& o = j["split_channels"];
      if (o.contains("ratio")) {
        QE_ASSIGN_OR_RETURN(c.split_ratio, number_in_range(o["ratio"], w.key("ratio"), 0, 1, true));
      }
      if (o.contains("side")) {
        QE_ASSIGN_OR_RETURN(std::string side, get_enum(o["side"], w.key("side"), {"input", "output"}));
        c.split_output_side = side == "output";
      }
    }
  }
  if (j.contains("smoothquant")) {
    const Where w = at.key("smoothquant");
    QE_ASSIGN_OR_RETURN(bool on, switch_or_object(j["smoothquant"], w, {"alpha"}));
    c.smoothquant_alpha = on ? 0.5 : -1;
    if (on && j["smoothquant"].is_object() && j["smoothquant"].contains("alpha")) {
      QE_ASSIGN_OR_RETURN(c.smoothquant_alpha, number_in_range(j["smoothquant"]["alpha"], w.key("alpha"), 0, 1, false));
    }
  }
  if (j.contains("bias_correction")) {
    QE_ASSIGN_OR_RETURN(c.bias_correction, get_bool(j["bias_correction"], at.key("bias_correction")));
  }
  if (j.contains("gptq")) {
    const Where w = at.key("gptq");
    QE_ASSIGN_OR_RETURN(bool on, switch_or_object(j["gptq"], w, {"act_order", "damp", "block_size"}));
    if (on) {
      QE_RETURN_IF_ERROR(set_rounding(c, WeightRoundingAlgorithm::kGptq, w));
      const Json& o = j["gptq"];
      if (o.is_object() && o.contains("act_order")) {
        QE_ASSIGN_OR_RETURN(c.gptq_act_order, get_bool(o["act_order"], w.key("act_order")));
      }
      if (o.is_object() && o.contains("damp")) {
        QE_ASSIGN_OR_RETURN(c.gptq_damp, number_in_range(o["damp"], w.key("damp"), 0, 1, true));
      }
      if (o.is_object() && o.contains("block_size")) {
        QE_ASSIGN_OR_RETURN(c.gptq_block_size, get_int(o["block_size"], w.key("block_size")));
        if (c.gptq_block_size < 1) return w.key("block_size").error(c.gptq_block_size, " is below 1");
      }
    }
  }
  if (j.contains("gpfq")) {
    const Where w = at.key("gpfq");
    QE_ASSIGN_OR_RETURN(bool on, switch_or_object(j["gpfq"], w, {"damp"}));
    if (on) {
      QE_RETURN_IF_ERROR(set_rounding(c, WeightRoundingAlgorithm::kGpfq, w));
      if (j["gpfq"].is_object() && j["gpfq"].contains("damp")) {
        QE_ASSIGN_OR_RETURN(c.gpfq_damp, number_in_range(j["gpfq"]["damp"], w.key("damp"), 0, 1, true));
      }
    }
  }
  if (j.contains("adaround")) {
    const Where w = at.key("adaround");
    QE_ASSIGN_OR_RETURN(bool on, switch_or_object(j["adaround"], w, {"iterations", "reg_weight", "blocks", "block_iterations"}));
    if (on) {
      QE_RETURN_IF_ERROR(set_rounding(c, WeightRoundingAlgorithm::kAdaRound, w));
      const Json& o = j["adaround"];
      if (o.is_object() && o.contains("iterations")) {
        QE_ASSIGN_OR_RETURN(int64_t it, get_int(o["iterations"], w.key("iterations")));
        if (it < 1 || it > 100000) return w.key("iterations").error(it, " is outside 1..100000");
        c.adaround_iterations = static_cast<int>(it);
      }
      if (o.is_object() && o.contains("reg_weight")) {
        QE_ASSIGN_OR_RETURN(c.adaround_reg_weight, number_in_range(o["reg_weight"], w.key("reg_weight"), 0, 100, false));
      }
      if (o.is_object() && o.contains("blocks")) {
        if (!o["blocks"].is_boolean()) return w.key("blocks").error("expected true or false");
        c.adaround_blocks = o["blocks"].get<bool>();
      }
      if (o.is_object() && o.contains("block_iterations")) {
        QE_ASSIGN_OR_RETURN(int64_t it, get_int(o["block_iterations"], w.key("block_iterations")));
        if (it < 1 || it > 100000) return w.key("block_iterations").error(it, " is outside 1..100000");
        c.adaround_block_iterations = static_cast<int>(it);
      }
    }
  }
  return Status::ok();
}

}  // namespace rules_detail

}  // namespace qe
