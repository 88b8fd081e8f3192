// tessera/status.h — error values for host code.
//
// Every fallible host function returns Status (no value) or Expected<T> (a value or an error).
// Exceptions never cross a tessera API: parsers and loaders catch and convert. A message is meant
// for a user: it names the file, field or parameter that is wrong and what was expected, e.g.
//   "config.json: field 'hidden_size' must be an integer, got \"abc\"".
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace tessera {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller passed something malformed (a flag, a request field)
  kNotFound,         // a file, tensor or key that should exist does not
  kDataLoss,         // a file is truncated or corrupt (bad header, offsets past the end)
  kUnimplemented,    // a valid input that tessera does not support yet (an architecture, a dtype)
  kOutOfMemory,      // host or device allocation failed
  kIoError,          // the OS refused a read, write or map
  kInternal,         // a bug in tessera
  kCancelled,
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
  // "invalid argument: config.json: ..." — for logs; the CLI prints message() alone.
  std::string to_string() const;

  // Prefixes the message with context ("model.safetensors: " + message), keeping the code.
  Status with_context(const std::string& prefix) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status data_loss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
inline Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status out_of_memory(std::string m) { return {StatusCode::kOutOfMemory, std::move(m)}; }

// A value or a non-ok Status. Accessing value() of an error is a bug and aborts.
template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Expected(Status status) : v_(std::move(status)) {  // NOLINT
    if (std::get<Status>(v_).is_ok()) v_ = Status(StatusCode::kInternal, "Expected built from ok Status");
  }

  bool has_value() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return has_value(); }

  T& value() & { check(); return std::get<T>(v_); }
  const T& value() const& { check(); return std::get<T>(v_); }
  T&& value() && { check(); return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  Status status() const { return has_value() ? Status() : std::get<Status>(v_); }

 private:
  void check() const;
  std::variant<T, Status> v_;
};

[[noreturn]] void fatal_bad_expected_access(const Status& s);

template <typename T>
void Expected<T>::check() const {
  if (!has_value()) fatal_bad_expected_access(std::get<Status>(v_));
}

}  // namespace tessera

#define TESSERA_CONCAT_INNER(a, b) a##b
#define TESSERA_CONCAT(a, b) TESSERA_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` (a Status) is not ok.
#define TESSERA_RETURN_IF_ERROR(expr)                 \
  do {                                                \
    ::tessera::Status _st = (expr);                   \
    if (!_st.is_ok()) return _st;                     \
  } while (0)

// `TESSERA_ASSIGN_OR_RETURN(auto x, f())`: binds the value of an Expected or returns its Status.
// It declares a variable, so under a `case` label it needs braces.
#define TESSERA_ASSIGN_OR_RETURN(lhs, expr) \
  TESSERA_ASSIGN_OR_RETURN_IMPL(TESSERA_CONCAT(_exp_, __LINE__), lhs, expr)
#define TESSERA_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.has_value()) return tmp.status();          \
  lhs = std::move(tmp).value()
