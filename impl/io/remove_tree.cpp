#include "io/remove_tree.h"

#include <ftw.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.h"

namespace vae {

namespace {

thread_local std::string failed_entry;
thread_local int failed_errno = 0;

int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  if (std::remove(path) != 0 && errno != ENOENT) {
    failed_entry = path;
    failed_errno = errno;
    return 1;  // stop the walk
  }
  return 0;
}

}  // namespace

void remove_tree(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw Error(path + ": cannot remove: " + std::strerror(errno));
  }
  failed_entry.clear();
  // FTW_DEPTH: children before their folder; FTW_PHYS: remove links, never follow them.
  if (nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
    throw Error((failed_entry.empty() ? path : failed_entry) + ": cannot remove: " +
                std::strerror(failed_entry.empty() ? errno : failed_errno));
}

}  // namespace vae
