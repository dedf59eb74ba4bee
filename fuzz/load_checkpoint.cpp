// Bytes -> load_checkpoint, as eval, predict and --resume read a .ckpt.
#include <cstdint>

#include "catdog/base/error.h"
#include "catdog/store/checkpoint.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  catdog::fuzz::silence_logging();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto file = catdog::fuzz::input_file(".ckpt");
  catdog::fuzz::write_input(file, data, size);
  try {
    catdog::load_checkpoint(file, torch::kCPU);
  } catch (const catdog::Error&) {
  }
  return 0;
}
