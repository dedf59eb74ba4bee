// The cores' arithmetic limit, measured: independent AVX-512 fp32 FMAs and bf16
// dot products (vdpbf16ps) in registers, on THREADS threads. The roofline the
// BENCHMARKS.md fractions are taken against (a library's matmul may not use
// every unit: Debian's OpenBLAS 0.3.21 runs its AVX2 kernel on Zen 5).
//   bench_fma_peak [THREADS]   -> "fp32 GFLOP/s" and "bf16 GFLOP/s" lines
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr long kIterations = 200'000'000;

// 12 independent accumulators hide the FMA latency; 32 FLOP per fp32 FMA of 16 lanes.
__attribute__((target("avx512f"))) float fp32_loop() {
  __m512 acc[12];
  for (auto& a : acc) a = _mm512_set1_ps(0.0f);
  const __m512 x = _mm512_set1_ps(1e-9f), y = _mm512_set1_ps(1.0f);
  for (long i = 0; i < kIterations / 12; ++i)
    for (auto& a : acc) a = _mm512_fmadd_ps(x, y, a);
  __m512 sum = acc[0];
  for (int k = 1; k < 12; ++k) sum = _mm512_add_ps(sum, acc[k]);
  return _mm512_reduce_add_ps(sum);
}

// 64 FLOP per vdpbf16ps (16 lanes x 2 products x multiply + add).
__attribute__((target("avx512f,avx512bf16"))) float bf16_loop() {
  __m512 acc[12];
  for (auto& a : acc) a = _mm512_set1_ps(0.0f);
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3000);
  for (long i = 0; i < kIterations / 12; ++i)
    for (auto& a : acc) a = _mm512_dpbf16_ps(a, x, y);
  __m512 sum = acc[0];
  for (int k = 1; k < 12; ++k) sum = _mm512_add_ps(sum, acc[k]);
  return _mm512_reduce_add_ps(sum);
}

double gflops(float (*loop)(), double flop_per_instruction, int threads) {
  std::vector<std::thread> workers;
  std::vector<float> sink(threads);
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) workers.emplace_back([&, t] { sink[t] = loop(); });
  for (auto& worker : workers) worker.join();
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
  return threads * (kIterations / 12 * 12) * flop_per_instruction / seconds.count() / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::stoi(argv[1]) : static_cast<int>(std::thread::hardware_concurrency());
  if (!__builtin_cpu_supports("avx512f")) {
    std::puts("no AVX-512 on this CPU");
    return 0;
  }
  std::printf("fp32 GFLOP/s %.0f\n", gflops(fp32_loop, 32, threads));
  if (__builtin_cpu_supports("avx512bf16")) std::printf("bf16 GFLOP/s %.0f\n", gflops(bf16_loop, 64, threads));
}
