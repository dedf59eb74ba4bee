#pragma once
#include <functional>
#include <string>

#include <torch/types.h>

#include "catdog/base/names.h"

namespace catdog {

// The arithmetic a model runs in. Auto: inference as below, training of the
// trainable layers in fp32. Bf16 (asked for): frozen-backbone feature
// extraction, eval, predict and, in `train`, the trainable layers' forward and
// backward too (autocast: weights, their gradients and the optimizer stay fp32).
enum class Precision {
  // fp16 on CUDA, fp32 on CPUs. Not bf16 on CPUs that have it natively: on a
  // MobileNetV2 checkpoint bf16 changed 6 of 3,012 labels (bench/precision_check.sh,
  // BENCHMARKS.md), so it is asked for, not assumed.
  Auto,
  Fp32,
  Bf16,
};

inline constexpr Named<Precision> kPrecisionNames[] = {
    {Precision::Auto, "auto"}, {Precision::Fp32, "fp32"}, {Precision::Bf16, "bf16"}};
inline Precision parse_precision(const std::string& name) { return parse_named(kPrecisionNames, name, "precision"); }
inline const char* to_string(Precision precision) { return name_of(kPrecisionNames, precision); }

// Whether this CPU has bf16 dot-product instructions (AVX512-BF16 or AMX-BF16):
// without them bf16 is emulated and slower than fp32.
bool cpu_has_native_bf16();

// Whether `precision` on `device` runs bf16 without the CPU's bf16 instructions
// (slower than fp32: worth a warning).
bool bf16_emulated(Precision precision, torch::Device device);

// The dtype inference on `device` runs in for `precision`: float, bfloat16 or half.
torch::ScalarType inference_dtype(Precision precision, torch::Device device);
// A number format as people name it in messages: fp32, bf16, fp16, fp64
// (LibTorch's own names, "Float" and "BFloat16", for the rest).
std::string dtype_name(torch::ScalarType dtype);
// The dtype the trainable layers compute in: bfloat16 when asked for, else float
// (fp16 on CUDA would need loss scaling, which catdog does not do).
torch::ScalarType training_dtype(Precision precision);

// While alive, LibTorch's autocast runs matrix products and convolutions on
// `device` in `dtype` (inputs and weights cast on the fly, outputs in that
// dtype; reductions stay fp32). Nothing happens for float. Restores the
// previous autocast state on destruction.
class AutocastGuard {
 public:
  AutocastGuard(torch::Device device, torch::ScalarType dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  torch::DeviceType device_type_;
  bool active_ = false;
  bool was_enabled_ = false;
  torch::ScalarType previous_dtype_ = torch::kFloat;
};

// `forward()` run under an AutocastGuard for `dtype` on `device`, its output
// returned as float32: how feature extraction, eval and predict run a model.
torch::Tensor forward_in(torch::ScalarType dtype, torch::Device device, const std::function<torch::Tensor()>& forward);

}  // namespace catdog
