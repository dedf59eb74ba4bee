#pragma once
#include <stdexcept>

namespace catdog {

// An error the user can act on. The message says what is wrong and what to
// do; main() prints it as one line on stderr and exits non-zero.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace catdog
