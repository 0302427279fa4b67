#include "taskleak/runtime/internal/unwind/libunwind.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/config.h"
#include "absl/base/optimization.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/internal/unwind/register_state_cache.h"
#include "taskleak/runtime/internal/unwind/stack_bounds.h"

namespace taskleak {

// Where test threads wait. External linkage and -rdynamic let dladdr name
// them; never inlined so that each keeps a frame.

ABSL_ATTRIBUTE_NOINLINE int LibUnwindTestRecurse(int depth, int fd) {
  if (depth == 0) {
    char byte;
    return static_cast<int>(read(fd, &byte, 1));
  }
  const int result = LibUnwindTestRecurse(depth - 1, fd) + 1;
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return result;
}

namespace {

// The three walks the probe handler makes of the stack it interrupts.
constexpr int kMaxFrames = 128;
struct Walks {
  uintptr_t libunwind_only[kMaxFrames];
  int libunwind_only_count;
  uintptr_t cached_first[kMaxFrames];
  int cached_first_count;
  uintptr_t cached_again[kMaxFrames];
  int cached_again_count;
  // Cached again, checking reads against the thread's stack.
  uintptr_t bounded[kMaxFrames];
  int bounded_count;
};

const internal::LibUnwind* lib = nullptr;
Walks walks;
sem_t walked;
// The registers of the last probed context.
mcontext_t probed_registers;

// The probed thread's stack; read in the handler, which is fine for a test
// thread parked in read().
internal::StackBounds probed_stack;

void WalkThreeWays(int, siginfo_t*, void* ucontext) {
  probed_registers = static_cast<ucontext_t*>(ucontext)->uc_mcontext;
  probed_stack = internal::OwnStackBounds();
  using internal::StepMode;
  walks.libunwind_only_count =
      internal::UnwindSignalContext(*lib, ucontext, walks.libunwind_only,
                                    kMaxFrames, StepMode::kLibunwindOnly);
  walks.cached_first_count = internal::UnwindSignalContext(
      *lib, ucontext, walks.cached_first, kMaxFrames, StepMode::kCached);
  walks.cached_again_count = internal::UnwindSignalContext(
      *lib, ucontext, walks.cached_again, kMaxFrames, StepMode::kCached);
  walks.bounded_count =
      internal::UnwindSignalContext(*lib, ucontext, walks.bounded, kMaxFrames,
                                    StepMode::kCached, &probed_stack);
  sem_post(&walked);
}

}  // namespace

int* nested_release_fd = nullptr;

// Blocks inside a signal handler, so that a walk must cross the signal
// frame to reach the function the signal interrupted.
ABSL_ATTRIBUTE_NOINLINE void LibUnwindTestNestedHandler(int) {
  char byte;
  sem_post(&walked);
  (void)!read(*nested_release_fd, &byte, 1);
}

ABSL_ATTRIBUTE_NOINLINE int LibUnwindTestInterrupted(int fd) {
  char byte;
  const int n = static_cast<int>(read(fd, &byte, 1));
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return n;
}

namespace {

class LibUnwindTest : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef ABSL_HAVE_THREAD_SANITIZER
    // ThreadSanitizer holds signals for a thread blocked in read() until it
    // leaves the call, so the probe would never run.
    GTEST_SKIP() << "signals to blocked threads wait under ThreadSanitizer";
#endif
    lib = internal::LoadLibUnwind();
    ASSERT_NE(lib, nullptr) << internal::LibUnwindError();
    ASSERT_EQ(sem_init(&walked, 0, 0), 0);
    struct sigaction action = {};
    action.sa_sigaction = &WalkThreeWays;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&action.sa_mask);
    ASSERT_EQ(sigaction(SIGUSR2, &action, &previous_), 0);
  }
  void TearDown() override {
    if (lib != nullptr) sigaction(SIGUSR2, &previous_, nullptr);
  }

  struct sigaction previous_;
};

// Waits for a handler (of either signal) to post.
bool AwaitPost() {
  timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 30;
  while (sem_timedwait(&walked, &until) != 0) {
    if (errno != EINTR) return false;
  }
  return true;
}

// Has `thread` walk its own stack three ways into `walks`.
bool Probe(pthread_t thread) {
  return pthread_kill(thread, SIGUSR2) == 0 && AwaitPost();
}

