#include "taskleak/runtime/internal/interpose/pthread_create_interposer.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <utility>

#include "absl/base/config.h"
#include "absl/time/clock.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"
#include "taskleak/runtime/internal/interpose/creation_registry.h"
#include "taskleak/runtime/internal/interpose/static_init_tracker.h"
#include "taskleak/runtime/internal/unwind/libunwind.h"

// Sanitizer runtimes (clang's static TSan and ASan, gcc's libtsan and
// libasan) define pthread_create as an alias of this interceptor. Null when
// no sanitizer is linked.
extern "C" int __interceptor_pthread_create(pthread_t*, const pthread_attr_t*,
                                            void* (*)(void*), void*)
    __attribute__((weak));

// Our own pthread_create (defined at the end of this file), named without
// going through the dynamic linker's lookup.
extern "C" int taskleak_internal_own_pthread_create(pthread_t*,
                                                    const pthread_attr_t*,
                                                    void* (*)(void*),
                                                    void*) noexcept
    __attribute__((alias("pthread_create"), visibility("hidden"),
                   nonnull(1, 3)));

namespace taskleak {
namespace internal {
namespace {

using CreateFn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*),
                         void*);

pid_t SyscallTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// gettid() is a system call, and system calls are slow on some machines
// (1.4 us where this was measured, against a budget of 3 us for all we add
// to starting a thread). glibc keeps
// every thread's tid in its struct pthread, which pthread_self() points to,
// and publishes the field's place for debuggers (libthread_db) as
// _thread_db_pthread_tid = {size in bits, count, offset}. Returns that
// offset, or -1 if the descriptor is missing or disagrees with gettid().
long ResolveTidOffset() {
  const auto* desc = static_cast<const uint32_t*>(
      dlsym(RTLD_DEFAULT, "_thread_db_pthread_tid"));
  if (desc == nullptr || desc[0] != 8 * sizeof(pid_t) || desc[1] != 1 ||
      desc[2] > 65536) {
    return -1;
  }
  pid_t seen;
  memcpy(&seen, reinterpret_cast<const char*>(pthread_self()) + desc[2],
         sizeof(seen));
  return seen == SyscallTid() ? static_cast<long>(desc[2]) : -1;
}

constexpr long kUnresolved = -2;
std::atomic<long> g_tid_offset{kUnresolved};

pid_t CurrentTid() {
  long offset = g_tid_offset.load(std::memory_order_relaxed);
  if (offset == kUnresolved) {
    offset = ResolveTidOffset();
    g_tid_offset.store(offset, std::memory_order_relaxed);
  }
  if (offset < 0) return SyscallTid();
  pid_t tid;
  memcpy(&tid, reinterpret_cast<const char*>(pthread_self()) + offset,
         sizeof(tid));
  return tid;
}

// ---------------------------------------------------------------------------
// Where our pthread_create forwards to.

struct Forwarding {
  // The definition after ours in the lookup order (glibc's).
  CreateFn next = nullptr;
  // What starts the thread: a sanitizer's interceptor when ours is the
  // pthread_create everybody calls, otherwise `next`.
  CreateFn target = nullptr;
  // Whether threads are recorded at all (see Resolve).
  bool record = true;
  // When another pthread_create comes first and calls ours as the next one:
  // its address, whose frames are dropped from creation stacks.
  void* caller_to_skip = nullptr;
};

Forwarding Resolve() {
  Forwarding f;
  // dlsym is called at most once per process here; it may allocate, which is
  // fine because nothing on that path starts threads.
  f.next = reinterpret_cast<CreateFn>(dlsym(RTLD_NEXT, "pthread_create"));
  void* global = dlsym(RTLD_DEFAULT, "pthread_create");
  void* own = reinterpret_cast<void*>(&taskleak_internal_own_pthread_create);
  // `global` is glibc's when an executable that contains us does not export
  // its pthread_create; calls that reach us then come straight from it.
  const bool we_are_first = global == own || global == nullptr ||
                            global == reinterpret_cast<void*>(f.next);
  const bool sanitizer = __interceptor_pthread_create != nullptr;
  if (we_are_first) {
    f.target = sanitizer ? &__interceptor_pthread_create : f.next;
  } else {
    // We live in a shared library and an earlier pthread_create calls ours
    // as the next one. Calling a sanitizer's interceptor would re-enter it.
    // Worse, the thread would run our start routine before the sanitizer's
    // (which is the routine we are handed), and instrumented code on a
    // thread the sanitizer does not know yet crashes ThreadSanitizer; so
    // behind a sanitizer we only pass calls through.
    f.target = f.next;
    f.record = !sanitizer;
    f.caller_to_skip = global;
  }
  return f;
}

const Forwarding& GetForwarding() {
  static const Forwarding forwarding = Resolve();
  return forwarding;
}

// Set while this thread is inside the forwarding call, so that an
// unexpected loop back into our pthread_create goes straight to glibc.
thread_local bool t_forwarding = false;

// ---------------------------------------------------------------------------
// Counting threads, and dropping each one's record as it ends (the records
// themselves live in creation_registry.h).

std::atomic<uint64_t> g_thread_starts{0};
// Counted in the creator before the thread exists, so a count that has not
// moved proves no thread was created through us meanwhile.
std::atomic<uint64_t> g_create_calls{0};

std::atomic<ThreadEndObserver> g_end_observer{nullptr};

// Removes the thread's record as the thread ends. thread_local destructors
// run after the start routine returns, after pthread_exit and after
// cancellation alike; this one was constructed first in the thread, so it
// runs last and the record stays visible to the others.
class ExitHook {
 public:
  ~ExitHook() {
    if (origin == nullptr) return;
    HiddenFromTsan hidden;  // The observer's bookkeeping is ours too.
    if (ThreadEndObserver observe = g_end_observer.load()) observe(*origin);
    Unregister(origin.get());
    origin = nullptr;  // Its last reference may drop here, hidden too.
  }
  std::shared_ptr<const CreationRecord> origin;
};

thread_local ExitHook t_exit_hook;

// ---------------------------------------------------------------------------
// Creating a record in the creator and handing it to the new thread.

// What the new thread needs to run the caller's start routine.
struct PendingStart {
  void* (*routine)(void*);
  void* arg;
  std::shared_ptr<CreationRecord> origin;
  uint64_t creation;
};

// Registers the new thread and frees `pending`.
void RegisterStartedThread(PendingStart* pending) {
  std::shared_ptr<CreationRecord> origin = std::move(pending->origin);
  const uint64_t pending_creation = pending->creation;
  delete pending;
  origin->tid = CurrentTid();
  origin->stack = OwnStackBounds();
  std::shared_ptr<const CreationRecord> published = std::move(origin);
  try {
    t_exit_hook.origin = published;
    Register(std::move(published), pending_creation);
  } catch (...) {
    // Out of memory: the thread runs unrecorded.
    t_exit_hook.origin = nullptr;
    StartSettled();
  }
  g_thread_starts.fetch_add(1, std::memory_order_relaxed);
}

// Nothing with a destructor is alive across the call to the start routine,
// so pthread_exit and cancellation unwind through this frame without a
// landing pad (gcc's AddressSanitizer reports a false stack-buffer-underflow
// from the one it would add).
void* StartThread(void* p) {
  void* (*routine)(void*);
  void* arg;
  {
    HiddenFromTsan hidden;
    auto* pending = static_cast<PendingStart*>(p);
    routine = pending->routine;
    arg = pending->arg;
    RegisterStartedThread(pending);
  }
  return routine(arg);
}

// `origin` with its chain cut to `keep` links, copying what is kept.
std::shared_ptr<const CreationRecord> Truncated(
    const std::shared_ptr<const CreationRecord>& origin, int keep) {
  if (origin == nullptr || keep == 0) return nullptr;
  auto copy = std::make_shared<CreationRecord>(*origin);
  copy->creator_origin = Truncated(origin->creator_origin, keep - 1);
  return copy;
}

// The creator's origin, cut so that the new record's chain (itself
// included) stays within kMaxRecordedChain. Cutting to half the limit means
// a long line of successors copies only once every kMaxRecordedChain / 2
// generations.
std::shared_ptr<const CreationRecord> CreatorChain(pid_t creator_tid) {
  std::shared_ptr<const CreationRecord> creator = FindShared(creator_tid);
  int length = 0;
  for (const CreationRecord* o = creator.get(); o != nullptr;
       o = o->creator_origin.get()) {
    ++length;
  }
  if (length < kMaxRecordedChain) return creator;
  return Truncated(creator, kMaxRecordedChain / 2);
}

// Where the caller's frames begin in `pcs`: just after the frame holding
// `return_address` - 1 (the call in our pthread_create), then past a
// sanitizer interceptor that called ours.
int FirstCallerFrame(const uintptr_t* pcs, int n, void* return_address,
                     const Forwarding& forwarding) {
  const uintptr_t call_site = reinterpret_cast<uintptr_t>(return_address) - 1;
  int first = 0;
  while (first < n && pcs[first] != call_site) ++first;
  // Not found: the unwinder lost track before reaching the caller, and
  // what it found is ours.
  if (first == n) return n;
  if (forwarding.caller_to_skip != nullptr) {
    Dl_info info;
    while (first < n &&
           dladdr(reinterpret_cast<void*>(pcs[first]), &info) != 0 &&
           info.dli_saddr == forwarding.caller_to_skip) {
      ++first;
    }
  }
  return first;
}

// Lookup addresses of the calling thread's stack, its caller's frame first
// (CaptureCurrentStack picks the unwinder).
int CaptureStack(uintptr_t* pcs, int max) {
  BeginCapture();
  const int n = CaptureCurrentStack(pcs, max, /*skip=*/0);
  EndCapture();
  return n;
}

// Everything known about the thread being created, gathered in its creator.
__attribute__((noinline)) std::shared_ptr<CreationRecord> NewOrigin(
    void* return_address, const Forwarding& forwarding) {
  GetRegistry();  // Installs the fork handlers before the first capture.
  auto origin = std::make_shared<CreationRecord>();
  origin->created_at = absl::Now();
  origin->creator_tid = CurrentTid();
  char name[16] = {};
  if (pthread_getname_np(pthread_self(), name, sizeof(name)) == 0) {
    origin->creator_name = name;
  }
  // Room for our own frames and a sanitizer's on top of the caller's.
  constexpr int kSpareFrames = 8;
  uintptr_t pcs[kMaxRecordedFrames + kSpareFrames];
  const int n = CaptureStack(pcs, kMaxRecordedFrames + kSpareFrames);
  const int first = FirstCallerFrame(pcs, n, return_address, forwarding);
  const int last = std::min(n, first + kMaxRecordedFrames);
  origin->creation_stack.assign(pcs + first, pcs + last);
  origin->creator_origin = CreatorChain(origin->creator_tid);
  origin->in_static_initializer = InsideStaticInitializer();
  return origin;
}

int Forward(const Forwarding& forwarding, pthread_t* thread,
            const pthread_attr_t* attr, void* (*routine)(void*), void* arg) {
  t_forwarding = true;
  const int result = forwarding.target(thread, attr, routine, arg);
  t_forwarding = false;
  return result;
}

// Everything but the forwarded call is hidden from ThreadSanitizer: the
// registry must not order the program's threads, while the call itself must
// stay visible so that TSan orders the creator before the new thread.
int CreateThread(void* return_address, pthread_t* thread,
                 const pthread_attr_t* attr, void* (*routine)(void*),
                 void* arg) {
  PendingStart* pending = nullptr;
  const Forwarding* forwarding;
  {
    HiddenFromTsan hidden;
    forwarding = &GetForwarding();
    if (forwarding->next == nullptr) {
      static std::once_flag warned;
      std::call_once(warned, [] {
        fprintf(stderr,
                "taskleak: cannot find the real pthread_create "
                "(dlsym(RTLD_NEXT) failed: %s); thread creation fails\n",
                dlerror());
      });
      return EAGAIN;
    }
    const uint64_t creation =
        g_create_calls.fetch_add(1, std::memory_order_seq_cst) + 1;
    if (!t_forwarding && forwarding->record) {
      try {
        pending = new PendingStart{
            routine, arg, NewOrigin(return_address, *forwarding), creation};
        GetRegistry().starts_pending.fetch_add(1, std::memory_order_relaxed);
      } catch (...) {
        // Out of memory: start the thread unrecorded rather than fail it.
      }
    }
  }
  if (t_forwarding || !forwarding->record) {
    return forwarding->next(thread, attr, routine, arg);
  }
  if (pending == nullptr) {
    return Forward(*forwarding, thread, attr, routine, arg);
  }
  const int result = Forward(*forwarding, thread, attr, StartThread, pending);
  if (result != 0) {
    HiddenFromTsan hidden;
    delete pending;
    StartSettled();
  }
  return result;
}

int ProbeAnswer;  // Its address is the probe thread's "recorded" answer.

void* ProbeStart(void*) {
  HiddenFromTsan hidden;
  return FindShared(CurrentTid()) != nullptr ? &ProbeAnswer : nullptr;
}

}  // namespace

