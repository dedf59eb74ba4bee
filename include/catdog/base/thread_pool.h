#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace catdog {

// The one thread pool of catdog's short parallel jobs (the dataset scan's
// decoding, predict's decoding): runs task(worker, i) for every i in [0, n)
// on min(threads, n) threads, the caller's among them, handing out indices
// one at a time. `worker` (0-based, < threads) lets a task reuse per-thread
// state. The first exception a task throws is rethrown once all have stopped.
// Size it from Runtime::threads.
inline void parallel_for(size_t n, int threads, const std::function<void(size_t worker, size_t i)>& task) {
  const size_t count = std::min(n, static_cast<size_t>(std::max(1, threads)));
  std::atomic<size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  const auto work = [&](size_t worker) {
    try {
      for (size_t i = next++; i < n; i = next++) task(worker, i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      next = n;  // the others stop at their next index
    }
  };
  std::vector<std::thread> pool;
  for (size_t worker = 1; worker < count; ++worker) pool.emplace_back(work, worker);
  if (count > 0) work(0);
  for (auto& thread : pool) thread.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace catdog
