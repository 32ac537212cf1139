#include "engine/core/dtype.h"

#include <array>
#include <cstring>

namespace qe {

namespace {
constexpr std::array<DTypeInfo, 17> kInfos = {{
    {DType::kUndefined, "undefined", 0, false, false},
    {DType::kF32, "float", 32, true, true},
    {DType::kF64, "double", 64, true, true},
    {DType::kF16, "float16", 16, true, true},
    {DType::kBF16, "bfloat16", 16, true, true},
    {DType::kI64, "int64", 64, false, true},
    {DType::kI32, "int32", 32, false, true},
    {DType::kI16, "int16", 16, false, true},
    {DType::kI8, "int8", 8, false, true},
    {DType::kU64, "uint64", 64, false, false},
    {DType::kU32, "uint32", 32, false, false},
    {DType::kU16, "uint16", 16, false, false},
    {DType::kU8, "uint8", 8, false, false},
    {DType::kI4, "int4", 4, false, true},
    {DType::kU4, "uint4", 4, false, false},
    {DType::kBool, "bool", 8, false, false},
    {DType::kString, "string", 0, false, false},
}};
}  // namespace

const DTypeInfo& dtype_info(DType t) {
  auto idx = static_cast<size_t>(t);
  return idx < kInfos.size() ? kInfos[idx] : kInfos[0];
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& info : kInfos) {
    if (info.name == name && info.dtype != DType::kUndefined) return info.dtype;
  }
  return std::nullopt;
}

size_t dtype_storage_bytes(DType t, int64_t numel) {
  if (numel <= 0) return 0;
  if (dtype_is_packed(t)) return static_cast<size_t>((numel + 1) / 2);
  return static_cast<size_t>(numel) * static_cast<size_t>(dtype_bits(t) / 8);
}

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do { ++e; mant <<= 1; } while ((mant & 0x400) == 0);
      bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3FF) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t absx = x & 0x7FFFFFFF;
  if (absx >= 0x7F800000) return static_cast<uint16_t>(sign | 0x7C00 | (absx > 0x7F800000 ? 0x200 : 0));
  if (absx >= 0x477FF000) return static_cast<uint16_t>(sign | 0x7C00);  // overflow to inf
  if (absx < 0x38800000) {  // subnormal or zero in half
    if (absx < 0x33000000) return static_cast<uint16_t>(sign);
    uint32_t e = absx >> 23;
    uint32_t m = (absx & 0x7FFFFF) | 0x800000;
    uint32_t shift = 126 - e;  // 113 - e + 13
    uint32_t half_m = m >> (shift);
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half_m & 1))) ++half_m;
    return static_cast<uint16_t>(sign | half_m);
  }
  uint32_t e = (absx >> 23) - 127 + 15;
  uint32_t m = absx & 0x7FFFFF;
  uint32_t h = (e << 10) | (m >> 13);
  uint32_t rem = m & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float bf16_to_float(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((x >> 16) | 0x40);
  uint32_t rounding = 0x7FFF + ((x >> 16) & 1);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

}  // namespace qe
