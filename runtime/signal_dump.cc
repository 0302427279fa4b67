// InstallDumpOnSignal: the handler only posts a semaphore; a helper thread
// waiting on it makes the dump, where allocation and locks are allowed.

#include "taskleak/runtime/signal_dump.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "taskleak/runtime/dump.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"
#include "taskleak/runtime/internal/write_all.h"

namespace taskleak {
namespace {

constexpr int kMaxSignals = 65;

struct SignalDumper {
  sem_t requested;
  DumpOnSignalOptions options;
};

// Indexed by signal number; set before the handler is installed and never
// freed, so a late signal always finds valid memory.
std::atomic<SignalDumper*> dumpers[kMaxSignals];

// Keeps a dumper whose handler was briefly installed: a handler may still
// be using it. Reachable, so that leak checkers do not report it.
void Retire(SignalDumper* dumper) {
  static std::vector<SignalDumper*>* const retired =
      new std::vector<SignalDumper*>;
  retired->push_back(dumper);
}

bool HasProgramHandler(const struct sigaction& action) {
  return (action.sa_flags & SA_SIGINFO) != 0 ||
         (action.sa_handler != SIG_DFL && action.sa_handler != SIG_IGN);
}

void WriteAll(int fd, const std::string& text) {
  internal::WriteAll(fd, text.data(), text.size());
}

void OnSignal(int signo) {
  internal::HiddenFromTsan hidden;  // TSan clears ignores in handlers.
  const int saved_errno = errno;
  if (signo > 0 && signo < kMaxSignals) {
    SignalDumper* dumper = dumpers[signo].load(std::memory_order_acquire);
    if (dumper != nullptr) sem_post(&dumper->requested);
  }
  errno = saved_errno;
}

void* DumpLoop(void* arg) {
  auto* dumper = static_cast<SignalDumper*>(arg);
  pthread_setname_np(pthread_self(), "taskleak-dump");
  // The semaphore orders this thread with whichever thread got the signal.
  internal::HiddenFromTsan hidden;
  for (;;) {
    if (sem_wait(&dumper->requested) != 0) continue;  // EINTR
    // Requests that piled up while the last dump was written are answered
    // by this one dump.
    while (sem_trywait(&dumper->requested) == 0) {
    }
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
  // Serializes installs, so that two calls for one signal cannot both pass
  // the checks below. Never taken in the handler.
  static std::mutex* const install_mu = new std::mutex;
  std::lock_guard<std::mutex> lock(*install_mu);
  if (dumpers[signo].load(std::memory_order_acquire) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("InstallDumpOnSignal: signal ",
                                                 signo, " (", strsignal(signo),
                                                 ") already dumps"));
  }
  struct sigaction old;
  if (sigaction(signo, nullptr, &old) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("InstallDumpOnSignal: signal ", signo,
                     " cannot be handled: ", strerror(errno)));
  }
  if (HasProgramHandler(old)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "InstallDumpOnSignal: signal ", signo, " (", strsignal(signo),
        ") already has a handler; leaving it in place"));
  }
  // Published before the handler can run. Once the handler was installed,
  // never freed (a handler may still be running with it); kept reachable.
  auto* dumper = new SignalDumper{};
  sem_init(&dumper->requested, 0, 0);
  dumper->options = options;
  dumpers[signo].store(dumper, std::memory_order_release);

  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  struct sigaction replaced;
  if (sigaction(signo, &action, &replaced) != 0) {
    // SIGKILL, SIGSTOP and the signals glibc keeps for itself. Our handler
    // never ran here, so the dumper can go.
    const int error = errno;
    dumpers[signo].store(nullptr, std::memory_order_release);
    sem_destroy(&dumper->requested);
    delete dumper;
    return absl::InvalidArgumentError(absl::StrCat(
        "InstallDumpOnSignal: signal ", signo, " (", strsignal(signo),
        ") cannot be caught: ", strerror(error)));
  }
  if (HasProgramHandler(replaced)) {
    // The program installed its handler since the check above: put it back.
    sigaction(signo, &replaced, nullptr);
    dumpers[signo].store(nullptr, std::memory_order_release);
    Retire(dumper);
    return absl::FailedPreconditionError(absl::StrCat(
        "InstallDumpOnSignal: signal ", signo, " (", strsignal(signo),
        ") already has a handler; leaving it in place"));
  }
  // Signals that arrive before the thread runs wait in the semaphore.
  pthread_t thread;
  const int rc = pthread_create(&thread, nullptr, DumpLoop, dumper);
  if (rc != 0) {
    sigaction(signo, &replaced, nullptr);
    dumpers[signo].store(nullptr, std::memory_order_release);
    Retire(dumper);
    return absl::ResourceExhaustedError(absl::StrCat(
        "InstallDumpOnSignal: cannot start the dump thread: ", strerror(rc)));
  }
  pthread_detach(thread);
  return absl::OkStatus();
}

}  // namespace taskleak
