#pragma once
#include <stdexcept>
#include <string>

namespace catdog {

// An error the user can act on. The message says what is wrong and what to
// do; main() prints it as one line on stderr and exits non-zero.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The first line of a message: LibTorch's errors carry a C++ backtrace after it.
inline std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace catdog
