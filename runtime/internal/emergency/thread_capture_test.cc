// ThreadCapture against live threads: one that answers, one that blocks
// the signal, and the calling thread, which answers itself.

#include "taskleak/runtime/internal/emergency/thread_capture.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "gtest/gtest.h"
#include "taskleak/runtime/internal/monotonic_clock.h"
#include "taskleak/runtime/internal/unwind/libunwind.h"

namespace taskleak {
namespace internal {
namespace emergency {
namespace {

ThreadCapture* capture = nullptr;

void OnRequest(int, siginfo_t* info, void* ucontext) {
  if (info->si_code == SI_QUEUE && info->si_pid == getpid()) {
    capture->Answer(reinterpret_cast<uintptr_t>(info->si_value.sival_ptr),
                    ucontext);
  }
}

// A free real-time signal with OnRequest installed, or 0.
int InstallRequestHandler() {
  for (int signo = SIGRTMAX; signo >= SIGRTMIN; --signo) {
    struct sigaction found;
    if (sigaction(signo, nullptr, &found) != 0) continue;
    if ((found.sa_flags & SA_SIGINFO) != 0 || found.sa_handler != SIG_DFL) {
      continue;
    }
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_sigaction = OnRequest;
    action.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    if (sigaction(signo, &action, nullptr) == 0) return signo;
  }
  return 0;
}

struct Parked {
  std::atomic<pid_t> tid{0};
  std::atomic<bool> stop{false};
};

void Park(Parked* p, int block_signal) {
  if (block_signal != 0) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, block_signal);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }
  p->tid = gettid();
  while (!p->stop) usleep(1000);
}

int IndexOf(const ThreadCapture& c, pid_t tid) {
  for (int i = 0; i < c.size(); ++i) {
    if (c.thread(i).tid == tid) return i;
  }
  return -1;
}

TEST(ThreadCaptureTest, CapturesAnsweringThreadsAndNamesTheOthers) {
  const LibUnwind* lib = LoadLibUnwind();
  if (lib == nullptr) GTEST_SKIP() << "no libunwind: " << LibUnwindError();
  static ThreadCapture* c = new ThreadCapture;
  capture = c;
  ASSERT_EQ(c->Reserve(lib, 64, 32), 0);
  const int signal = InstallRequestHandler();
  ASSERT_NE(signal, 0) << "no free real-time signal";

  Parked answering, deaf;
  std::thread a(Park, &answering, 0);
  std::thread b(Park, &deaf, signal);
  while (answering.tid == 0 || deaf.tid == 0) usleep(1000);
  c->CaptureAll(signal, nullptr, MonotonicNanos() + 5 * kNanosPerSecond);
  answering.stop = true;
  deaf.stop = true;
  a.join();
  b.join();

  EXPECT_EQ(c->left_out(), 0);
  const int i = IndexOf(*c, answering.tid);
  ASSERT_GE(i, 0);
  EXPECT_EQ(c->thread(i).outcome, Outcome::kAnswered);
  EXPECT_GT(c->Frames(i).size(), 2u);
  EXPECT_LE(c->Frames(i).size(), 32u);
  const int j = IndexOf(*c, deaf.tid);
  ASSERT_GE(j, 0);
  EXPECT_EQ(c->thread(j).outcome, Outcome::kBlocked);
  // The caller answers itself from the interrupted context: none here.
  const int k = IndexOf(*c, gettid());
  ASSERT_GE(k, 0);
  EXPECT_EQ(c->thread(k).outcome, Outcome::kAnswered);
  EXPECT_TRUE(c->Frames(k).empty());
}

// The scheduler state of /proc/PID/task/TID/stat, or '?'.
char StateOf(pid_t tid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return '?';
  char buf[512];
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return '?';
  buf[n] = 0;
  const char* paren = strrchr(buf, ')');
  return paren != nullptr && paren[1] == ' ' ? paren[2] : '?';
}

// A thread asleep in read(2) is recorded asleep: its state is read before
// the request, which wakes it (read afterwards it often says "running").
TEST(ThreadCaptureTest, RecordsEachThreadsStateBeforeAskingIt) {
  const LibUnwind* lib = LoadLibUnwind();
  if (lib == nullptr) GTEST_SKIP() << "no libunwind: " << LibUnwindError();
  static ThreadCapture* c = new ThreadCapture;
  capture = c;
  ASSERT_EQ(c->Reserve(lib, 64, 16), 0);
  const int signal = InstallRequestHandler();
  ASSERT_NE(signal, 0) << "no free real-time signal";
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::atomic<pid_t> tid{0};
  std::thread reader([&] {
    tid = gettid();
    char byte;
    while (read(fds[0], &byte, 1) < 0 && errno == EINTR) {
    }
  });
  while (tid == 0 || StateOf(tid) != 'S') usleep(1000);
  // Under ThreadSanitizer a thread blocked in read() never runs the handler
  // (signals wait for its safe points): its state is recorded all the same.
  c->CaptureAll(signal, nullptr, MonotonicNanos() + kNanosPerSecond);
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  reader.join();
  close(fds[0]);
  close(fds[1]);

  const int i = IndexOf(*c, tid);
  ASSERT_GE(i, 0);
  EXPECT_NE(c->thread(i).outcome, Outcome::kBlocked);
  EXPECT_EQ(c->thread(i).state, 'S');
}

// More threads than reserved: the rest are counted, not captured.
TEST(ThreadCaptureTest, CountsThreadsBeyondTheReservation) {
  const LibUnwind* lib = LoadLibUnwind();
  if (lib == nullptr) GTEST_SKIP() << "no libunwind: " << LibUnwindError();
  static ThreadCapture* c = new ThreadCapture;
  capture = c;
  ASSERT_EQ(c->Reserve(lib, 1, 8), 0);
  const int signal = InstallRequestHandler();
  ASSERT_NE(signal, 0) << "no free real-time signal";
  Parked parked;
  std::thread t(Park, &parked, 0);
  while (parked.tid == 0) usleep(1000);
  c->CaptureAll(signal, nullptr, MonotonicNanos() + 5 * kNanosPerSecond);
  parked.stop = true;
  t.join();
  EXPECT_EQ(c->size(), 1);
  EXPECT_GE(c->left_out(), 1);
}

}  // namespace
}  // namespace emergency
}  // namespace internal
}  // namespace taskleak
