#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <streambuf>
#include <vector>

#include "common/error.h"

namespace vae {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

// Writes `size` bytes fully, retrying short writes and EINTR. Returns 0 or an errno value.
int write_all(int fd, const char* p, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}

// Minimal buffered streambuf over a POSIX fd. It keeps the first errno it hits so the
// error we report is the real cause (e.g. "No space left on device"), not a generic one.
class FdStreambuf : public std::streambuf {
 public:
  explicit FdStreambuf(int fd) : fd_(fd), buf_(1 << 16) { setp(buf_.data(), buf_.data() + buf_.size()); }
  int error() const { return err_; }

 protected:
  int_type overflow(int_type ch) override {
    if (flush_buffer() != 0) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    // Large writes bypass the buffer (tensor payloads can be big).
    if (n >= static_cast<std::streamsize>(buf_.size())) {
      if (flush_buffer() != 0) return 0;
      if ((err_ = write_all(fd_, s, static_cast<size_t>(n))) != 0) return 0;
      return n;
    }
    return std::streambuf::xsputn(s, n);
  }
  int sync() override { return flush_buffer() == 0 ? 0 : -1; }

 private:
  int flush_buffer() {
    if (err_ != 0) return err_;
    size_t n = static_cast<size_t>(pptr() - pbase());
    err_ = write_all(fd_, pbase(), n);
    setp(buf_.data(), buf_.data() + buf_.size());
    return err_;
  }
  int fd_;
  int err_ = 0;
  std::vector<char> buf_;
};

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Creates a fresh temp file next to `path` (same filesystem, so rename() is atomic).
int create_temp(const std::string& path, std::string& tmp_path) {
  std::random_device rd;
  for (int attempt = 0;; ++attempt) {
    char suffix[64];
    std::snprintf(suffix, sizeof suffix, ".tmp.%ld.%08x", static_cast<long>(::getpid()), rd());
    tmp_path = path + suffix;
    int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return fd;
    int err = errno;
    if (err != EEXIST || attempt >= 16) {
      throw Error(path + ": cannot create temporary file " + tmp_path + ": " + errno_text(err));
    }
  }
}

// fsync the directory so the rename itself survives a crash. Some filesystems cannot
// fsync a directory (EINVAL); there is nothing more we can do there, so that is accepted.
void sync_directory(const std::string& path) {
  std::string dir = parent_dir(path);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) throw Error(path + ": cannot open directory " + dir + " to sync it: " + errno_text(errno));
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  if (rc != 0 && err != EINVAL) throw Error(path + ": fsync of directory " + dir + " failed: " + errno_text(err));
}

// Fault injection for the crash-safety test: VAE_FAULT_KILL_WRITE=<suffix>:<n> makes the n-th
// atomic write of a path ending in <suffix> (counted in this process, from 1) leave its
// temporary file half written and SIGKILL the process -- the state a kill in the middle of
// the write leaves on disk. Unset (always, outside that test), it costs one getenv per
// process.
void maybe_die_mid_write(const std::string& path, int fd) {
  static const char* spec = std::getenv("VAE_FAULT_KILL_WRITE");
  static int count = 0;
  if (!spec) return;
  const std::string s(spec);
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos) return;
  const std::string suffix = s.substr(0, colon);
  if (path.size() < suffix.size() || path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0) return;
  if (++count != std::atoi(s.c_str() + colon + 1)) return;
  struct stat st;
  if (::fstat(fd, &st) == 0 && ::ftruncate(fd, st.st_size / 2) == 0) ::fsync(fd);
  ::kill(::getpid(), SIGKILL);
}

}  // namespace

void write_file_atomically(const std::string& path,
                           const std::function<void(std::ostream&)>& writer) {
  std::string tmp_path;
  int fd = create_temp(path, tmp_path);
  // Every failure path below goes through `fail`, which guarantees the temp file is gone.
  auto fail = [&](const std::string& reason) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp_path.c_str());
    throw Error(path + ": " + reason);
  };

  FdStreambuf sbuf(fd);
  {
    std::ostream os(&sbuf);
    os.exceptions(std::ios::badbit | std::ios::failbit);
    try {
      writer(os);
      os.flush();
    } catch (const std::ios_base::failure&) {
      // Prefer the errno of the failed write(); otherwise the writer put the stream in a bad state.
      fail(sbuf.error() != 0 ? "write failed: " + errno_text(sbuf.error()) : "write failed: stream error");
    } catch (const std::exception& e) {
      fail(std::string("write failed: ") + e.what());
    } catch (...) {
      if (fd >= 0) ::close(fd);
      ::unlink(tmp_path.c_str());
      throw;  // not ours to translate; the temp file is still cleaned up
    }
  }
  if (sbuf.error() != 0) fail("write failed: " + errno_text(sbuf.error()));
  maybe_die_mid_write(path, fd);
  if (::fsync(fd) != 0) fail("fsync failed: " + errno_text(errno));
  int close_rc = ::close(fd);
  fd = -1;
  if (close_rc != 0) fail("close failed: " + errno_text(errno));
  if (::rename(tmp_path.c_str(), path.c_str()) != 0) fail("cannot rename temporary file into place: " + errno_text(errno));
  sync_directory(path);
}

void write_file_atomically(const std::string& path, const void* data, size_t size) {
  write_file_atomically(path, [&](std::ostream& os) {
    if (size > 0) os.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  });
}

}  // namespace vae
