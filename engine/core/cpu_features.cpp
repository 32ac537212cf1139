#include "engine/core/cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace qe {

namespace {
CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  f.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  f.avx512_vnni = f.avx512 && __builtin_cpu_supports("avx512vnni");
  f.avx512_vbmi = f.avx512 && __builtin_cpu_supports("avx512vbmi");
#endif
  IsaLevel level = IsaLevel::kScalar;
  if (f.avx2) level = IsaLevel::kAvx2;
  if (f.avx512) level = IsaLevel::kAvx512;
  if (f.avx512_vnni) level = IsaLevel::kAvx512Vnni;
  if (const char* cap = std::getenv("QENGINE_ISA")) {
    IsaLevel c = level;
    if (!std::strcmp(cap, "scalar")) c = IsaLevel::kScalar;
    else if (!std::strcmp(cap, "avx2")) c = IsaLevel::kAvx2;
    else if (!std::strcmp(cap, "avx512")) c = IsaLevel::kAvx512;
    else if (!std::strcmp(cap, "avx512vnni")) c = IsaLevel::kAvx512Vnni;
    if (c < level) level = c;
  }
  f.level = level;
  return f;
}
}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

const char* isa_level_name(IsaLevel level) {
  switch (level) {
    case IsaLevel::kScalar: return "scalar";
    case IsaLevel::kAvx2: return "avx2";
    case IsaLevel::kAvx512: return "avx512";
    case IsaLevel::kAvx512Vnni: return "avx512vnni";
  }
  return "?";
}

std::string cpu_features_string() {
  const auto& f = cpu_features();
  std::string s = std::string("isa=") + isa_level_name(f.level) + " (avx2=" + (f.avx2 ? "1" : "0") +
                  " avx512=" + (f.avx512 ? "1" : "0") + " avx512_vnni=" + (f.avx512_vnni ? "1" : "0") +
                  " avx512_vbmi=" + (f.avx512_vbmi ? "1" : "0") + ")";
  return s;
}

}  // namespace qe
