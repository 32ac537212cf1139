// Session: a small pool of engine sessions over one prepared graph, so that callers on several
// threads run at the same time. One engine session already serialises runs of the same input
// shapes (its plan owns one arena), so concurrency needs one engine session per concurrent run;
// they are created on first need, up to max_concurrent_runs, and reused afterwards.
#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <numeric>
#include <thread>

#include "apps/libqengine/api_internal.h"
#include "engine/data/image.h"
#include "engine/session.h"
#include "quant/lower_integer.h"

namespace qengine {

namespace {

std::string shape_text(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

// The same checks `qengine run` makes before it feeds images to a model.
void check_image_model(const Model::Impl& m) {
  const std::string& what = m.name;
  if (m.inputs.size() != 1) {
    throw Error(ErrorCode::invalid_argument, what + ": images need a model with one input; this one has " +
                                                 std::to_string(m.inputs.size()));
  }
  const TensorInfo& in = m.inputs[0];
  if (in.shape_known && in.shape.size() != 4) {
    throw Error(ErrorCode::invalid_argument, what + ": input '" + in.name + "' has shape " + shape_text(in.shape) +
                                                 "; images need a 4-D NCHW input");
  }
  if (in.dtype != DType::float32) {
    throw Error(ErrorCode::invalid_argument, what + ": input '" + in.name + "' is " + dtype_name(in.dtype) +
                                                 "; images need a float32 input");
  }
  const qe::Preprocessing& p = m.preprocessing;
  if (in.shape_known && in.shape[1] > 0 && in.shape[1] != p.channels) {
    throw Error(ErrorCode::invalid_argument, what + ": input '" + in.name + "' wants " + std::to_string(in.shape[1]) +
                                                 " channels but its preprocessing gives " + std::to_string(p.channels));
  }
}

}  // namespace

struct Session::Impl {
  Model model;
  SessionOptions options;
  qe::Graph run_graph;  // lowered to integer ops when the model is quantized (and not simulated)
  bool integer = false;
  int max_engines = 1;
  int threads = 0;

  std::mutex mutex;
  std::condition_variable engine_returned;
  std::vector<std::unique_ptr<qe::Session>> idle;
  int created = 0;

  explicit Impl(const Model& m) : model(m) {}

  std::unique_ptr<qe::Session> create_engine() const {
    qe::SessionOptions so;
    so.num_threads = options.threads;
    if (options.max_memory_bytes > 0) so.max_arena_bytes = options.max_memory_bytes;
    auto session = qe::Session::create(run_graph, so);
    if (!session.is_ok()) {
      qe::api::throw_status(session.status().with_context(detail::Access::impl(model)->name + ": "));
    }
    return std::move(session).value();
  }

  std::unique_ptr<qe::Session> acquire() {
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      if (!idle.empty()) {
        auto engine = std::move(idle.back());
        idle.pop_back();
        return engine;
      }
      if (created < max_engines) {
        ++created;
        lock.unlock();  // creation runs the load-time passes: do not hold up the other callers
        try {
          return create_engine();
        } catch (...) {
          lock.lock();
          --created;
          engine_returned.notify_one();
          throw;
        }
      }
      engine_returned.wait(lock);
    }
  }

  void release(std::unique_ptr<qe::Session> engine) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      idle.push_back(std::move(engine));
    }
    engine_returned.notify_one();
  }

  std::vector<qe::Tensor> run_engine(const std::vector<qe::Tensor>& inputs) {
    // Returned to the pool even when the run throws (std::bad_alloc).
    struct Lease {
      Impl* owner;
      std::unique_ptr<qe::Session> engine;
      ~Lease() { owner->release(std::move(engine)); }
    } lease{this, acquire()};
    return qe::api::value_or_throw(lease.engine->run(inputs));
  }

  qe::Tensor preprocess(const std::string& path) const {
    const Model::Impl& m = *detail::Access::impl(model);
    check_image_model(m);
    const qe::Preprocessing& p = m.preprocessing;
    qe::Image img = qe::api::value_or_throw(qe::decode_image_file(path));
    auto dims = qe::preprocessed_dims(p, img.height, img.width);
    if (!dims.is_ok()) qe::api::throw_status(dims.status().with_context(path + ": "));
    const TensorInfo& in = m.inputs[0];
    if (in.shape_known && ((in.shape[2] > 0 && in.shape[2] != dims->height) ||
                           (in.shape[3] > 0 && in.shape[3] != dims->width))) {
      throw Error(ErrorCode::invalid_argument, path + ": preprocesses to " + std::to_string(dims->height) + "x" +
                                                   std::to_string(dims->width) + " but input '" + in.name +
                                                   "' expects " + shape_text(in.shape));
    }
    qe::Tensor t(qe::DType::kF32, qe::Shape({1, dims->channels, dims->height, dims->width}));
    qe::Status st = qe::preprocess(img, p, t.data<float>());
    if (!st.is_ok()) qe::api::throw_status(st.with_context(path + ": "));
    return t;
  }
};

