#include "engine/data/npy.h"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>
#include <variant>
#include <vector>

#include "engine/core/temp_files.h"

namespace qe {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

struct DescrEntry {
  const char* code;  // without the byte-order character
  DType dtype;
};
constexpr DescrEntry kDescrs[] = {
    {"f2", DType::kF16}, {"f4", DType::kF32}, {"f8", DType::kF64}, {"i1", DType::kI8},  {"i2", DType::kI16},
    {"i4", DType::kI32}, {"i8", DType::kI64}, {"u1", DType::kU8},  {"u2", DType::kU16}, {"u4", DType::kU32},
    {"u8", DType::kU64}, {"b1", DType::kBool},
};

using File = std::unique_ptr<FILE, int (*)(FILE*)>;

std::string errno_text() { return std::generic_category().message(errno); }

// The header is a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (64, 3, 224, 224), }
// Values are strings, booleans or tuples of integers; nothing else appears in valid files.
struct HeaderValue {
  std::variant<std::string, bool, std::vector<int64_t>> v;
};

class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  Status parse(std::vector<std::pair<std::string, HeaderValue>>* out) {
    skip_ws();
    if (!eat('{')) return fail("expected '{'");
    while (true) {
      skip_ws();
      if (eat('}')) return Status::ok();
      std::string key;
      QE_RETURN_IF_ERROR(parse_string(&key));
      skip_ws();
      if (!eat(':')) return fail("expected ':' after '" + key + "'");
      skip_ws();
      HeaderValue value;
      QE_RETURN_IF_ERROR(parse_value(&value));
      out->emplace_back(std::move(key), std::move(value));
      skip_ws();
      if (!eat(',')) {
        skip_ws();
        if (!eat('}')) return fail("expected ',' or '}'");
        return Status::ok();
      }
    }
  }

 private:
  Status fail(const std::string& what) const {
    return parse_error("npy file '", path_, "': bad header at offset ", pos_, ": ", what);
  }
  void skip_ws() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool eat_word(const char* w) {
    const std::string word(w);
    if (s_.compare(pos_, word.size(), word) == 0) {
      pos_ += word.size();
      return true;
    }
    return false;
  }
  Status parse_string(std::string* out) {
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"')) return fail("expected a quoted string");
    const char q = s_[pos_++];
    const size_t end = s_.find(q, pos_);
    if (end == std::string::npos) return fail("unterminated string");
    *out = s_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return Status::ok();
  }
  Status parse_int(int64_t* out) {
    const size_t start = pos_;
    int64_t v = 0;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      if (v > (INT64_MAX - 9) / 10) return fail("dimension too large");
      v = v * 10 + (s_[pos_++] - '0');
    }
    if (pos_ == start) return fail("expected a non-negative integer");
    eat('L');  // Python 2 long literals
    *out = v;
    return Status::ok();
  }
  Status parse_value(HeaderValue* out) {
    if (pos_ < s_.size() && (s_[pos_] == '\'' || s_[pos_] == '"')) {
      std::string str;
      QE_RETURN_IF_ERROR(parse_string(&str));
      out->v = std::move(str);
      return Status::ok();
    }
    if (eat_word("True")) {
      out->v = true;
      return Status::ok();
    }
    if (eat_word("False")) {
      out->v = false;
      return Status::ok();
    }
    if (!eat('(')) return fail("expected a string, True, False or a tuple");
    std::vector<int64_t> dims;
    while (true) {
      skip_ws();
      if (eat(')')) break;
      int64_t d = 0;
      QE_RETURN_IF_ERROR(parse_int(&d));
      dims.push_back(d);
      skip_ws();
      if (eat(')')) break;
      if (!eat(',')) return fail("expected ',' or ')' in the shape");
    }
    out->v = std::move(dims);
    return Status::ok();
  }

  const std::string& s_;
  const std::string& path_;
  size_t pos_ = 0;
};

Result<DType> dtype_from_descr(const std::string& descr, const std::string& path) {
  if (descr.size() == 3) {
    const char order = descr[0];
    const std::string code = descr.substr(1);
    for (const auto& d : kDescrs) {
      if (code != d.code) continue;
      const bool one_byte = dtype_bits(d.dtype) == 8;
      if (order == '<' || (one_byte && (order == '|' || order == '='))) return d.dtype;
      if (order == '>' || order == '=') {
        return unsupported("npy file '", path, "': byte order of dtype '", descr, "' is not little-endian");
      }
    }
  }
  return unsupported("npy file '", path, "': dtype '", descr, "' is not supported");
}

Result<std::string> descr_of(DType t) {
  for (const auto& d : kDescrs) {
    if (d.dtype == t) return std::string(dtype_bits(t) == 8 ? "|" : "<") + d.code;
  }
  return unsupported("dtype ", dtype_name(t), " has no .npy representation here");
}

