#include "frontends/onnx/onnx_proto_util.h"

#include <bit>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace qe::onnx_util {

namespace fs = std::filesystem;

static_assert(std::endian::native == std::endian::little, "raw_data is little-endian; big-endian hosts need byte swaps");

namespace {

struct TypeRow {
  int32_t onnx;
  DType dtype;  // kUndefined: a type ONNX has and qe does not
  const char* name;
};

constexpr TypeRow kTypes[] = {
    {1, DType::kF32, "FLOAT"},        {2, DType::kU8, "UINT8"},
    {3, DType::kI8, "INT8"},          {4, DType::kU16, "UINT16"},
    {5, DType::kI16, "INT16"},        {6, DType::kI32, "INT32"},
    {7, DType::kI64, "INT64"},        {8, DType::kString, "STRING"},
    {9, DType::kBool, "BOOL"},        {10, DType::kF16, "FLOAT16"},
    {11, DType::kF64, "DOUBLE"},      {12, DType::kU32, "UINT32"},
    {13, DType::kU64, "UINT64"},      {14, DType::kUndefined, "COMPLEX64"},
    {15, DType::kUndefined, "COMPLEX128"}, {16, DType::kBF16, "BFLOAT16"},
    {17, DType::kUndefined, "FLOAT8E4M3FN"}, {18, DType::kUndefined, "FLOAT8E4M3FNUZ"},
    {19, DType::kUndefined, "FLOAT8E5M2"}, {20, DType::kUndefined, "FLOAT8E5M2FNUZ"},
    {kOnnxUint4, DType::kU4, "UINT4"}, {kOnnxInt4, DType::kI4, "INT4"},
    {23, DType::kUndefined, "FLOAT4E2M1"},
};

Result<uint64_t> parse_u64(const std::string& s, const std::string& what, const char* key) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) {
    return invalid_argument(what, ": external data '", key, "' is not a non-negative integer: '", s, "'");
  }
  return v;
}