uint64_t InterposedCreateCalls() {
  HiddenFromTsan hidden;
  return g_create_calls.load(std::memory_order_seq_cst);
}

void SetThreadEndObserver(ThreadEndObserver observer) {
  g_end_observer.store(observer);
}

uint64_t InterposedThreadStarts() {
  HiddenFromTsan hidden;
  return g_thread_starts.load(std::memory_order_relaxed);
}

ProbeResult ProbeInterposer() {
  // The pthread_create libstdc++ and other libraries were bound to.
  auto create =
      reinterpret_cast<CreateFn>(dlsym(RTLD_DEFAULT, "pthread_create"));
  if (create == nullptr) return ProbeResult::kNotRecorded;
  pthread_t thread;
  if (create(&thread, nullptr, ProbeStart, nullptr) != 0) {
    return ProbeResult::kCannotStartThread;
  }
  void* answer = nullptr;
  pthread_join(thread, &answer);
  return answer == &ProbeAnswer ? ProbeResult::kRecorded
                                : ProbeResult::kNotRecorded;
}

}  // namespace internal
}  // namespace taskleak

// Weak, so that a program defining its own pthread_create (to inject
// failures, say) links and runs with it: threads then start unrecorded and
// ThreadOriginsRecorded() says so. Not under clang's sanitizers: their
// static runtimes define pthread_create as a weak alias too, linked before
// us, and the first weak definition would win over ours.
#if defined(__clang__) && (defined(ABSL_HAVE_THREAD_SANITIZER) ||    \
                           defined(ABSL_HAVE_ADDRESS_SANITIZER) ||   \
                           defined(ABSL_HAVE_MEMORY_SANITIZER) ||    \
                           defined(ABSL_HAVE_HWADDRESS_SANITIZER) || \
                           defined(ABSL_HAVE_LEAK_SANITIZER))
#define TASKLEAK_PTHREAD_CREATE_LINKAGE
#else
#define TASKLEAK_PTHREAD_CREATE_LINKAGE __attribute__((weak))
#endif

extern "C" TASKLEAK_PTHREAD_CREATE_LINKAGE int pthread_create(
    pthread_t* thread, const pthread_attr_t* attr,
    void* (*start_routine)(void*), void* arg) noexcept {
  return taskleak::internal::CreateThread(__builtin_return_address(0), thread,
                                          attr, start_routine, arg);
}
