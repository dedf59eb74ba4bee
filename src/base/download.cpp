// libcurl rather than cpp-httplib's client (which `serve` links for its
// server): curl follows HTTPS redirects across hosts (Google's storage answers
// with them), takes proxies from the environment (https_proxy, no_proxy) as
// every other download tool on the machine does, uses the system's CA store,
// aborts a stalled transfer with its low-speed limit, and reads file://
// mirrors; cpp-httplib would need each of those written here.
#include "catdog/base/download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include <spdlog/spdlog.h>

#include "catdog/base/error.h"

namespace catdog {

namespace fs = std::filesystem;

namespace {

std::string system_reason(int error_number) {
  std::string reason = std::strerror(error_number);
  if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(reason[0])));
  return reason;
}

// An exclusive flock() on `file` (created if absent), held until destruction.
class FileLock {
 public:
  explicit FileLock(const fs::path& file) : fd_(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ < 0) throw Error(system_reason(errno) + " while creating " + file.string() + ": check the folder's permissions");
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
    spdlog::info("another process is downloading {}: waiting for it", file.stem().string());
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      const int error_number = errno;
      ::close(fd_);
      throw Error(system_reason(error_number) + " while locking " + file.string());
    }
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock() { ::close(fd_); }  // releases the lock

 private:
  int fd_;
};

// Removes `file` on destruction unless released: no partial download survives an error.
class RemoveUnlessKept {
 public:
  explicit RemoveUnlessKept(fs::path file) : file_(std::move(file)) {}
  ~RemoveUnlessKept() {
    std::error_code ignored;
    if (!kept_) fs::remove(file_, ignored);
  }
  void keep() { kept_ = true; }

 private:
  fs::path file_;
  bool kept_ = false;
};

// libcurl's process-wide set-up, done once before the first transfer.
void initialise_curl_once() {
  static const CURLcode status = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (status != CURLE_OK) throw Error(std::string("libcurl failed to initialise: ") + curl_easy_strerror(status));
}

struct Transfer {
  std::FILE* out;
  const DownloadOptions* options;
  int write_errno = 0;  // why the file could not take the bytes (disk full, ...)
};

size_t write_body(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t written = std::fwrite(data, size, count, transfer->out);
  if (written < count) transfer->write_errno = errno;  // curl stops with CURLE_WRITE_ERROR
  return written * size;
}

int report_progress(void* user, curl_off_t total, curl_off_t received, curl_off_t, curl_off_t) {
  const auto* transfer = static_cast<Transfer*>(user);
  transfer->options->progress(static_cast<int64_t>(received), static_cast<int64_t>(total));
  return 0;
}

// One GET of `url` into `file` (truncated first); Error on any failure.
void fetch(const std::string& url, const fs::path& file, const DownloadOptions& options) {
  initialise_curl_once();
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> out(std::fopen(file.c_str(), "wb"), &std::fclose);
  if (!out) throw Error(system_reason(errno) + " while creating " + file.string() + ": check the folder's permissions");
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) throw Error("libcurl could not start a transfer for " + url);

  Transfer transfer{out.get(), &options};
  char curl_message[CURL_ERROR_SIZE] = "";
  CURL* handle = curl.get();
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https,file");
  curl_easy_setopt(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");  // a web server cannot redirect to a local file
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(handle, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(handle, CURLOPT_FAILONERROR, 1L);  // an HTTP error page is not the file
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, options.connect_timeout_seconds);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, options.stall_seconds);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, options.stall_bytes_per_second);
  curl_easy_setopt(handle, CURLOPT_USERAGENT, "catdog/" CATDOG_VERSION);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, curl_message);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for DNS timeouts: catdog has threads
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &write_body);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &transfer);
  if (options.progress) {
    curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, &report_progress);
    curl_easy_setopt(handle, CURLOPT_XFERINFODATA, &transfer);
  }

  const CURLcode status = curl_easy_perform(handle);
  if (status == CURLE_HTTP_RETURNED_ERROR) {
    long code = 0;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &code);
    throw Error("downloading " + url + " failed: the server answered HTTP " + std::to_string(code));
  }
  if (status == CURLE_WRITE_ERROR) throw Error(system_reason(transfer.write_errno) + " while writing " + file.string());
  if (status != CURLE_OK)
    throw Error("downloading " + url + " failed: " + (*curl_message ? curl_message : curl_easy_strerror(status)));
  // fsync before the rename: after a crash the final name never points at missing data.
  if (std::fflush(out.get()) != 0 || ::fsync(fileno(out.get())) != 0)
    throw Error(system_reason(errno) + " while writing " + file.string());
}

}  // namespace

std::string md5_of_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("cannot read " + file.string() + " to check its MD5");
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!context || EVP_DigestInit_ex(context.get(), EVP_md5(), nullptr) != 1)
    throw Error("OpenSSL offers no MD5 here (a FIPS-only configuration?): cannot check " + file.string());
  std::vector<char> buffer(1 << 20);
  while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0)
    EVP_DigestUpdate(context.get(), buffer.data(), static_cast<size_t>(in.gcount()));
  if (in.bad()) throw Error("cannot read " + file.string() + " to check its MD5");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context.get(), digest, &length);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[digest[i] >> 4];
    hex += kDigits[digest[i] & 15];
  }
  return hex;
}

std::string file_mismatch(const fs::path& file, const ExpectedFile& expected) {
  std::error_code error;
  const auto bytes = static_cast<int64_t>(fs::file_size(file, error));
  if (error) return "unreadable (" + error.message() + ")";
  if (expected.bytes >= 0 && bytes != expected.bytes)
    return std::to_string(bytes) + " bytes where " + std::to_string(expected.bytes) + " were expected";
  if (!expected.md5.empty()) {
    const std::string md5 = md5_of_file(file);
    if (md5 != expected.md5) return "MD5 " + md5 + " where " + expected.md5 + " was expected";
  }
  return "";
}

void download_file(const std::string& url, const fs::path& target, const ExpectedFile& expected,
                   const DownloadOptions& options) {
  if (target.has_parent_path()) {
    std::error_code error;
    fs::create_directories(target.parent_path(), error);
    if (error) throw Error("cannot create " + target.parent_path().string() + ": " + error.message());
  }
  const FileLock lock(target.string() + ".lock");
  // Downloaded while this process waited for the lock, or earlier.
  if (fs::exists(target) && file_mismatch(target, expected).empty()) return;

  const fs::path partial = target.string() + ".part";
  RemoveUnlessKept remove_partial(partial);
  fetch(url, partial, options);
  const std::string mismatch = file_mismatch(partial, expected);
  if (!mismatch.empty())
    throw DownloadMismatch("the file downloaded from " + url + " fails the size and MD5 check (" + mismatch +
                           "): discarded it");
  std::error_code error;
  fs::rename(partial, target, error);
  if (error) throw Error("cannot rename " + partial.string() + " to " + target.string() + ": " + error.message());
  remove_partial.keep();
}

}  // namespace catdog
