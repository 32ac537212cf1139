// Element types. int4/uint4 are stored packed two per byte as ONNX does:
// element 2i in the low nibble, 2i+1 in the high nibble, an odd tail padded with 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace qe {

enum class DType : uint8_t {
  kUndefined = 0,
  kF32,
  kF64,
  kF16,
  kBF16,
  kI64,
  kI32,
  kI16,
  kI8,
  kU64,
  kU32,
  kU16,
  kU8,
  kI4,
  kU4,
  kBool,
  kString,
};

struct DTypeInfo {
  DType dtype;
  std::string_view name;  // as ONNX spells it in lower case: "float", "int8", "int4", ...
  int bits;               // storage bits of one element (4 for the packed types)
  bool is_float;
  bool is_signed;
};

const DTypeInfo& dtype_info(DType t);
inline std::string_view dtype_name(DType t) { return dtype_info(t).name; }
inline int dtype_bits(DType t) { return dtype_info(t).bits; }
inline bool dtype_is_float(DType t) { return dtype_info(t).is_float; }
inline bool dtype_is_packed(DType t) { return t == DType::kI4 || t == DType::kU4; }
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes needed to store `numel` elements (packed types round up to whole bytes).
size_t dtype_storage_bytes(DType t, int64_t numel);

template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::kF32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::kF64; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::kI64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::kI32; };
template <> struct dtype_of<int16_t> { static constexpr DType value = DType::kI16; };
template <> struct dtype_of<int8_t> { static constexpr DType value = DType::kI8; };
template <> struct dtype_of<uint64_t> { static constexpr DType value = DType::kU64; };
template <> struct dtype_of<uint32_t> { static constexpr DType value = DType::kU32; };
template <> struct dtype_of<uint16_t> { static constexpr DType value = DType::kU16; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::kU8; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::kBool; };

// Packed int4 helpers: value of element i, and store into element i.
inline int int4_get(const uint8_t* data, int64_t i, bool is_signed) {
  uint8_t byte = data[i >> 1];
  int nib = (i & 1) ? (byte >> 4) : (byte & 0x0F);
  if (is_signed && nib >= 8) nib -= 16;
  return nib;
}
inline void int4_set(uint8_t* data, int64_t i, int v) {
  uint8_t nib = static_cast<uint8_t>(v) & 0x0F;
  uint8_t& byte = data[i >> 1];
  byte = (i & 1) ? static_cast<uint8_t>((byte & 0x0F) | (nib << 4)) : static_cast<uint8_t>((byte & 0xF0) | nib);
}

// IEEE half <-> float (round to nearest even).
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bf16_to_float(uint16_t h);
uint16_t float_to_bf16(float f);

}  // namespace qe