std::vector<uintptr_t> Frames(const uintptr_t* pcs, int count) {
  return std::vector<uintptr_t>(pcs, pcs + count);
}

int FramesIn(const std::vector<uintptr_t>& pcs, const void* function) {
  return static_cast<int>(
      std::count_if(pcs.begin(), pcs.end(), [function](uintptr_t pc) {
        Dl_info info;
        return dladdr(reinterpret_cast<void*>(pc), &info) != 0 &&
               info.dli_saddr == function;
      }));
}

template <typename F>
const void* Address(F* function) {
  return reinterpret_cast<const void*>(function);
}

// A thread blocked in read() `depth` calls deep.
class ParkedReader {
 public:
  explicit ParkedReader(int depth) {
    EXPECT_EQ(pipe(fds_), 0);
    thread_ =
        std::thread([this, depth] { LibUnwindTestRecurse(depth, fds_[0]); });
  }
  ~ParkedReader() {
    (void)!write(fds_[1], "x", 1);
    thread_.join();
    close(fds_[0]);
    close(fds_[1]);
  }
  pthread_t handle() { return thread_.native_handle(); }

 private:
  int fds_[2] = {-1, -1};
  std::thread thread_;
};

// The thread may not have reached read() yet; walking it early is fine, but
// the check wants the parked stack, so retry until the recursion shows.
// Probes `thread` until its walk shows `count` frames of `function`.
bool ProbeUntil(pthread_t thread, const void* function, int count) {
  for (int attempt = 0; attempt < 500; ++attempt) {
    if (!Probe(thread)) return false;
    const std::vector<uintptr_t> pcs =
        Frames(walks.libunwind_only, walks.libunwind_only_count);
    if (FramesIn(pcs, function) == count) return true;
    usleep(2000);
  }
  return false;
}

bool ProbeUntilParked(pthread_t thread, int depth) {
  return ProbeUntil(thread, Address(&LibUnwindTestRecurse), depth + 1);
}

TEST_F(LibUnwindTest, CachedWalksMatchLibunwindWalks) {
  for (int depth : {0, 3, 17, 60}) {
    SCOPED_TRACE(depth);
    ParkedReader reader(depth);
    ASSERT_TRUE(ProbeUntilParked(reader.handle(), depth));
    const std::vector<uintptr_t> reference =
        Frames(walks.libunwind_only, walks.libunwind_only_count);
    EXPECT_EQ(Frames(walks.cached_first, walks.cached_first_count), reference);
    EXPECT_EQ(Frames(walks.cached_again, walks.cached_again_count), reference);
    EXPECT_EQ(Frames(walks.bounded, walks.bounded_count), reference);
    // The walk reached the thread's entry, past the recursion.
    EXPECT_GT(reference.size(), static_cast<size_t>(depth + 3));
  }
}

TEST_F(LibUnwindTest, CachedWalkRecordsEveryStep) {
  ParkedReader reader(5);
  ASSERT_TRUE(ProbeUntilParked(reader.handle(), 5));
  const std::vector<uintptr_t> pcs =
      Frames(walks.cached_again, walks.cached_again_count);
  ASSERT_GT(pcs.size(), 6u);
  // Every frame but the outermost was left by a step that is now cached.
  for (size_t i = 0; i + 1 < pcs.size(); ++i) {
    EXPECT_NE(internal::FindRegisterState(pcs[i]), nullptr) << i;
  }
}

TEST_F(LibUnwindTest, CachedWalkOfACorruptStackStopsInsteadOfCrashing) {
  ParkedReader reader(2);
  ASSERT_TRUE(ProbeUntilParked(reader.handle(), 2));
  const uintptr_t interrupted = walks.cached_again[0];
  ASSERT_NE(internal::FindRegisterState(interrupted), nullptr);

  // The same instruction, whose step is cached, with a stack pointer into
  // memory that is no longer mapped.
  void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(page, MAP_FAILED);
  ASSERT_EQ(munmap(page, 4096), 0);
  ucontext_t corrupt = {};
  corrupt.uc_mcontext = probed_registers;
  corrupt.uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(interrupted);
  corrupt.uc_mcontext.gregs[REG_RSP] =
      static_cast<greg_t>(reinterpret_cast<uintptr_t>(page) + 2048);
  corrupt.uc_mcontext.gregs[REG_RBP] = corrupt.uc_mcontext.gregs[REG_RSP];

  uintptr_t pcs[kMaxFrames];
  const int count = internal::UnwindSignalContext(
      *lib, &corrupt, pcs, kMaxFrames, internal::StepMode::kCached);
  ASSERT_EQ(count, 1);
  EXPECT_EQ(pcs[0], interrupted);
}

