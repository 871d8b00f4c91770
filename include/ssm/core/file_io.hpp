// ssm/core/file_io.hpp — writing a whole file so that a crash or an error never leaves half of it: what checkpoints
// and safetensors exports share.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <unistd.h>

#include "ssm/core/error.hpp"

namespace ssm {

/// Writes `bytes` to `path` atomically: they go to `path.tmp-PID`, are fsync'ed, then renamed over `path`, so a
/// crash (even SIGKILL) or an error (a full disk, a file-size limit) leaves any previous file at `path` as it was.
/// Errors name `what` (e.g. "checkpoint"), `path`, the temporary file and the system's reason; the temporary file
/// is removed.
inline void write_file_atomically(const std::string& path, std::span<const std::byte> bytes, std::string_view what) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  SSM_CHECK(fd >= 0, "cannot write ", what, " '", path, "': opening '", tmp, "' failed: ", std::strerror(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int e = w == 0 ? ENOSPC : errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      SSM_FAIL("writing ", what, " '", path, "' failed after ", done, " of ", bytes.size(), " bytes (", tmp,
               "): ", std::strerror(e), "; the previous file, if any, is unchanged");
    }
    done += static_cast<std::size_t>(w);
  }
  const int synced = ::fsync(fd) == 0 ? 0 : errno;
  const int closed = ::close(fd) == 0 ? 0 : errno;
  if (synced != 0 || closed != 0) {
    const int e = synced != 0 ? synced : closed;
    ::unlink(tmp.c_str());
    SSM_FAIL("flushing ", what, " '", path, "' (", tmp, ") failed: ", std::strerror(e),
             "; the previous file, if any, is unchanged");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    SSM_FAIL("renaming '", tmp, "' to ", what, " '", path, "' failed: ", std::strerror(e));
  }
}

}  // namespace ssm