Status read_external(const onnx::TensorProto& tp, const TensorSource& src, const std::string& what, Tensor& out) {
  if (!src.allow_external) return unsupported(what, ": external data is disabled by the import options");
  if (src.base_dir.empty()) {
    return unsupported(what, ": uses external data but the model was given as bytes without a directory");
  }
  std::string location;
  uint64_t offset = 0;
  std::optional<uint64_t> length;
  for (const auto& kv : tp.external_data()) {
    if (kv.key() == "location") {
      location = kv.value();
    } else if (kv.key() == "offset") {
      QE_ASSIGN_OR_RETURN(offset, parse_u64(kv.value(), what, "offset"));
    } else if (kv.key() == "length") {
      QE_ASSIGN_OR_RETURN(uint64_t len, parse_u64(kv.value(), what, "length"));
      length = len;
    }
  }
  if (location.empty()) return invalid_argument(what, ": external data has no 'location'");
  QE_ASSIGN_OR_RETURN(std::string path, confined_path(src.base_dir, location, what));
  const uint64_t need = out.bytes();
  if (length && *length != need) {
    return invalid_argument(what, ": external data length ", *length, " bytes does not match the ", need,
                            " bytes its shape ", out.shape().to_string(), " needs");
  }
  std::error_code ec;
  uint64_t file_size = fs::file_size(path, ec);
  if (ec) return io_error(what, ": cannot stat external data file '", path, "': ", ec.message());
  if (offset > file_size || file_size - offset < need) {
    return invalid_argument(what, ": external data file '", location, "' has ", file_size, " bytes, needs ", need,
                            " bytes at offset ", offset);
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return io_error(what, ": cannot open external data file '", path, "'");
  f.seekg(static_cast<std::streamoff>(offset));
  f.read(static_cast<char*>(out.raw()), static_cast<std::streamsize>(need));
  if (!f || static_cast<uint64_t>(f.gcount()) != need) {
    return io_error(what, ": short read from external data file '", path, "'");
  }
  return Status::ok();
}

template <typename Field>
Status expect_count(const Field& field, int64_t want, const std::string& what, const char* field_name) {
  if (static_cast<int64_t>(field.size()) != want) {
    return invalid_argument(what, ": ", field_name, " has ", field.size(), " values, its shape needs ", want);
  }
  return Status::ok();
}

// Narrows the int32_data values of the small types (ONNX stores each element, or the raw bits
// for float16/bfloat16, in one int32).
template <typename T>
void narrow_int32(const google::protobuf::RepeatedField<int32_t>& src, Tensor& t) {
  T* dst = t.data<T>();
  for (int i = 0; i < src.size(); ++i) dst[i] = static_cast<T>(src[i]);
}

// The high nibble after an odd element count is padding, zero by the ONNX rules.
void clear_int4_padding(Tensor& t) {
  if (t.numel() % 2 == 1) t.data<uint8_t>()[t.bytes() - 1] &= 0x0F;
}

void normalise_bools(Tensor& t) {
  uint8_t* p = t.data<uint8_t>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = p[i] ? 1 : 0;
}

Status read_typed_fields(const onnx::TensorProto& tp, DType dtype, const std::string& what, Tensor& t) {
  const int64_t n = t.numel();
  switch (dtype) {
    case DType::kF32:
      QE_RETURN_IF_ERROR(expect_count(tp.float_data(), n, what, "float_data"));
      if (n) std::memcpy(t.raw(), tp.float_data().data(), t.bytes());
      return Status::ok();
    case DType::kF64:
      QE_RETURN_IF_ERROR(expect_count(tp.double_data(), n, what, "double_data"));
      if (n) std::memcpy(t.raw(), tp.double_data().data(), t.bytes());
      return Status::ok();
    case DType::kI64:
      QE_RETURN_IF_ERROR(expect_count(tp.int64_data(), n, what, "int64_data"));
      if (n) std::memcpy(t.raw(), tp.int64_data().data(), t.bytes());
      return Status::ok();
    case DType::kU64:
      QE_RETURN_IF_ERROR(expect_count(tp.uint64_data(), n, what, "uint64_data"));
      if (n) std::memcpy(t.raw(), tp.uint64_data().data(), t.bytes());
      return Status::ok();
    case DType::kU32: {
      QE_RETURN_IF_ERROR(expect_count(tp.uint64_data(), n, what, "uint64_data"));
      auto* dst = t.data<uint32_t>();
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<uint32_t>(tp.uint64_data(static_cast<int>(i)));
      return Status::ok();
    }
    case DType::kI32:
      QE_RETURN_IF_ERROR(expect_count(tp.int32_data(), n, what, "int32_data"));
      if (n) std::memcpy(t.raw(), tp.int32_data().data(), t.bytes());
      return Status::ok();
    case DType::kI16:
      QE_RETURN_IF_ERROR(expect_count(tp.int32_data(), n, what, "int32_data"));
      narrow_int32<int16_t>(tp.int32_data(), t);
      return Status::ok();
    case DType::kU16:
    case DType::kF16:
    case DType::kBF16:
      QE_RETURN_IF_ERROR(expect_count(tp.int32_data(), n, what, "int32_data"));
      narrow_int32<uint16_t>(tp.int32_data(), t);
      return Status::ok();
    case DType::kI8:
      QE_RETURN_IF_ERROR(expect_count(tp.int32_data(), n, what, "int32_data"));
      narrow_int32<int8_t>(tp.int32_data(), t);
      return Status::ok();
    case DType::kU8:
      QE_RETURN_IF_ERROR(expect_count(tp.int32_data(), n, what, "int32_data"));
      narrow_int32<uint8_t>(tp.int32_data(), t);
      return Status::ok();
    case DType::kBool:
      QE_RETURN_IF_ERROR(expect_count(tp.int32_data(), n, what, "int32_data"));
      narrow_int32<uint8_t>(tp.int32_data(), t);
      normalise_bools(t);
      return Status::ok();
    case DType::kI4:
    case DType::kU4:
      // Packed before being written: each int32 holds one byte (two elements).
      QE_RETURN_IF_ERROR(expect_count(tp.int32_data(), (n + 1) / 2, what, "int32_data"));
      narrow_int32<uint8_t>(tp.int32_data(), t);
      clear_int4_padding(t);
      return Status::ok();
    default:
      return unsupported(what, ": cannot read element type ", dtype_name(dtype));
  }
}

int typed_field_count(const onnx::TensorProto& tp) {
  return (tp.float_data_size() > 0) + (tp.int32_data_size() > 0) + (tp.int64_data_size() > 0) +
         (tp.double_data_size() > 0) + (tp.uint64_data_size() > 0) + (tp.string_data_size() > 0);
}

}  // namespace

