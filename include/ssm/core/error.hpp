// ssm/core/error.hpp — the one exception type of the library and the SSM_CHECK macro that throws it.
// SSM_CHECK(cond, "expected ", a, ", found ", b) throws ssm::Error("file:line: expected …, found …").
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace ssm {

/// Thrown for every run-time failure the library detects on the host: bad shapes, bad files, NaN losses,
/// failed CUDA calls. The message says what was expected and what was found.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

[[noreturn]] inline void fail(const char* file, int line, const std::string& message) {
  std::string where = file;
  if (auto slash = where.rfind('/'); slash != std::string::npos) where = where.substr(slash + 1);
  throw Error(where + ":" + std::to_string(line) + ": " + message);
}

}  // namespace detail
}  // namespace ssm

/// Throws ssm::Error with the message pieces (streamed) when `cond` is false.
#define SSM_CHECK(cond, ...)                                                          \
  do {                                                                                \
    if (!(cond)) [[unlikely]]                                                         \
      ::ssm::detail::fail(__FILE__, __LINE__, ::ssm::detail::concat(__VA_ARGS__));    \
  } while (0)

/// Throws ssm::Error unconditionally.
#define SSM_FAIL(...) ::ssm::detail::fail(__FILE__, __LINE__, ::ssm::detail::concat(__VA_ARGS__))
