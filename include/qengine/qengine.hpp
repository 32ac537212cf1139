// qengine's public C++ API: load a float or quantized ONNX model, run it (on named tensors or
// on an image with the model's own preprocessing), quantize it with a rule file and a folder of
// calibration images, export it as QONNX or QCDQ. Only the standard library appears here; the
// engine's own types stay inside libqengine. Documented in docs/api.md.
//
// Errors: every function reports failure by throwing qengine::Error (a std::runtime_error with
// a code); messages name the file, input or node involved.
// Threads: a Model is immutable and may be shared freely. Session::run / classify may be called
// from several threads on one Session at once (see SessionOptions::max_concurrent_runs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace qengine {

// Version of the library ("0.1.0"); the shared library's SONAME carries major.minor for 0.x.
const char* version();

enum class ErrorCode {
  invalid_argument = 1,  // bad input: names, shapes, dtypes, malformed files or options
  not_found = 2,         // a file, input or value that does not exist
  unsupported = 3,       // valid input qengine does not handle (op, dtype, attribute)
  runtime = 4,           // the job failed while running (I/O, limits, internal errors)
  out_of_memory = 5,
};
const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

enum class DType { float32, int8, uint8, int32, int64 };
const char* dtype_name(DType dtype);
size_t dtype_size(DType dtype);  // bytes per element

// A dense row-major tensor that owns its data (copies copy the data).
class Tensor {
 public:
  Tensor() = default;
  // Zero-filled. Throws for negative dimensions.
  Tensor(DType dtype, std::vector<int64_t> shape);
  // Copies numel(shape) elements of `dtype` from `data`.
  static Tensor from_data(DType dtype, std::vector<int64_t> shape, const void* data);
  // Throws unless values.size() equals the product of the shape.
  static Tensor from_floats(std::vector<int64_t> shape, std::vector<float> values);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t numel() const;
  size_t byte_size() const { return bytes_.size(); }
  void* data() { return bytes_.data(); }
  const void* data() const { return bytes_.data(); }
  // Typed access; throws when T does not match dtype().
  template <typename T> T* data_as() { check_type(sizeof(T), is_float<T>()); return static_cast<T*>(data()); }
  template <typename T> const T* data_as() const { check_type(sizeof(T), is_float<T>()); return static_cast<const T*>(data()); }
  // The elements as floats (any dtype).
  std::vector<float> to_floats() const;

  bool operator==(const Tensor& o) const { return dtype_ == o.dtype_ && shape_ == o.shape_ && bytes_ == o.bytes_; }
  bool operator!=(const Tensor& o) const { return !(*this == o); }

 private:
  template <typename T> static constexpr bool is_float() { return static_cast<T>(0.5) != static_cast<T>(0); }
  void check_type(size_t element_size, bool floating) const;

  DType dtype_ = DType::float32;
  std::vector<int64_t> shape_;
  std::vector<unsigned char> bytes_;
};

// A model input or output as declared: -1 marks a symbolic dimension ("batch").
struct TensorInfo {
  std::string name;
  DType dtype = DType::float32;
  std::vector<int64_t> shape;
  bool shape_known = false;  // false: the model does not declare the rank
};

namespace detail { struct Access; }

// An imported model and, when it has one, its sidecar JSON (<model>.json: preprocessing and
// class labels). Immutable; copies are cheap and share the graph.
class Model {
 public:
  // Float ONNX, QONNX or QCDQ. Reads the sidecar next to `path` when present.
  static Model load(const std::string& path);
  // An ONNX model in memory (no external data); `sidecar_json` is the sidecar's text, if any.
  static Model from_bytes(const void* data, size_t size, const std::string& sidecar_json = "");

  const std::vector<TensorInfo>& inputs() const;
  const std::vector<TensorInfo>& outputs() const;
  bool is_quantized() const;  // holds quantizers (FakeQuant / Trunc, QONNX Quant, QCDQ chains)
  const std::vector<std::string>& labels() const;  // class names from the sidecar, may be empty

  // Atomic writes (temporary file + rename). The sidecar, when the model has one, is written
  // next to the file as <path without .onnx>.json so that a reload preprocesses alike.
  void export_qonnx(const std::string& path) const;
  void export_qcdq(const std::string& path) const;  // throws `unsupported` when not expressible

  struct Impl;

 private:
  explicit Model(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  friend struct detail::Access;
  std::shared_ptr<const Impl> impl_;
};

struct SessionOptions {
  int threads = 0;        // threads per run; 0: all hardware threads
  bool simulate = false;  // quantized models: fake-quant in float instead of integer kernels
  // Runs that may execute at the same time on one Session; each gets its own engine instance
  // (created on first need). 0: the number of hardware threads. Further callers wait.
  int max_concurrent_runs = 0;
  // Memory cap of each engine instance's execution plan (activations and kernel workspace);
  // a run that would need more fails with ErrorCode::runtime instead of allocating. 0: 16 GiB.
  size_t max_memory_bytes = 0;
};

struct Prediction {
  int class_index = -1;
  std::string label;  // from the sidecar; empty when the model has none
  float probability = 0;  // softmax over the logits
  float logit = 0;
};

class Session {
 public:
  explicit Session(const Model& model, const SessionOptions& options = {});
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Every model input by name; returns every output by name. Thread-safe.
  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& inputs) const;
  // The image as the model's single NCHW input ([1, C, H, W]), preprocessed as the sidecar says
  // (ImageNet's resize 256 / crop 224 when the model has no sidecar).
  Tensor preprocess_image(const std::string& image_path) const;
  // Top-k classes of one image, best first (k is capped at the number of classes). Thread-safe.
  std::vector<Prediction> classify(const std::string& image_path, int top_k = 5) const;

  const Model& model() const;
  bool runs_integer_kernels() const;  // a quantized model lowered to integer ops
  int threads() const;                // threads per run

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct QuantizeOptions {
  // The rule file (docs/config.md), or its JSON text; neither: the built-in defaults.
  std::string rules_file;
  std::string rules_json;
  // "layerwise", "full" or "finn"; empty: the rule file's policy, else "full".
  std::string policy;
  // ImageNet-style folder (DIR/<class>/<image>), preprocessed as the model's sidecar says.
  std::string calibration_dir;
  int64_t samples = 1000;                 // images spread evenly over the folder
  int64_t bias_correction_samples = 128;  // a subset of those, as `qengine calibrate` does
  int batch = 16;
  int threads = 0;
};

// The quantized (fake-quant) model, with the float model's sidecar. Same pipeline as
// `qengine calibrate` with default flags (without its reports).
Model quantize(const Model& float_model, const QuantizeOptions& options);

}  // namespace qengine
