// What the user asked for, per quantizer role, after the rule file and the command-line flags
// are resolved for one node. Plain data; quant/rules.h produces it, the policies place
// quantizers with it, the calibrator turns it into QuantParams.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/status.h"
#include "graph/quant_params.h"

namespace qe {

// How the range of a tensor is found. Weights: kAbsMax (default), kMinMax, kMse.
// Activations: kPercentile (default), kMinMax, kMse, kEntropy.
enum class RangeMethod { kMinMax, kAbsMax, kPercentile, kMse, kEntropy };
enum class Granularity { kPerTensor, kPerChannel, kPerGroup };
// kAuto: unsigned when the value is known non-negative (after Relu, Sigmoid, Clip(min >= 0)...).
enum class Signedness { kAuto, kSigned, kUnsigned };
enum class ScaleType { kFloat, kPo2 };  // po2: scale = 2^ceil(log2(s)) (Brevitas)

std::string_view range_method_name(RangeMethod m);      // "minmax", "absmax", "percentile", "mse", "entropy"
Result<RangeMethod> parse_range_method(std::string_view s);
std::string_view granularity_name(Granularity g);       // "per_tensor", "per_channel", "per_group"
Result<Granularity> parse_granularity(std::string_view s);
std::string_view signedness_name(Signedness s);         // "auto", "signed", "unsigned"
Result<Signedness> parse_signedness(std::string_view s);
std::string_view scale_type_name(ScaleType t);          // "float", "po2"
Result<ScaleType> parse_scale_type(std::string_view s);

struct QuantSpec {
  bool enabled = true;  // false: this role stays float
  QuantKind kind = QuantKind::kInt;
  int bits = 8;  // int: 1..8 for weights and activations
  Signedness sign = Signedness::kAuto;
  bool symmetric = true;  // zero point 0; asymmetric uses a zero point (activations, or weights min-max)
  bool narrow = false;
  Granularity granularity = Granularity::kPerTensor;
  int group_size = 0;  // for kPerGroup
  // Activations with kPerChannel: the axis that gets its own scale per index (it must have a
  // fixed size, so usually not the batch). Weights always use their output-channel axis; -1 here.
  int axis = -1;
  ScaleType scale_type = ScaleType::kFloat;
  RoundingMode rounding = RoundingMode::kHalfEven;
  RangeMethod method = RangeMethod::kAbsMax;
  double percentile = 99.999;  // for kPercentile: upper percentile (lower = 100 - p)
  MinifloatFormat minifloat;   // for kind == kFloat
};

// Bias: an integer grid with scale input_scale × weight_scale, or left float (bits == 0).
struct BiasSpec {
  int bits = 32;  // 32, 16, or 0 = float
};

// Defaults (Brevitas PTQ defaults; see docs/config.md).
QuantSpec default_weight_spec();      // 8 bit, signed, symmetric, per tensor, abs-max, float scale
QuantSpec default_activation_spec();  // 8 bit, auto sign, symmetric, per tensor, percentile 99.999

// Fields of a QuantSpec, as bits of a mask: which fields a rule set explicitly (RuleSet merges
// field by field; the full policy lets a consumer's explicitly set input fields override the
// producer's output spec).
enum SpecField : uint32_t {
  kFieldEnabled = 1u << 0,
  kFieldKind = 1u << 1,
  kFieldBits = 1u << 2,
  kFieldSign = 1u << 3,
  kFieldSymmetric = 1u << 4,
  kFieldNarrow = 1u << 5,
  kFieldGranularity = 1u << 6,
  kFieldGroupSize = 1u << 7,
  kFieldScaleType = 1u << 8,
  kFieldRounding = 1u << 9,
  kFieldMethod = 1u << 10,
  kFieldPercentile = 1u << 11,
  kFieldMinifloat = 1u << 12,  // the whole format ("format": "e4m3")
  kFieldExponentBits = 1u << 13,
  kFieldMantissaBits = 1u << 14,
  kFieldExponentBias = 1u << 15,
  kFieldMaxVal = 1u << 16,
  kFieldAxis = 1u << 17,
};
// Copies the fields of `src` named by `mask` into `dst`.
void merge_spec_fields(QuantSpec& dst, const QuantSpec& src, uint32_t mask);

// The resolved settings of one node. Roles: weight (the constant input of a compute op),
// bias, input (an activation entering the node), output (the node's activation output).
struct NodeQuantConfig {
  bool skip = false;  // leave this node in float: no quantizer is placed for it
  QuantSpec weight = default_weight_spec();
  QuantSpec input = default_activation_spec();
  QuantSpec output = default_activation_spec();
  BiasSpec bias;
  std::vector<std::string> matched_rules;  // names (or "#index") of the rules that matched, in order
  // SpecField masks of the fields that matching rules set (not defaults or flags).
  uint32_t weight_set = 0;
  uint32_t input_set = 0;
  uint32_t output_set = 0;
};

// One line for --explain-config: "w8 per_channel absmax | in u8 percentile(99.999) | ...".
std::string describe_spec(const QuantSpec& s);

}  // namespace qe
