// Bytes -> decode_rgb (every format catdog accepts, default pixel cap) -> the
// 160x160 network input, as training and prediction read a photo.
#include <cstdint>
#include <vector>

#include "catdog/base/error.h"
#include "catdog/data/preprocess.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  catdog::fuzz::silence_logging();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uchar> bytes(data, data + size);
  try {
    catdog::resize_to_input(catdog::decode_rgb(bytes, "fuzz input"), catdog::kDefaultImageSize);
  } catch (const catdog::Error&) {
  }
  return 0;
}
