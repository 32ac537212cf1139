// Per-ISA micro-kernels of the data-movement family (transpose_avx2.cpp); the portable code in
// transpose.cpp and cast.cpp dispatches to them at run time when the CPU has AVX2 (+F16C).
#pragma once

#include <cstdint>

namespace qe::kernels {

// dst[i * dst_ld + j] = src[j * src_ld + i] for 32-bit elements, i < rows, j < cols.
void transpose_2d_x32_avx2(const uint32_t* src, int64_t src_ld, uint32_t* dst, int64_t dst_ld, int64_t rows,
                           int64_t cols);

// The same for bytes (int8 / uint8 / bool activations).
void transpose_2d_x8_avx2(const uint8_t* src, int64_t src_ld, uint8_t* dst, int64_t dst_ld, int64_t rows,
                          int64_t cols);

// IEEE float <-> half with round to nearest even (F16C).
void f32_to_f16_avx2(const float* src, uint16_t* dst, int64_t n);
void f16_to_f32_avx2(const uint16_t* src, float* dst, int64_t n);

}  // namespace qe::kernels
