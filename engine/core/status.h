// Status / Result: the error channel for anything a user or a model can cause.
#pragma once

#include <cassert>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace qe {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad user input: flags, shapes, files with wrong content
  kNotFound,         // missing file, value, attribute
  kUnsupported,      // valid input we do not handle (op, attribute, dtype)
  kIoError,          // cannot read or write a file
  kParseError,       // malformed file (protobuf, JSON, image)
  kOutOfRange,       // sizes that overflow or exceed limits
  kInternal,         // broken invariant detected at run time
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string to_string() const;

  // Prefixes context ("node 'conv1': ") while keeping the code.
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

template <typename... Args>
Status make_error(StatusCode code, const Args&... args) {
  return Status(code, str_cat(args...));
}
template <typename... Args>
Status invalid_argument(const Args&... args) { return make_error(StatusCode::kInvalidArgument, args...); }
template <typename... Args>
Status unsupported(const Args&... args) { return make_error(StatusCode::kUnsupported, args...); }
template <typename... Args>
Status not_found(const Args&... args) { return make_error(StatusCode::kNotFound, args...); }
template <typename... Args>
Status io_error(const Args&... args) { return make_error(StatusCode::kIoError, args...); }
template <typename... Args>
Status parse_error(const Args&... args) { return make_error(StatusCode::kParseError, args...); }
template <typename... Args>
Status out_of_range(const Args&... args) { return make_error(StatusCode::kOutOfRange, args...); }
template <typename... Args>
Status internal_error(const Args&... args) { return make_error(StatusCode::kInternal, args...); }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : data_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(data_).is_ok() && "Result constructed from an OK status");
  }

  bool is_ok() const { return std::holds_alternative<T>(data_); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(data_);
  }
  T& value() & { assert(is_ok()); return std::get<T>(data_); }
  const T& value() const& { assert(is_ok()); return std::get<T>(data_); }
  T&& value() && { assert(is_ok()); return std::get<T>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace qe

#define QE_CONCAT_INNER(a, b) a##b
#define QE_CONCAT(a, b) QE_CONCAT_INNER(a, b)

// Returns the status from the enclosing function when `expr` fails.
#define QE_RETURN_IF_ERROR(expr)            \
  do {                                      \
    ::qe::Status qe_status_ = (expr);       \
    if (!qe_status_.is_ok()) return qe_status_; \
  } while (0)

#define QE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.is_ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

// `QE_ASSIGN_OR_RETURN(auto x, make_x());`
#define QE_ASSIGN_OR_RETURN(lhs, expr) QE_ASSIGN_OR_RETURN_IMPL(QE_CONCAT(qe_result_, __LINE__), lhs, expr)
