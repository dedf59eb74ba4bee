// Bytes -> read_checkpoint_meta: the JSON metadata every checkpoint load
// parses and checks before any tensor (its checksum is recomputable, so
// load_checkpoint's own target rarely gets this far with a mutated text).
#include <cstdint>
#include <string>

#include "catdog/base/error.h"
#include "catdog/store/checkpoint.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  catdog::fuzz::silence_logging();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    catdog::read_checkpoint_meta(std::string(reinterpret_cast<const char*>(data), size), "fuzz.ckpt");
  } catch (const catdog::Error&) {
  }
  return 0;
}
