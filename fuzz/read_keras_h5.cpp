// Bytes -> read_keras_weights, as training reads the backbone's Keras .h5.
#include <cstdint>

#include "catdog/base/error.h"
#include "catdog/models/keras_h5.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  catdog::fuzz::silence_logging();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto file = catdog::fuzz::input_file(".h5");
  catdog::fuzz::write_input(file, data, size);
  try {
    catdog::read_keras_weights(file);
  } catch (const catdog::Error&) {
  }
  return 0;
}