// The cached steps of a parked thread's frames say beforehand what they
// read, so a walk bounded by the thread's stack takes them unvalidated.
TEST_F(LibUnwindTest, ParkedThreadsStepsHaveReadPlans) {
  ParkedReader reader(5);
  ASSERT_TRUE(ProbeUntilParked(reader.handle(), 5));
  ASSERT_TRUE(probed_stack.known());
  const std::vector<uintptr_t> pcs = Frames(walks.bounded, walks.bounded_count);
  ASSERT_GT(pcs.size(), 6u);
  // The interrupted libc frame and the recursion, at least.
  for (size_t i = 0; i < 7; ++i) {
    const internal::RegisterState* state = internal::FindRegisterState(pcs[i]);
    ASSERT_NE(state, nullptr) << i;
    EXPECT_TRUE(state->plan.known) << i;
  }
}

// A bounded walk over garbage that lies within its bounds: the planned step
// reads only there, and the garbage return address it finds is then looked
// up, validated, and ends the walk.
TEST_F(LibUnwindTest, BoundedWalkOverGarbageStopsInsteadOfCrashing) {
  ParkedReader reader(2);
  ASSERT_TRUE(ProbeUntilParked(reader.handle(), 2));
  const uintptr_t interrupted = walks.cached_again[0];
  const internal::RegisterState* state =
      internal::FindRegisterState(interrupted);
  ASSERT_NE(state, nullptr);
  ASSERT_TRUE(state->plan.known);

  // A fake stack full of addresses of a page that is no longer mapped.
  void* gone = mmap(nullptr, 4096, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(gone, MAP_FAILED);
  ASSERT_EQ(munmap(gone, 4096), 0);
  std::vector<uintptr_t> stack(1024, reinterpret_cast<uintptr_t>(gone) + 64);
  internal::StackBounds bounds;
  bounds.lo = reinterpret_cast<uintptr_t>(stack.data());
  bounds.hi = bounds.lo + stack.size() * sizeof(uintptr_t);
  bounds.thread = static_cast<uintptr_t>(pthread_self());
  ucontext_t garbage = {};
  garbage.uc_mcontext = probed_registers;
  garbage.uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(interrupted);
  garbage.uc_mcontext.gregs[REG_RSP] =
      static_cast<greg_t>(bounds.lo + bounds.hi) / 2;
  garbage.uc_mcontext.gregs[REG_RBP] = garbage.uc_mcontext.gregs[REG_RSP];

  uintptr_t pcs[kMaxFrames];
  const int count = internal::UnwindSignalContext(
      *lib, &garbage, pcs, kMaxFrames, internal::StepMode::kCached, &bounds);
  ASSERT_GE(count, 2);
  EXPECT_LT(count, 8);
  EXPECT_EQ(pcs[0], interrupted);
  EXPECT_EQ(pcs[1], reinterpret_cast<uintptr_t>(gone) + 64 - 1);
}

// A frame whose saved words lie past the end of its bounds, where nothing is
// mapped: the step is not planned, and libunwind's validation ends the walk
// (unchecked, the read would crash the process).
TEST_F(LibUnwindTest, BoundedWalkNeverReadsPastItsBounds) {
  ParkedReader reader(2);
  ASSERT_TRUE(ProbeUntilParked(reader.handle(), 2));
  // A frame of the recursion, which keeps a frame of its own.
  const std::vector<uintptr_t> parked =
      Frames(walks.cached_again, walks.cached_again_count);
  auto in_recursion =
      std::find_if(parked.begin(), parked.end(), [](uintptr_t pc) {
        return FramesIn({pc}, Address(&LibUnwindTestRecurse)) == 1;
      });
  ASSERT_NE(in_recursion, parked.end());
  const uintptr_t frame = *in_recursion;
  const internal::RegisterState* state = internal::FindRegisterState(frame);
  ASSERT_NE(state, nullptr);
  const internal::ReadPlan& plan = state->plan;
  ASSERT_TRUE(plan.known);
  ASSERT_TRUE(plan.reads_return_address);

  // Two pages, the second unmapped; the bounds end with the first.
  char* pages = static_cast<char*>(mmap(nullptr, 8192, PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(pages, MAP_FAILED);
  ASSERT_EQ(munmap(pages + 4096, 4096), 0);
  const uintptr_t end = reinterpret_cast<uintptr_t>(pages) + 4096;
  internal::StackBounds bounds;
  bounds.lo = reinterpret_cast<uintptr_t>(pages);
  bounds.hi = end;
  bounds.thread = static_cast<uintptr_t>(pthread_self());
  ucontext_t edge = {};
  edge.uc_mcontext = probed_registers;
  edge.uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(frame);
  // The return address at CFA + offset lands on the unmapped page.
  uintptr_t sp = end - 64;
  uintptr_t rbp = sp;
  if (plan.cfa_from_rbp) {
    rbp = end + 512 - static_cast<uintptr_t>(plan.cfa_offset) -
          static_cast<uintptr_t>(plan.return_address_offset);
  } else {
    ASSERT_GT(plan.cfa_offset + plan.return_address_offset, 0);
    sp = end -
         static_cast<uintptr_t>(plan.cfa_offset + plan.return_address_offset) +
         8;
  }
  edge.uc_mcontext.gregs[REG_RSP] = static_cast<greg_t>(sp);
  edge.uc_mcontext.gregs[REG_RBP] = static_cast<greg_t>(rbp);

  uintptr_t pcs[kMaxFrames];
  const int count = internal::UnwindSignalContext(
      *lib, &edge, pcs, kMaxFrames, internal::StepMode::kCached, &bounds);
  munmap(pages, 4096);
  ASSERT_EQ(count, 1);
  EXPECT_EQ(pcs[0], frame);
}

TEST_F(LibUnwindTest, CachedWalkCrossesASignalFrame) {
  int interrupted_fds[2];
  int release_fds[2];
  ASSERT_EQ(pipe(interrupted_fds), 0);
  ASSERT_EQ(pipe(release_fds), 0);
  nested_release_fd = &release_fds[0];
  struct sigaction nested = {};
  nested.sa_handler = &LibUnwindTestNestedHandler;
  nested.sa_flags = SA_RESTART;
  struct sigaction previous_usr1;
  ASSERT_EQ(sigaction(SIGUSR1, &nested, &previous_usr1), 0);

  std::thread thread(
      [&interrupted_fds] { LibUnwindTestInterrupted(interrupted_fds[0]); });
  ASSERT_TRUE(ProbeUntil(thread.native_handle(),
                         Address(&LibUnwindTestInterrupted), 1));
  // Interrupts the blocked read with a handler that blocks too.
  ASSERT_EQ(pthread_kill(thread.native_handle(), SIGUSR1), 0);
  ASSERT_TRUE(AwaitPost());
  // The nested handler posted just before blocking; probe until it blocks.
  ASSERT_TRUE(ProbeUntil(thread.native_handle(),
                         Address(&LibUnwindTestNestedHandler), 1));
  const std::vector<uintptr_t> reference =
      Frames(walks.libunwind_only, walks.libunwind_only_count);
  EXPECT_EQ(FramesIn(reference, Address(&LibUnwindTestInterrupted)), 1)
      << "the walk did not cross the signal frame";
  EXPECT_EQ(Frames(walks.cached_first, walks.cached_first_count), reference);
  EXPECT_EQ(Frames(walks.cached_again, walks.cached_again_count), reference);

  (void)!write(release_fds[1], "x", 1);
  (void)!write(interrupted_fds[1], "x", 1);
  thread.join();
  sigaction(SIGUSR1, &previous_usr1, nullptr);
  for (int fd : {interrupted_fds[0], interrupted_fds[1], release_fds[0],
                 release_fds[1]}) {
    close(fd);
  }
}

}  // namespace
}  // namespace taskleak
