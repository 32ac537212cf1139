#include "engine/ops/fused_activation.h"

#include <limits>
#include <string>

namespace qe {

Result<kernels::Activation> read_fused_activation(const Attributes& attrs) {
  using kernels::ActKind;
  kernels::Activation act;
  QE_ASSIGN_OR_RETURN(std::string name, attrs.get_string("_act", ""));
  if (name.empty()) return act;
  // Defaults are the ONNX attribute defaults of the activation op that was fused.
  float def_alpha = 0.f, def_beta = 0.f;
  if (name == "Relu") {
    act.kind = ActKind::kRelu;
  } else if (name == "Clip") {
    act.kind = ActKind::kClip;
    def_alpha = -std::numeric_limits<float>::infinity();
    def_beta = std::numeric_limits<float>::infinity();
  } else if (name == "LeakyRelu") {
    act.kind = ActKind::kLeakyRelu;
    def_alpha = 0.01f;
  } else if (name == "HardSigmoid") {
    act.kind = ActKind::kHardSigmoid;
    def_alpha = 0.2f;
    def_beta = 0.5f;
  } else if (name == "HardSwish") {
    act.kind = ActKind::kHardSwish;
  } else if (name == "Sigmoid") {
    act.kind = ActKind::kSigmoid;
  } else {
    return invalid_argument("attribute '_act' names unknown fused activation '", name, "'");
  }
  QE_ASSIGN_OR_RETURN(act.alpha, attrs.get_float("_act_alpha", def_alpha));
  QE_ASSIGN_OR_RETURN(act.beta, attrs.get_float("_act_beta", def_beta));
  return act;
}

}  // namespace qe