Session::Session(const Model& model, const SessionOptions& options) : impl_(std::make_unique<Impl>(model)) {
  if (options.threads < 0) throw Error(ErrorCode::invalid_argument, "SessionOptions::threads must not be negative");
  if (options.max_concurrent_runs < 0) {
    throw Error(ErrorCode::invalid_argument, "SessionOptions::max_concurrent_runs must not be negative");
  }
  const Model::Impl& m = *detail::Access::impl(model);
  impl_->options = options;
  impl_->max_engines = options.max_concurrent_runs > 0
                           ? options.max_concurrent_runs
                           : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  impl_->run_graph = m.graph;
  if (!options.simulate && m.quantized) {
    auto report = qe::lower_to_integer(impl_->run_graph);
    if (!report.is_ok()) qe::api::throw_status(report.status().with_context(m.name + ": integer lowering: "));
    impl_->integer = true;
  }
  // The first engine is made now so that a model that cannot run fails here, not in run().
  auto engine = impl_->create_engine();
  impl_->threads = engine->num_threads();
  impl_->created = 1;
  impl_->idle.push_back(std::move(engine));
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

const Model& Session::model() const { return impl_->model; }
bool Session::runs_integer_kernels() const { return impl_->integer; }
int Session::threads() const { return impl_->threads; }

std::map<std::string, Tensor> Session::run(const std::map<std::string, Tensor>& inputs) const {
  const Model::Impl& m = *detail::Access::impl(impl_->model);
  for (const auto& [name, tensor] : inputs) {
    bool known = std::any_of(m.inputs.begin(), m.inputs.end(), [&](const TensorInfo& i) { return i.name == name; });
    if (!known) {
      std::string names;
      for (const TensorInfo& i : m.inputs) names += (names.empty() ? "'" : ", '") + i.name + "'";
      throw Error(ErrorCode::invalid_argument, "model has no input named '" + name + "' (its inputs: " + names + ")");
    }
  }
  std::vector<qe::Tensor> ordered;
  for (const TensorInfo& info : m.inputs) {
    auto it = inputs.find(info.name);
    if (it == inputs.end()) throw Error(ErrorCode::invalid_argument, "input '" + info.name + "' was not given");
    const Tensor& t = it->second;
    if (t.dtype() != info.dtype) {
      throw Error(ErrorCode::invalid_argument, "input '" + info.name + "' expects " + dtype_name(info.dtype) +
                                                   ", got " + dtype_name(t.dtype()));
    }
    if (info.shape_known) {
      bool fits = t.shape().size() == info.shape.size();
      for (size_t d = 0; fits && d < info.shape.size(); ++d) fits = info.shape[d] < 0 || info.shape[d] == t.shape()[d];
      if (!fits) {
        throw Error(ErrorCode::invalid_argument, "input '" + info.name + "' expects shape " + shape_text(info.shape) +
                                                     " (-1: any), got " + shape_text(t.shape()));
      }
    }
    ordered.push_back(qe::api::to_engine_tensor(t));
  }
  std::vector<qe::Tensor> out = impl_->run_engine(ordered);
  std::map<std::string, Tensor> named;
  for (size_t i = 0; i < out.size() && i < m.outputs.size(); ++i) {
    named.emplace(m.outputs[i].name, qe::api::to_public_tensor(out[i]));
  }
  return named;
}

Tensor Session::preprocess_image(const std::string& image_path) const {
  return qe::api::to_public_tensor(impl_->preprocess(image_path));
}

std::vector<Prediction> Session::classify(const std::string& image_path, int top_k) const {
  if (top_k < 1) throw Error(ErrorCode::invalid_argument, "top_k must be at least 1, got " + std::to_string(top_k));
  const Model::Impl& m = *detail::Access::impl(impl_->model);
  qe::Tensor input = impl_->preprocess(image_path);
  // A model with a fixed batch gets the image in row 0 of a zero batch.
  const TensorInfo& in = m.inputs[0];
  if (in.shape_known && in.shape[0] > 1) {
    qe::Shape s = input.shape();
    s[0] = in.shape[0];
    qe::Tensor padded(qe::DType::kF32, s);
    std::memcpy(padded.raw(), input.raw(), input.bytes());
    input = padded;
  }
  std::vector<qe::Tensor> out = impl_->run_engine({input});
  const qe::Tensor& logits = out[0];
  if (logits.dtype() != qe::DType::kF32 || logits.shape().rank() != 2 || logits.shape()[0] != input.shape()[0]) {
    throw Error(ErrorCode::invalid_argument, m.name + ": output '" + m.outputs[0].name + "' has shape " +
                                                 logits.shape().to_string() + "; classify needs [batch, classes] logits");
  }
  const int64_t classes = logits.shape()[1];
  const float* row = logits.data<float>();
  const float mx = *std::max_element(row, row + classes);
  double sum = 0;
  for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(row[c] - mx));
  std::vector<int64_t> order(static_cast<size_t>(classes));
  std::iota(order.begin(), order.end(), 0);
  const int k = static_cast<int>(std::min<int64_t>(top_k, classes));
  // Ties go to the lower class index, as `qengine eval` counts them.
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int64_t a, int64_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
  std::vector<Prediction> top;
  for (int r = 0; r < k; ++r) {
    const int64_t c = order[static_cast<size_t>(r)];
    Prediction p;
    p.class_index = static_cast<int>(c);
    p.label = static_cast<size_t>(c) < m.preprocessing.labels.size() ? m.preprocessing.labels[static_cast<size_t>(c)] : "";
    p.logit = row[c];
    p.probability = static_cast<float>(std::exp(static_cast<double>(row[c] - mx)) / sum);
    top.push_back(std::move(p));
  }
  return top;
}

}  // namespace qengine
