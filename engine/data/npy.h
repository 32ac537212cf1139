// NumPy .npy files <-> qe::Tensor (format versions 1.0, 2.0 and 3.0; C order, little-endian).
// dtypes: <f2 <f4 <f8 <i1..<i8 <u1..<u8 |b1 (one-byte types with '|', '<' or '=').
#pragma once

#include <string>

#include "engine/core/tensor.h"

namespace qe {

// Errors name the file: not an .npy, big-endian or unsupported dtype, fortran_order, truncated data.
Result<Tensor> read_npy(const std::string& path);

// Writes atomically: a temporary file in the same folder, renamed over `path` once complete, so
// readers never see a partial file. Unsupported dtypes (int4, bf16, string) are an error.
Status write_npy(const std::string& path, const Tensor& tensor);

}  // namespace qe
