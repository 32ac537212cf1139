// Instruction sets detected once per process. QENGINE_ISA=scalar|avx2|avx512|avx512vnni caps
// the level (for tests of every path and for comparing paths in benchmarks).
#pragma once

#include <string>

namespace qe {

enum class IsaLevel { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kAvx512Vnni = 3 };

struct CpuFeatures {
  bool avx2 = false;        // with FMA and F16C
  bool avx512 = false;      // F + BW + VL + DQ
  bool avx512_vnni = false;
  bool avx512_vbmi = false;  // byte permutes (vpermb); used with the AVX-512 level, not a level
  bool avx_vnni = false;
  IsaLevel level = IsaLevel::kScalar;  // highest usable level after the QENGINE_ISA cap
};

const CpuFeatures& cpu_features();
const char* isa_level_name(IsaLevel level);
std::string cpu_features_string();

}  // namespace qe
