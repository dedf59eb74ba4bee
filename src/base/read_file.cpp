#include "catdog/base/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace catdog {

namespace {

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// An open regular file; closed with the object.
class RegularFile {
 public:
  explicit RegularFile(const std::filesystem::path& file) : file_(file) {
    // O_NONBLOCK: opening a FIFO without a writer would block; fstat then refuses it.
    fd_ = ::open(file.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd_ < 0) throw unreadable(std::strerror(errno));
    struct stat info {};
    if (::fstat(fd_, &info) != 0) throw unreadable(std::strerror(errno));
    if (!S_ISREG(info.st_mode))
      throw UnreadableFile(file.string() + ": " + file_kind(info.st_mode) + ", not a regular file");
    size_ = static_cast<uint64_t>(info.st_size);
  }
  ~RegularFile() { ::close(fd_); }
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;

  uint64_t size() const { return size_; }

  // Up to `count` bytes from the start; fewer if the file ends sooner.
  std::vector<unsigned char> read(size_t count) const {
    std::vector<unsigned char> bytes(count);
    size_t done = 0;
    while (done < count) {
      const ssize_t got = ::read(fd_, bytes.data() + done, count - done);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw unreadable(std::strerror(errno));
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    bytes.resize(done);
    return bytes;
  }

 private:
  UnreadableFile unreadable(const char* reason) const {
    return UnreadableFile(file_.string() + ": cannot read it (" + reason + "); check the path and its permissions");
  }

  std::filesystem::path file_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace

uint64_t readable_file_size(const std::filesystem::path& file) { return RegularFile(file).size(); }

std::vector<unsigned char> read_file_head(const std::filesystem::path& file, size_t max_bytes) {
  const RegularFile open(file);
  return open.read(static_cast<size_t>(std::min<uint64_t>(open.size(), max_bytes)));
}

std::vector<unsigned char> read_whole_file(const std::filesystem::path& file, uint64_t max_bytes) {
  const RegularFile open(file);
  if (open.size() > max_bytes)
    throw InputTooLarge(file.string() + ": " + std::to_string(open.size() >> 20) + " MB, more than the " +
                        std::to_string(max_bytes >> 20) + " MB allowed; leave it out or raise the limit");
  return open.read(static_cast<size_t>(open.size()));
}

}  // namespace catdog
