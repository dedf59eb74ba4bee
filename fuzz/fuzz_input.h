// Shared by the fuzz targets: the loaders under test take a path, so each
// input is written to a file of this process's own first.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <spdlog/spdlog.h>

namespace catdog::fuzz {

// /dev/shm when present: a RAM file, no disk traffic per execution.
inline std::filesystem::path input_file(const std::string& extension) {
  const std::filesystem::path folder = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
  return folder / ("catdog-fuzz-" + std::to_string(::getpid()) + extension);
}

inline void write_input(const std::filesystem::path& file, const uint8_t* data, size_t size) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

// The loaders log skipped files and the like: noise at millions of runs.
inline void silence_logging() { spdlog::set_level(spdlog::level::off); }

}  // namespace catdog::fuzz