std::optional<DType> dtype_from_onnx(int32_t onnx_type) {
  for (const auto& row : kTypes) {
    if (row.onnx == onnx_type && row.dtype != DType::kUndefined) return row.dtype;
  }
  return std::nullopt;
}

int32_t dtype_to_onnx(DType t) {
  for (const auto& row : kTypes) {
    if (row.dtype == t && t != DType::kUndefined) return row.onnx;
  }
  return 0;
}

std::string onnx_type_name(int32_t onnx_type) {
  for (const auto& row : kTypes) {
    if (row.onnx == onnx_type) return row.name;
  }
  return str_cat("type ", onnx_type);
}

int32_t onnx_type_from_name(const std::string& name) {
  for (const auto& row : kTypes) {
    if (name == row.name) return row.onnx;
  }
  return 0;
}

Result<std::string> confined_path(const std::string& base_dir, const std::string& location, const std::string& what) {
  fs::path loc(location);
  if (location.empty()) return invalid_argument(what, ": external data location is empty");
  if (loc.is_absolute() || loc.has_root_name() || loc.has_root_directory()) {
    return invalid_argument(what, ": external data location '", location,
                            "' is absolute; it must be relative to the model's directory");
  }
  for (const auto& part : loc) {
    if (part == "..") {
      return invalid_argument(what, ": external data location '", location, "' leaves the model's directory ('..')");
    }
  }
  std::error_code ec;
  fs::path base = fs::canonical(base_dir, ec);
  if (ec) return io_error(what, ": cannot resolve the model directory '", base_dir, "': ", ec.message());
  fs::path target = fs::canonical(base / loc, ec);
  if (ec) return not_found(what, ": external data file '", location, "' not found next to the model (", ec.message(), ")");
  // Symlinks are resolved by canonical(): what remains must still live under the model's folder.
  fs::path rel = target.lexically_relative(base);
  if (rel.empty() || *rel.begin() == "..") {
    return invalid_argument(what, ": external data location '", location, "' resolves to '", target.string(),
                            "', outside the model's directory");
  }
  if (!fs::is_regular_file(target, ec)) {
    return invalid_argument(what, ": external data location '", location, "' is not a regular file");
  }
  return target.string();
}

Result<Tensor> tensor_from_proto(const onnx::TensorProto& tp, const TensorSource& src, const std::string& what) {
  if (tp.has_segment()) return unsupported(what, ": segmented tensors are not supported");
  auto dtype = dtype_from_onnx(tp.data_type());
  if (!dtype) return unsupported(what, ": element type ", onnx_type_name(tp.data_type()), " is not supported");
  if (*dtype == DType::kString) return unsupported(what, ": string tensors are not supported");
  std::vector<int64_t> dims(tp.dims().begin(), tp.dims().end());
  for (int64_t d : dims) {
    if (d < 0) return invalid_argument(what, ": negative dimension in ", Shape(dims).to_string());
  }
  Shape shape(std::move(dims));
  auto numel = shape.checked_numel();
  if (!numel.is_ok()) return numel.status().with_context(what + ": ");
  const bool external = tp.data_location() == onnx::TensorProto_DataLocation_EXTERNAL;
  const size_t need = dtype_storage_bytes(*dtype, *numel);

  // Every byte count is checked against its source before allocating, so a forged shape
  // cannot make us allocate more than the file holds.
  if (external) {
    if (tp.has_raw_data() || typed_field_count(tp) > 0) {
      return invalid_argument(what, ": has both external data and inline data");
    }
    Tensor t(*dtype, shape);
    QE_RETURN_IF_ERROR(read_external(tp, src, what, t));
    if (*dtype == DType::kBool) normalise_bools(t);
    if (dtype_is_packed(*dtype)) clear_int4_padding(t);
    return t;
  }
  if (tp.has_raw_data()) {
    if (typed_field_count(tp) > 0) return invalid_argument(what, ": has both raw_data and typed data fields");
    if (tp.raw_data().size() != need) {
      return invalid_argument(what, ": raw_data has ", tp.raw_data().size(), " bytes, shape ", shape.to_string(), " of ",
                              dtype_name(*dtype), " needs ", need);
    }
    Tensor t = Tensor::from_data(*dtype, shape, tp.raw_data().data());
    if (*dtype == DType::kBool) normalise_bools(t);
    if (dtype_is_packed(*dtype)) clear_int4_padding(t);
    return t;
  }
  if (typed_field_count(tp) > 1) return invalid_argument(what, ": has data in more than one typed field");
  // A count mismatch is detected before allocation by comparing field sizes with numel, but the
  // allocation itself happens first here, so bound it by the largest field present.
  const int64_t present = std::max<int64_t>({tp.float_data_size(), tp.int32_data_size(), tp.int64_data_size(),
                                             tp.double_data_size(), tp.uint64_data_size()});
  const int64_t expected_values = dtype_is_packed(*dtype) ? (*numel + 1) / 2 : *numel;
  if (present != expected_values) {
    if (present == 0 && expected_values > 0) return invalid_argument(what, ": has no data (shape ", shape.to_string(), ")");
    return invalid_argument(what, ": has ", present, " stored values, shape ", shape.to_string(), " needs ",
                            expected_values);
  }
  Tensor t(*dtype, shape);
  QE_RETURN_IF_ERROR(read_typed_fields(tp, *dtype, what, t));
  return t;
}