uint32_t read_le(const uint8_t* p, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

Result<Tensor> read_npy(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return std::filesystem::exists(path, ec) ? io_error("npy file '", path, "' is not a regular file")
                                             : not_found("npy file '", path, "' does not exist");
  }
  File f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return io_error("cannot open npy file '", path, "': ", errno_text());
  uint8_t pre[12];
  size_t got = std::fread(pre, 1, 10, f.get());
  if (got < 10 || std::memcmp(pre, kMagic, kMagicLen) != 0) {
    return parse_error("'", path, "' is not an .npy file (bad magic)");
  }
  const int major = pre[6];
  size_t header_len = 0, prefix = 10;
  if (major == 1) {
    header_len = read_le(pre + 8, 2);
  } else if (major == 2 || major == 3) {
    if (std::fread(pre + 10, 1, 2, f.get()) != 2) return parse_error("npy file '", path, "' is truncated in its header");
    header_len = read_le(pre + 8, 4);
    prefix = 12;
  } else {
    return unsupported("npy file '", path, "': format version ", major, ".", int(pre[7]), " is not supported");
  }
  if (header_len > (size_t{1} << 24)) return parse_error("npy file '", path, "': header length ", header_len, " is implausible");
  std::string header(header_len, '\0');
  if (std::fread(header.data(), 1, header_len, f.get()) != header_len) {
    return parse_error("npy file '", path, "' is truncated in its header");
  }

  std::vector<std::pair<std::string, HeaderValue>> items;
  QE_RETURN_IF_ERROR(HeaderParser(header, path).parse(&items));
  const std::string* descr = nullptr;
  const bool* fortran = nullptr;
  const std::vector<int64_t>* dims = nullptr;
  for (const auto& [key, value] : items) {
    if (key == "descr") descr = std::get_if<std::string>(&value.v);
    if (key == "fortran_order") fortran = std::get_if<bool>(&value.v);
    if (key == "shape") dims = std::get_if<std::vector<int64_t>>(&value.v);
  }
  if (!descr) return parse_error("npy file '", path, "': header has no string 'descr' (structured dtypes are not supported)");
  if (!fortran) return parse_error("npy file '", path, "': header has no boolean 'fortran_order'");
  if (!dims) return parse_error("npy file '", path, "': header has no tuple 'shape'");
  if (*fortran) return unsupported("npy file '", path, "' is in Fortran order; only C order is supported");
  QE_ASSIGN_OR_RETURN(DType dtype, dtype_from_descr(*descr, path));

  Shape shape(*dims);
  Result<int64_t> numel = shape.checked_numel();
  if (!numel.is_ok()) return out_of_range("npy file '", path, "': shape ", shape.to_string(), " is too large");
  const size_t data_bytes = dtype_storage_bytes(dtype, *numel);
  const auto file_size = std::filesystem::file_size(path, ec);
  if (ec) return io_error("cannot size npy file '", path, "': ", ec.message());
  if (file_size < prefix + header_len + data_bytes) {
    return parse_error("npy file '", path, "' is truncated: shape ", shape.to_string(), " ", *descr, " needs ",
                       data_bytes, " data bytes, the file has ", file_size - prefix - header_len);
  }
  QE_ASSIGN_OR_RETURN(Tensor t, Tensor::create(dtype, shape));
  if (data_bytes > 0 && std::fread(t.raw(), 1, data_bytes, f.get()) != data_bytes) {
    return io_error("cannot read npy file '", path, "': ", errno_text());
  }
  return t;
}

Status write_npy(const std::string& path, const Tensor& tensor) {
  if (!tensor.defined()) return invalid_argument("cannot write an undefined tensor to '", path, "'");
  Result<std::string> descr = descr_of(tensor.dtype());
  if (!descr.is_ok()) return unsupported("cannot write '", path, "': ", descr.status().message());
  std::string header = "{'descr': '" + *descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < tensor.shape().rank(); ++i) header += std::to_string(tensor.shape()[i]) + ", ";
  if (tensor.shape().rank() > 1) header.resize(header.size() - 2);  // (n,) keeps its comma, (a, b) does not
  if (tensor.shape().rank() == 1) header.pop_back();
  header += "), }";
  // numpy pads the header with spaces to a 64-byte boundary and ends it with '\n'.
  auto padded = [&](size_t prefix) { return (prefix + header.size() + 1 + 63) / 64 * 64; };
  const bool v2 = padded(10) - 10 > 65535;
  const size_t prefix = v2 ? 12 : 10;
  const size_t total = padded(prefix);
  header.append(total - prefix - header.size() - 1, ' ');
  header += '\n';

  std::vector<uint8_t> pre(kMagic, kMagic + kMagicLen);
  pre.push_back(v2 ? 2 : 1);
  pre.push_back(0);
  for (int i = 0; i < (v2 ? 4 : 2); ++i) pre.push_back(static_cast<uint8_t>((header.size() >> (8 * i)) & 0xFF));

  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const TempFileGuard guard(tmp);
  {
    File f(std::fopen(tmp.c_str(), "wb"), &std::fclose);
    if (!f) return io_error("cannot write npy file '", path, "': cannot create '", tmp, "': ", errno_text());
    const size_t bytes = tensor.bytes();
    bool ok = std::fwrite(pre.data(), 1, pre.size(), f.get()) == pre.size() &&
              std::fwrite(header.data(), 1, header.size(), f.get()) == header.size() &&
              (bytes == 0 || std::fwrite(tensor.raw(), 1, bytes, f.get()) == bytes) && std::fflush(f.get()) == 0;
    const std::string err = errno_text();
    if (std::fclose(f.release()) != 0) ok = false;
    if (!ok) {
      std::remove(tmp.c_str());
      return io_error("cannot write npy file '", path, "': ", err);
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    return io_error("cannot write npy file '", path, "': rename failed: ", ec.message());
  }
  return Status::ok();
}

}  // namespace qe
