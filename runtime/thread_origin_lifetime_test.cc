// When a record is dropped: once the thread is joined, exits or is
// cancelled, and in a forked child; and threads without one.

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>

#include "absl/base/config.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/thread_origin.h"
#include "taskleak/runtime/thread_origin_test_util.h"

namespace taskleak {
namespace thread_origin_test {

TEST_F(ThreadOriginTest, MainThreadAndUnknownTidsHaveNoOrigin) {
  EXPECT_EQ(CreationOf(getpid()), nullptr);
  EXPECT_TRUE(CreationChain(getpid()).empty());
  EXPECT_EQ(CreationOf(0), nullptr);
  EXPECT_EQ(CreationOf(-1), nullptr);
}

TEST_F(ThreadOriginTest, ForgetsAThreadOnceJoined) {
  Gate gate;
  ParkedStdThread thread(&gate, StartStdThread(&gate));
  const pid_t tid = gate.AwaitTid();
  ASSERT_NE(tid, 0);
  EXPECT_NE(CreationOf(tid), nullptr) << "not recorded while alive";
  thread.Join();
  EXPECT_EQ(CreationOf(tid), nullptr) << "still recorded after join";
}

void* ParkThenExit(void* gate) {
  static_cast<Gate*>(gate)->ArriveAndPark();
  pthread_exit(gate);
}

TEST_F(ThreadOriginTest, ForgetsAThreadEndedByPthreadExit) {
  Gate gate;
  pthread_t thread;
  ASSERT_EQ(StartRawPthread(&thread, ParkThenExit, &gate), 0);
  const pid_t tid = gate.AwaitTid();
  const bool recorded = CreationOf(tid) != nullptr;
  gate.Release();
  void* result = nullptr;
  ASSERT_EQ(pthread_join(thread, &result), 0);

  ASSERT_NE(tid, 0);
  EXPECT_TRUE(recorded);
  EXPECT_EQ(result, &gate) << "pthread_exit's value was lost";
  EXPECT_EQ(CreationOf(tid), nullptr);
}

struct Cancellable {
  std::atomic<pid_t> tid{0};
  int pipe_fds[2] = {-1, -1};
};

void* BlockInRead(void* arg) {
  auto* c = static_cast<Cancellable*>(arg);
  c->tid.store(CurrentTid());
  char byte;
  // A cancellation point that never returns: nothing is ever written.
  while (read(c->pipe_fds[0], &byte, 1) != 0) {
  }
  return nullptr;
}

TEST_F(ThreadOriginTest, ForgetsACancelledThread) {
  Cancellable c;
  ASSERT_EQ(pipe(c.pipe_fds), 0);
  pthread_t thread;
  ASSERT_EQ(StartRawPthread(&thread, BlockInRead, &c), 0);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (c.tid.load() == 0 && absl::Now() < deadline) std::this_thread::yield();
  const pid_t tid = c.tid.load();
  const bool recorded = tid != 0 && CreationOf(tid) != nullptr;
  ASSERT_EQ(pthread_cancel(thread), 0);
  void* result = nullptr;
  ASSERT_EQ(pthread_join(thread, &result), 0);
  close(c.pipe_fds[0]);
  close(c.pipe_fds[1]);

  ASSERT_NE(tid, 0) << "the thread never started";
  EXPECT_TRUE(recorded);
  EXPECT_EQ(result, PTHREAD_CANCELED);
  EXPECT_EQ(CreationOf(tid), nullptr);
}

TEST_F(ThreadOriginTest, ForkedChildForgetsParentThreadsAndDoesNotDeadlock) {
  // Threads that keep starting and ending hold the registry's lock now and
  // then; a fork at such a moment must not leave the child's copy locked.
  struct Churn {
    std::atomic<bool> stop{false};
    std::thread thread{[this] {
      while (!stop.load()) std::thread([] {}).join();
    }};
    ~Churn() {
      stop.store(true);
      thread.join();
    }
  } churn;
  Gate gate;
  ParkedStdThread parked(&gate, StartStdThread(&gate));
  const pid_t parked_tid = gate.AwaitTid();
  ASSERT_NE(parked_tid, 0);

  for (int i = 0; i < 20; ++i) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(10);  // A deadlocked child dies instead of hanging the test.
      int status = CreationOf(parked_tid) == nullptr ? 0 : 1;
#if !defined(ABSL_HAVE_THREAD_SANITIZER) && \
    !defined(ABSL_HAVE_ADDRESS_SANITIZER)
      // ThreadSanitizer refuses to start threads after a threaded fork;
      // AddressSanitizer's allocator may be left locked by another thread.
      Gate child_gate;
      pthread_t thread;
      if (pthread_create(&thread, nullptr, ParkAtGate, &child_gate) != 0) {
        _exit(3);
      }
      const pid_t tid = child_gate.AwaitTid();
      if (CreationOf(tid) == nullptr) status = 2;
      child_gate.Release();
      pthread_join(thread, nullptr);
#endif
      _exit(status);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status))
        << "child " << i << " died of signal " << WTERMSIG(status);
    ASSERT_EQ(WEXITSTATUS(status), 0) << "child " << i;
  }
}

}  // namespace thread_origin_test
}  // namespace taskleak