void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* tp) {
  tp->set_name(name);
  tp->set_data_type(dtype_to_onnx(t.dtype()));
  for (int64_t d : t.shape()) tp->add_dims(d);
  tp->set_raw_data(t.raw(), t.bytes());
}

Result<AttrValue> attr_from_proto(const onnx::AttributeProto& ap, const TensorSource& src, const std::string& what) {
  using A = onnx::AttributeProto;
  const std::string ctx = str_cat(what, " attribute '", ap.name(), "'");
  if (!ap.ref_attr_name().empty()) return unsupported(ctx, ": references a function attribute");
  A::AttributeType type = ap.type();
  if (type == A::UNDEFINED) {  // very old exporters leave the type out; infer it from the field set
    if (ap.has_f()) type = A::FLOAT;
    else if (ap.has_i()) type = A::INT;
    else if (ap.has_s()) type = A::STRING;
    else if (ap.has_t()) type = A::TENSOR;
    else if (ap.has_g()) type = A::GRAPH;
    else if (ap.floats_size()) type = A::FLOATS;
    else if (ap.ints_size()) type = A::INTS;
    else if (ap.strings_size()) type = A::STRINGS;
    else return invalid_argument(ctx, ": has no type and no value");
  }
  switch (type) {
    case A::FLOAT: return AttrValue(ap.f());
    case A::INT: return AttrValue(static_cast<int64_t>(ap.i()));
    case A::STRING: return AttrValue(ap.s());
    case A::FLOATS: return AttrValue(std::vector<float>(ap.floats().begin(), ap.floats().end()));
    case A::INTS: return AttrValue(std::vector<int64_t>(ap.ints().begin(), ap.ints().end()));
    case A::STRINGS: return AttrValue(std::vector<std::string>(ap.strings().begin(), ap.strings().end()));
    case A::TENSOR: {
      QE_ASSIGN_OR_RETURN(Tensor t, tensor_from_proto(ap.t(), src, ctx));
      return AttrValue(std::move(t));
    }
    case A::GRAPH:
    case A::GRAPHS: return unsupported(ctx, ": graph attributes (subgraphs) are not supported");
    case A::SPARSE_TENSOR:
    case A::SPARSE_TENSORS: return unsupported(ctx, ": sparse tensor attributes are not supported");
    case A::TENSORS: return unsupported(ctx, ": tensor-list attributes are not supported");
    case A::TYPE_PROTO:
    case A::TYPE_PROTOS: return unsupported(ctx, ": type attributes are not supported");
    default: return unsupported(ctx, ": unknown attribute type ", static_cast<int>(type));
  }
}

void attr_to_proto(const std::string& name, const AttrValue& v, onnx::AttributeProto* ap) {
  using A = onnx::AttributeProto;
  ap->set_name(name);
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          ap->set_type(A::INT);
          ap->set_i(x);
        } else if constexpr (std::is_same_v<T, float>) {
          ap->set_type(A::FLOAT);
          ap->set_f(x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          ap->set_type(A::STRING);
          ap->set_s(x);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          ap->set_type(A::INTS);
          for (int64_t i : x) ap->add_ints(i);
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          ap->set_type(A::FLOATS);
          for (float f : x) ap->add_floats(f);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          ap->set_type(A::STRINGS);
          for (const auto& s : x) ap->add_strings(s);
        } else {
          ap->set_type(A::TENSOR);
          tensor_to_proto(x, "", ap->mutable_t());
        }
      },
      v);
}

}  // namespace qe::onnx_util
