#pragma once
#include <filesystem>
#include <string_view>

namespace catdog {

// The one way catdog writes a file: all or nothing. The content is complete
// in memory before anything is opened; it goes to FILE.tmp in the same
// folder, is flushed to disk (fsync) and renamed over FILE. On any failure
// (disk full, read-only folder, ...) FILE keeps its previous content, the
// .tmp is removed, and an Error names the file and the system's reason,
// e.g. "no space left on device while writing /some/folder/file".
void write_file_atomically(const std::filesystem::path& file, std::string_view bytes);

}  // namespace catdog
