#include "quant/quant_spec.h"

#include <sstream>

#include "quant/quant_plan.h"

namespace qe {

std::string_view range_method_name(RangeMethod m) {
  switch (m) {
    case RangeMethod::kMinMax: return "minmax";
    case RangeMethod::kAbsMax: return "absmax";
    case RangeMethod::kPercentile: return "percentile";
    case RangeMethod::kMse: return "mse";
    case RangeMethod::kEntropy: return "entropy";
  }
  return "minmax";
}

Result<RangeMethod> parse_range_method(std::string_view s) {
  if (s == "minmax") return RangeMethod::kMinMax;
  if (s == "absmax") return RangeMethod::kAbsMax;
  if (s == "percentile") return RangeMethod::kPercentile;
  if (s == "mse") return RangeMethod::kMse;
  if (s == "entropy") return RangeMethod::kEntropy;
  return invalid_argument("unknown range method '", std::string(s),
                          "' (expected minmax, absmax, percentile, mse or entropy)");
}

std::string_view granularity_name(Granularity g) {
  switch (g) {
    case Granularity::kPerTensor: return "per_tensor";
    case Granularity::kPerChannel: return "per_channel";
    case Granularity::kPerGroup: return "per_group";
  }
  return "per_tensor";
}

Result<Granularity> parse_granularity(std::string_view s) {
  if (s == "per_tensor") return Granularity::kPerTensor;
  if (s == "per_channel") return Granularity::kPerChannel;
  if (s == "per_group") return Granularity::kPerGroup;
  return invalid_argument("unknown granularity '", std::string(s), "' (expected per_tensor, per_channel or per_group)");
}

std::string_view signedness_name(Signedness s) {
  switch (s) {
    case Signedness::kAuto: return "auto";
    case Signedness::kSigned: return "signed";
    case Signedness::kUnsigned: return "unsigned";
  }
  return "auto";
}

Result<Signedness> parse_signedness(std::string_view s) {
  if (s == "auto") return Signedness::kAuto;
  if (s == "signed") return Signedness::kSigned;
  if (s == "unsigned") return Signedness::kUnsigned;
  return invalid_argument("unknown sign '", std::string(s), "' (expected auto, signed or unsigned)");
}

std::string_view scale_type_name(ScaleType t) { return t == ScaleType::kPo2 ? "po2" : "float"; }

Result<ScaleType> parse_scale_type(std::string_view s) {
  if (s == "float") return ScaleType::kFloat;
  if (s == "po2") return ScaleType::kPo2;
  return invalid_argument("unknown scale type '", std::string(s), "' (expected float or po2)");
}

QuantSpec default_weight_spec() {
  QuantSpec s;
  s.sign = Signedness::kSigned;
  s.method = RangeMethod::kAbsMax;
  return s;
}

QuantSpec default_activation_spec() {
  QuantSpec s;
  s.sign = Signedness::kAuto;
  s.method = RangeMethod::kPercentile;
  return s;
}

void merge_spec_fields(QuantSpec& dst, const QuantSpec& src, uint32_t mask) {
  if (mask & kFieldEnabled) dst.enabled = src.enabled;
  if (mask & kFieldKind) dst.kind = src.kind;
  if (mask & kFieldBits) dst.bits = src.bits;
  if (mask & kFieldSign) dst.sign = src.sign;
  if (mask & kFieldSymmetric) dst.symmetric = src.symmetric;
  if (mask & kFieldNarrow) dst.narrow = src.narrow;
  if (mask & kFieldGranularity) dst.granularity = src.granularity;
  if (mask & kFieldGroupSize) dst.group_size = src.group_size;
  if (mask & kFieldAxis) dst.axis = src.axis;
  if (mask & kFieldScaleType) dst.scale_type = src.scale_type;
  if (mask & kFieldRounding) dst.rounding = src.rounding;
  if (mask & kFieldMethod) dst.method = src.method;
  if (mask & kFieldPercentile) dst.percentile = src.percentile;
  // A named format first, so that individual fields given next to it refine it.
  if (mask & kFieldMinifloat) dst.minifloat = src.minifloat;
  if (mask & kFieldExponentBits) dst.minifloat.exponent_bits = src.minifloat.exponent_bits;
  if (mask & kFieldMantissaBits) dst.minifloat.mantissa_bits = src.minifloat.mantissa_bits;
  if (mask & kFieldExponentBias) dst.minifloat.exponent_bias = src.minifloat.exponent_bias;
  if (mask & kFieldMaxVal) dst.minifloat.max_val = src.minifloat.max_val;
}

std::string describe_spec(const QuantSpec& s) {
  if (!s.enabled) return "float";
  std::ostringstream o;
  const char* sign = s.sign == Signedness::kSigned ? "i" : s.sign == Signedness::kUnsigned ? "u" : "?";
  if (s.kind == QuantKind::kFloat) {
    o << "fp" << (1 + s.minifloat.exponent_bits + s.minifloat.mantissa_bits) << "(e" << s.minifloat.exponent_bits
      << "m" << s.minifloat.mantissa_bits << ")";
  } else if (s.kind == QuantKind::kBipolar) {
    o << "bipolar";
  } else {
    o << sign << s.bits;
  }
  o << ' ' << granularity_name(s.granularity);
  if (s.granularity == Granularity::kPerGroup) o << '(' << s.group_size << ')';
  if (s.granularity == Granularity::kPerChannel && s.axis >= 0) o << "(axis " << s.axis << ')';
  o << ' ' << (s.symmetric ? "sym" : "asym");
  if (s.narrow) o << " narrow";
  if (s.scale_type == ScaleType::kPo2) o << " po2";
  o << ' ' << range_method_name(s.method);
  if (s.method == RangeMethod::kPercentile) o << '(' << s.percentile << ')';
  if (s.rounding != RoundingMode::kHalfEven) o << ' ' << rounding_mode_name(s.rounding);
  return o.str();
}

std::string_view quant_role_name(QuantRole r) {
  switch (r) {
    case QuantRole::kWeight: return "weight";
    case QuantRole::kBias: return "bias";
    case QuantRole::kInput: return "input";
    case QuantRole::kOutput: return "output";
  }
  return "output";
}

}  // namespace qe
