#include "taskleak/runtime/thread_list.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "taskleak/runtime/internal/own_fds.h"
#include "taskleak/runtime/internal/proc/proc_stat.h"
#include "taskleak/runtime/internal/proc/task_dir.h"

namespace taskleak {
namespace {

absl::Status UnreadableDir(const std::string& dir, int err) {
  return absl::FailedPreconditionError(
      absl::StrCat("cannot read the thread list at ", dir, ": ", strerror(err),
                   " (is /proc mounted and readable?)"));
}

absl::StatusOr<int> OpenTaskDir(const ThreadListOptions& options) {
  const int fd =
      open(options.task_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return UnreadableDir(options.task_dir, errno);
  return fd;
}

// Calls `visit(tid)` for each thread entry of the open directory `fd`.
template <typename Visit>
absl::Status ForEachTid(int fd, const ThreadListOptions& options, Visit visit) {
  alignas(internal::LinuxDirent64) char buf[32 * 1024];
  const int err = internal::ForEachTaskId(fd, buf, sizeof(buf), visit);
  if (err != 0) return UnreadableDir(options.task_dir, err);
  return absl::OkStatus();
}

constexpr char kSelfTaskDir[] = "/proc/self/task";

// The descriptor LiveThreadCount keeps on /proc/self/task, and what fstat
// said it was when opened (so that a descriptor the program closed and
// reused for something else is noticed). -1 until first use, and again in a
// forked child, whose "self" is another process.
std::atomic<int> g_task_dir_fd{-1};
std::atomic<ino_t> g_task_dir_ino{0};
std::atomic<dev_t> g_task_dir_dev{0};

void ForgetTaskDirInChild() {
  const int fd = g_task_dir_fd.exchange(-1, std::memory_order_relaxed);
  if (fd >= 0) {
    internal::ForgetOwnFd(fd);
    close(fd);
  }
}

// The kept descriptor, opened on first use; -errno on failure.
int KeptTaskDirFd() {
  int fd = g_task_dir_fd.load(std::memory_order_relaxed);
  if (fd >= 0) return fd;
  static std::once_flag atfork;
  std::call_once(
      atfork, [] { pthread_atfork(nullptr, nullptr, ForgetTaskDirInChild); });
  fd = open(kSelfTaskDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return -err;
  }
  g_task_dir_ino.store(st.st_ino, std::memory_order_relaxed);
  g_task_dir_dev.store(st.st_dev, std::memory_order_relaxed);
  int expected = -1;
  if (!g_task_dir_fd.compare_exchange_strong(expected, fd,
                                             std::memory_order_relaxed)) {
    close(fd);  // Another thread opened one first.
    return expected;
  }
  internal::RegisterOwnFd(fd);
  return fd;
}

absl::StatusOr<int> ThreadsFromLinks(const struct stat& st,
                                     const std::string& dir) {
  if (!S_ISDIR(st.st_mode) || st.st_nlink < 3) {
    return absl::FailedPreconditionError(
        absl::StrCat("the link count of ", dir, " (", st.st_nlink,
                     ") does not carry the thread count"));
  }
  return static_cast<int>(st.st_nlink - 2);
}

// Seconds since the epoch at which the machine booted, from /proc/stat.
absl::Time BootTime() {
  static const absl::Time boot_time = [] {
    FILE* f = fopen("/proc/stat", "re");
    if (f == nullptr) return absl::UnixEpoch();
    long long btime = 0;
    char line[256];
    while (fgets(line, sizeof(line), f) != nullptr) {
      if (sscanf(line, "btime %lld", &btime) == 1) break;
    }
    fclose(f);
    return absl::FromUnixSeconds(btime);
  }();
  return boot_time;
}

absl::Duration TicksToDuration(uint64_t ticks) {
  static const long ticks_per_second = sysconf(_SC_CLK_TCK);
  return absl::Seconds(static_cast<double>(ticks) / ticks_per_second);
}

// Reads "<tid>/stat" relative to the open directory `dir_fd`.
absl::StatusOr<ThreadInfo> ReadThreadInfoAt(int dir_fd, pid_t tid,
                                            const ThreadListOptions& options) {
  char path[32];
  snprintf(path, sizeof(path), "%d/stat", tid);
  const int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ESRCH) {
      return absl::NotFoundError(absl::StrCat("thread ", tid, " has exited"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open ", options.task_dir, "/", path, ": ", strerror(errno)));
  }
  char buf[1024];
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  const int read_errno = errno;
  close(fd);
  if (n <= 0) {
    // A thread that exits between open and read leaves an empty file/ESRCH.
    if (n == 0 || read_errno == ESRCH) {
      return absl::NotFoundError(absl::StrCat("thread ", tid, " has exited"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", options.task_dir, "/", path, ": ",
                     strerror(read_errno)));
  }
  absl::StatusOr<internal::ProcStat> stat =
      internal::ParseProcStat(absl::string_view(buf, n));
  if (!stat.ok()) return stat.status();
  ThreadInfo info;
  info.id = ThreadId{tid, stat->start_ticks};
  info.name = std::move(stat->name);
  info.state = stat->state;
  info.cpu_time = TicksToDuration(stat->utime_ticks + stat->stime_ticks);
  info.start_time = BootTime() + TicksToDuration(stat->start_ticks);
  return info;
}

absl::StatusOr<std::vector<pid_t>> ListTidsAt(
    int fd, const ThreadListOptions& options) {
  std::vector<pid_t> tids;
  absl::Status status =
      ForEachTid(fd, options, [&](pid_t tid) { tids.push_back(tid); });
  if (!status.ok()) return status;
  return tids;
}

}  // namespace

absl::StatusOr<std::vector<pid_t>> ListThreadIds(
    const ThreadListOptions& options) {
  absl::StatusOr<int> fd = OpenTaskDir(options);
  if (!fd.ok()) return fd.status();
  absl::Cleanup closer = [&] { close(*fd); };
  return ListTidsAt(*fd, options);
}

absl::StatusOr<int> CountThreads(const ThreadListOptions& options) {
  absl::StatusOr<int> fd = OpenTaskDir(options);
  if (!fd.ok()) return fd.status();
  absl::Cleanup closer = [&] { close(*fd); };
  int count = 0;
  absl::Status status = ForEachTid(*fd, options, [&](pid_t) { ++count; });
  if (!status.ok()) return status;
  return count;
}

absl::StatusOr<int> LiveThreadCount(const ThreadListOptions& options) {
  struct stat st;
  if (options.task_dir != kSelfTaskDir) {
    if (stat(options.task_dir.c_str(), &st) != 0) {
      return UnreadableDir(options.task_dir, errno);
    }
    return ThreadsFromLinks(st, options.task_dir);
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int fd = KeptTaskDirFd();
    if (fd < 0) return UnreadableDir(options.task_dir, -fd);
    if (fstat(fd, &st) == 0 &&
        st.st_ino == g_task_dir_ino.load(std::memory_order_relaxed) &&
        st.st_dev == g_task_dir_dev.load(std::memory_order_relaxed)) {
      return ThreadsFromLinks(st, options.task_dir);
    }
    // The program closed our descriptor (and may have reused the number):
    // forget it without closing, and open a new one.
    int expected = fd;
    g_task_dir_fd.compare_exchange_strong(expected, -1,
                                          std::memory_order_relaxed);
  }
  return UnreadableDir(options.task_dir, EBADF);
}

absl::StatusOr<ThreadInfo> ReadThreadInfo(pid_t tid,
                                          const ThreadListOptions& options) {
  absl::StatusOr<int> fd = OpenTaskDir(options);
  if (!fd.ok()) return fd.status();
  absl::Cleanup closer = [&] { close(*fd); };
  return ReadThreadInfoAt(*fd, tid, options);
}

std::vector<absl::StatusOr<ThreadInfo>> ReadEachThreadInfo(
    absl::Span<const pid_t> tids, const ThreadListOptions& options) {
  std::vector<absl::StatusOr<ThreadInfo>> infos;
  if (tids.empty()) return infos;
  infos.reserve(tids.size());
  absl::StatusOr<int> fd = OpenTaskDir(options);
  if (!fd.ok()) {
    infos.assign(tids.size(), fd.status());
    return infos;
  }
  for (pid_t tid : tids) infos.push_back(ReadThreadInfoAt(*fd, tid, options));
  close(*fd);
  return infos;
}

absl::StatusOr<std::vector<ThreadInfo>> ListThreads(
    const ThreadListOptions& options) {
  absl::StatusOr<int> fd = OpenTaskDir(options);
  if (!fd.ok()) return fd.status();
  absl::Cleanup closer = [&] { close(*fd); };
  absl::StatusOr<std::vector<pid_t>> tids = ListTidsAt(*fd, options);
  if (!tids.ok()) return tids.status();
  std::vector<ThreadInfo> threads;
  threads.reserve(tids->size());
  for (pid_t tid : *tids) {
    absl::StatusOr<ThreadInfo> info = ReadThreadInfoAt(*fd, tid, options);
    if (info.ok()) {
      threads.push_back(*std::move(info));
    } else if (!absl::IsNotFound(info.status())) {
      return info.status();
    }
  }
  return threads;
}

const char* ThreadStateName(char state) {
  switch (state) {
    case 'R':
      return "running";
    case 'S':
      return "sleeping";
    case 'D':
      return "disk sleep";
    case 'T':
      return "stopped";
    case 't':
      return "tracing stop";
    case 'Z':
      return "zombie";
    case 'X':
      return "dead";
    case 'I':
      return "idle";
    default:
      return "unknown";
  }
}

}  // namespace taskleak
