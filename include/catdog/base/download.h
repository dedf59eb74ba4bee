#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "catdog/base/error.h"

namespace catdog {

// What a file must be to be accepted: the size and MD5 its publisher pins.
struct ExpectedFile {
  int64_t bytes = -1;  // -1: any size
  std::string md5;     // lowercase hex; "": none pinned, the size is all that is checked
};

// The MD5 of a file's bytes as lowercase hex (Error if it cannot be read).
std::string md5_of_file(const std::filesystem::path& file);

// How `file` differs from `expected`, e.g. "9398928 bytes where 9406464 were
// expected"; "" when it matches.
std::string file_mismatch(const std::filesystem::path& file, const ExpectedFile& expected);

// A download that arrived whole but is not the expected file (size or MD5):
// a bad mirror, a proxy's error page, a changed upstream file.
class DownloadMismatch : public Error {
 public:
  using Error::Error;
};

struct DownloadOptions {
  // A transfer that stays under `stall_bytes_per_second` for `stall_seconds`
  // is abandoned (a server or proxy that stopped sending).
  long stall_seconds = 30;
  long stall_bytes_per_second = 1024;
  long connect_timeout_seconds = 20;
  // Called as bytes arrive: (received, total); total is 0 while the server
  // has not said. Nothing is printed otherwise: drawing is the caller's.
  std::function<void(int64_t received, int64_t total)> progress;
};

// Downloads `url` (http, https, file; redirects followed, proxies from the
// usual environment variables) to `target`, all or nothing:
//  - the bytes go to `target`.part and are renamed to `target` only once
//    their size and MD5 match `expected`: a partial or wrong download is
//    removed, never left where a reader would take it for the whole file;
//  - processes downloading the same target take turns on an flock()ed
//    `target`.lock: the one that waits uses the file the first one
//    downloaded (when it matches) instead of downloading it again;
//  - a `target` already there and matching is kept without a request.
// Creates `target`'s folder. Errors (catdog::Error) name the URL and what
// failed: "HTTP 404", "could not resolve host", a stall; DownloadMismatch
// for bytes that are not the expected file.
void download_file(const std::string& url, const std::filesystem::path& target, const ExpectedFile& expected,
                   const DownloadOptions& options = {});

}  // namespace catdog
