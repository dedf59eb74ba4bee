#include "catdog/base/precision.h"

#include <cpuid.h>

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "catdog/base/error.h"

namespace catdog {

namespace {

// LibTorch 2.4 replaced the per-device autocast setters with ones taking the device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(torch::DeviceType type) { return at::autocast::is_autocast_enabled(type); }
void set_autocast_enabled(torch::DeviceType type, bool on) { at::autocast::set_autocast_enabled(type, on); }
torch::ScalarType autocast_dtype(torch::DeviceType type) { return at::autocast::get_autocast_dtype(type); }
void set_autocast_dtype(torch::DeviceType type, torch::ScalarType dtype) {
  at::autocast::set_autocast_dtype(type, dtype);
}
#else
bool autocast_enabled(torch::DeviceType type) {
  return type == torch::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
void set_autocast_enabled(torch::DeviceType type, bool on) {
  type == torch::kCUDA ? at::autocast::set_enabled(on) : at::autocast::set_cpu_enabled(on);
}
torch::ScalarType autocast_dtype(torch::DeviceType type) {
  return type == torch::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void set_autocast_dtype(torch::DeviceType type, torch::ScalarType dtype) {
  type == torch::kCUDA ? at::autocast::set_autocast_gpu_dtype(dtype) : at::autocast::set_autocast_cpu_dtype(dtype);
}
#endif

}  // namespace

bool bf16_emulated(Precision precision, torch::Device device) {
  return precision == Precision::Bf16 && !device.is_cuda() && !cpu_has_native_bf16();
}

bool cpu_has_native_bf16() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  const bool amx_bf16 = (edx >> 22) & 1u;
  const bool avx512f = (ebx >> 16) & 1u;
  if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) == 0) return amx_bf16;
  const bool avx512_bf16 = (eax >> 5) & 1u;
  return amx_bf16 || (avx512f && avx512_bf16);
}

torch::ScalarType inference_dtype(Precision precision, torch::Device device) {
  switch (precision) {
    case Precision::Fp32: return torch::kFloat;
    case Precision::Bf16: return torch::kBFloat16;
    case Precision::Auto: return device.is_cuda() ? torch::kHalf : torch::kFloat;
  }
  return torch::kFloat;
}

torch::ScalarType training_dtype(Precision precision) {
  return precision == Precision::Bf16 ? torch::kBFloat16 : torch::kFloat;
}

AutocastGuard::AutocastGuard(torch::Device device, torch::ScalarType dtype) : device_type_(device.type()) {
  if (dtype == torch::kFloat) return;
  active_ = true;
  was_enabled_ = autocast_enabled(device_type_);
  previous_dtype_ = autocast_dtype(device_type_);
  set_autocast_dtype(device_type_, dtype);
  set_autocast_enabled(device_type_, true);
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  set_autocast_enabled(device_type_, was_enabled_);
  set_autocast_dtype(device_type_, previous_dtype_);
  // Casts of weights are cached while autocast is on; drop them with it.
  if (!was_enabled_) at::autocast::clear_cache();
}

torch::Tensor forward_in(torch::ScalarType dtype, torch::Device device, const std::function<torch::Tensor()>& forward) {
  AutocastGuard autocast(device, dtype);
  return forward().to(torch::kFloat);
}

std::string dtype_name(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat: return "fp32";
    case torch::kBFloat16: return "bf16";
    case torch::kHalf: return "fp16";
    case torch::kDouble: return "fp64";
    default: return c10::toString(dtype);
  }
}

}  // namespace catdog
