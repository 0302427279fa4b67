// InstallDumpOnSignal: the handler only posts a semaphore; a helper thread
// waiting on it makes the dump, where allocation and locks are allowed.

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/dump.h"

namespace taskleak {
namespace {

constexpr int kMaxSignals = 65;

struct SignalDumper {
  sem_t requested;
  DumpOnSignalOptions options;
};

// Indexed by signal number; set once before the handler is installed and
// never freed, so a late signal always finds valid memory.
SignalDumper* dumpers[kMaxSignals];

void WriteAll(int fd, const std::string& text) {
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    const ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= n;
  }
}

void OnSignal(int signo) {
  const int saved_errno = errno;
  if (signo > 0 && signo < kMaxSignals && dumpers[signo] != nullptr) {
    sem_post(&dumpers[signo]->requested);
  }
  errno = saved_errno;
}

void* DumpLoop(void* arg) {
  auto* dumper = static_cast<SignalDumper*>(arg);
  pthread_setname_np(pthread_self(), "taskleak-dump");
  for (;;) {
    if (sem_wait(&dumper->requested) != 0) continue;  // EINTR
    std::string text;
    if (dumper->options.header != nullptr) {
      text = absl::StrCat(dumper->options.header(), "\n");
    }
    absl::StatusOr<ProcessDump> dump = DumpProcess(dumper->options.dump);
    if (dump.ok()) {
      absl::StrAppend(&text, FormatDumpText(*dump, dumper->options.dump));
    } else {
      absl::StrAppend(&text, "taskleak: cannot dump threads: ",
                      dump.status().ToString(), "\n");
    }
    WriteAll(STDERR_FILENO, text);
    if (!dumper->options.file.empty()) {
      const int fd = open(dumper->options.file.c_str(),
                          O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) {
        WriteAll(fd, text);
        close(fd);
      } else {
        WriteAll(
            STDERR_FILENO,
            absl::StrCat("taskleak: cannot write the dump to ",
                         dumper->options.file, ": ", strerror(errno), "\n"));
      }
    }
  }
  return nullptr;
}

}  // namespace

absl::Status InstallDumpOnSignal(int signo,
                                 const DumpOnSignalOptions& options) {
  if (signo <= 0 || signo >= kMaxSignals) {
    return absl::InvalidArgumentError(
        absl::StrCat("InstallDumpOnSignal: no such signal ", signo));
  }
  if (dumpers[signo] != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrCat("InstallDumpOnSignal: signal ", signo, " already dumps"));
  }
  struct sigaction old;
  if (sigaction(signo, nullptr, &old) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "InstallDumpOnSignal: signal ", signo, ": ", strerror(errno)));
  }
  if ((old.sa_flags & SA_SIGINFO) != 0 ||
      (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "InstallDumpOnSignal: signal ", signo, " (", strsignal(signo),
        ") already has a handler; leaving it in place"));
  }
  auto* dumper = new SignalDumper{};  // Never freed: see `dumpers`.
  sem_init(&dumper->requested, 0, 0);
  dumper->options = options;
  pthread_t thread;
  const int rc = pthread_create(&thread, nullptr, DumpLoop, dumper);
  if (rc != 0) {
    delete dumper;
    return absl::ResourceExhaustedError(absl::StrCat(
        "InstallDumpOnSignal: cannot start the dump thread: ", strerror(rc)));
  }
  pthread_detach(thread);
  dumpers[signo] = dumper;
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(signo, &action, nullptr);
  return absl::OkStatus();
}

}  // namespace taskleak
