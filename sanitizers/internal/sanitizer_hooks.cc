#include "taskleak/sanitizers/internal/sanitizer_hooks.h"

#include <dlfcn.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <mutex>

#include "absl/status/status.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"

// ThreadSanitizer's report API (tsan_debugging.cpp). No public header
// declares it; weak, so that a program without TSan links and sees null.
extern "C" {
int __tsan_get_report_data(void* report, const char** description, int* count,
                           int* stack_count, int* mop_count, int* loc_count,
                           int* mutex_count, int* thread_count,
                           int* unique_tid_count, void** sleep_trace,
                           uintptr_t trace_size) __attribute__((weak));
int __tsan_get_report_stack(void* report, uintptr_t idx, void** trace,
                            uintptr_t trace_size) __attribute__((weak));
int __tsan_get_report_mop(void* report, uintptr_t idx, int* tid, void** addr,
                          int* size, int* write, int* atomic, void** trace,
                          uintptr_t trace_size) __attribute__((weak));
int __tsan_get_report_loc(void* report, uintptr_t idx, const char** type,
                          void** addr, uintptr_t* start, uintptr_t* size,
                          int* tid, int* fd, int* suppressable, void** trace,
                          uintptr_t trace_size) __attribute__((weak));
int __tsan_get_report_thread(void* report, uintptr_t idx, int* tid,
                             uint64_t* os_id, int* running, const char** name,
                             int* parent_tid, void** trace,
                             uintptr_t trace_size) __attribute__((weak));

// Called by TSan after it printed a report (unsuppressed reports only).
void __tsan_on_report(void* report);
// Read by LeakSanitizer at start-up, before LSAN_OPTIONS (which wins).
const char* __lsan_default_options();
}

namespace taskleak {
namespace internal {
namespace {

// Everything below that runs inside __tsan_on_report is compiled without
// TSan instrumentation: the hook runs inside TSan's report machinery, where
// an instrumented access could itself be reported and recurse. Nor does it
// call a libc function that TSan intercepts (memset and memcpy are; hence
// the volatile stores, which the compiler cannot turn into such calls;
// syscall() is not).
#define TASKLEAK_NO_TSAN __attribute__((no_sanitize("thread")))

constexpr int kSlots = 16;
enum SlotState : uint32_t { kFree = 0, kWriting = 1, kReady = 2 };

TsanRawReport g_slots[kSlots];
uint32_t g_state[kSlots];
uint64_t g_next_sequence;
uint32_t g_dropped;

TASKLEAK_NO_TSAN void CopyString(const char* from, char* to, int size) {
  volatile char* out = to;
  int i = 0;
  if (from != nullptr) {
    for (; i + 1 < size && from[i] != '\0'; ++i) out[i] = from[i];
  }
  out[i] = '\0';
}

TASKLEAK_NO_TSAN void** ClearStack(TsanRawStack* stack) {
  volatile uintptr_t* pcs = stack->pcs;
  for (int i = 0; i < kTsanMaxFrames; ++i) pcs[i] = 0;
  return reinterpret_cast<void**>(stack->pcs);
}

// TSan copies min(depth, capacity) frames and does not say how many.
TASKLEAK_NO_TSAN void CountStack(TsanRawStack* stack) {
  int n = 0;
  while (n < kTsanMaxFrames && stack->pcs[n] != 0) ++n;
  stack->size = n;
}

TASKLEAK_NO_TSAN void Fill(void* report, uint64_t sequence, TsanRawReport* r) {
  r->sequence = sequence;
  const char* description = nullptr;
  int count = 0, stacks = 0, mops = 0, locs = 0, mutexes = 0, threads = 0,
      unique_tids = 0;
  void* sleep_trace[1] = {nullptr};
  __tsan_get_report_data(report, &description, &count, &stacks, &mops, &locs,
                         &mutexes, &threads, &unique_tids, sleep_trace, 1);
  CopyString(description, r->description, sizeof(r->description));

  constexpr int kMaxAccesses = sizeof(r->accesses) / sizeof(r->accesses[0]);
  r->access_count = mops;
  for (int i = 0; i < mops && i < kMaxAccesses; ++i) {
    TsanRawAccess& a = r->accesses[i];
    void* address = nullptr;
    int write = 0, atomic = 0;
    __tsan_get_report_mop(report, i, &a.tid, &address, &a.size, &write, &atomic,
                          ClearStack(&a.stack), kTsanMaxFrames);
    a.address = reinterpret_cast<uintptr_t>(address);
    a.write = write != 0;
    a.atomic = atomic != 0;
    CountStack(&a.stack);
  }

  constexpr int kMaxThreads = sizeof(r->threads) / sizeof(r->threads[0]);
  r->thread_count = threads;
  for (int i = 0; i < threads && i < kMaxThreads; ++i) {
    TsanRawThread& t = r->threads[i];
    const char* name = nullptr;
    int running = 0;
    __tsan_get_report_thread(report, i, &t.tid, &t.os_tid, &running, &name,
                             &t.parent_tid, ClearStack(&t.created_at),
                             kTsanMaxFrames);
    t.running = running != 0;
    CopyString(name, t.name, sizeof(t.name));
    CountStack(&t.created_at);
  }
  // TSan does not always know the name the reporting thread gave itself;
  // the kernel does. syscall() is not intercepted by TSan.
  const uint64_t self = static_cast<uint64_t>(syscall(SYS_gettid));
  for (int i = 0; i < threads && i < kMaxThreads; ++i) {
    TsanRawThread& t = r->threads[i];
    if (t.name[0] != '\0' || t.os_tid != self) continue;
    char comm[17];
    comm[0] = comm[16] = '\0';
    if (syscall(SYS_prctl, PR_GET_NAME, comm, 0, 0, 0) == 0) {
      CopyString(comm, t.name, sizeof(t.name));
    }
  }

  r->location_count = locs;
  if (locs > 0) {
    TsanRawLocation& l = r->location;
    const char* type = nullptr;
    void* global = nullptr;
    int suppressable = 0;
    __tsan_get_report_loc(report, 0, &type, &global, &l.heap_start, &l.size,
                          &l.tid, &l.fd, &suppressable, ClearStack(&l.stack),
                          kTsanMaxFrames);
    l.global_address = reinterpret_cast<uintptr_t>(global);
    CopyString(type, l.type, sizeof(l.type));
    CountStack(&l.stack);
  }

  constexpr int kMaxStacks = sizeof(r->stacks) / sizeof(r->stacks[0]);
  r->stack_count = stacks;
  for (int i = 0; i < stacks && i < kMaxStacks; ++i) {
    __tsan_get_report_stack(report, i, ClearStack(&r->stacks[i]),
                            kTsanMaxFrames);
    CountStack(&r->stacks[i]);
  }
}

std::mutex& TakeMutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}

}  // namespace

bool TsanLinked() { return __tsan_get_report_data != nullptr; }

absl::Status TsanHookStatus() {
  if (!TsanLinked()) {
    return absl::FailedPreconditionError(
        "this program is not built with ThreadSanitizer (build it with "
        "-fsanitize=thread, for example bazel test --config=tsan)");
  }
  // When this library is linked as a shared library, TSan's own weak
  // definition comes first and ours is never called.
  void* found = dlsym(RTLD_DEFAULT, "__tsan_on_report");
  if (found != nullptr && found != reinterpret_cast<void*>(&__tsan_on_report)) {
    return absl::FailedPreconditionError(
        "ThreadSanitizer calls another __tsan_on_report than taskleak's "
        "(link //sanitizers:sanitizer_hooks into the executable, as "
        "linkstatic does, and define no other)");
  }
  return absl::OkStatus();
}

void TakeTsanReports(std::vector<TsanRawReport>* out, int* dropped) {
  // The reporting thread released what this acquires: hidden, so that the
  // hand-over orders nothing the program would see.
  HiddenFromTsan hidden;
  std::lock_guard<std::mutex> lock(TakeMutex());
  const size_t first = out->size();
  for (int s = 0; s < kSlots; ++s) {
    if (__atomic_load_n(&g_state[s], __ATOMIC_ACQUIRE) != kReady) continue;
    out->push_back(g_slots[s]);
    __atomic_store_n(&g_state[s], kFree, __ATOMIC_RELEASE);
  }
  std::sort(out->begin() + first, out->end(),
            [](const TsanRawReport& a, const TsanRawReport& b) {
              return a.sequence < b.sequence;
            });
  *dropped =
      static_cast<int>(__atomic_exchange_n(&g_dropped, 0, __ATOMIC_ACQ_REL));
}

}  // namespace internal
}  // namespace taskleak

// Does the least possible: copies the report into a free slot (no
// allocation, no lock), or counts it as dropped.
extern "C" TASKLEAK_NO_TSAN __attribute__((visibility("default"))) void
__tsan_on_report(void* report) {
  using namespace taskleak::internal;  // NOLINT
  if (__tsan_get_report_data == nullptr || __tsan_get_report_mop == nullptr ||
      __tsan_get_report_thread == nullptr || __tsan_get_report_loc == nullptr ||
      __tsan_get_report_stack == nullptr) {
    return;
  }
  const uint64_t sequence =
      __atomic_fetch_add(&g_next_sequence, 1, __ATOMIC_RELAXED);
  for (int i = 0; i < kSlots; ++i) {
    const int s = static_cast<int>((sequence + i) % kSlots);
    uint32_t expected = kFree;
    if (__atomic_compare_exchange_n(&g_state[s], &expected, kWriting, false,
                                    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
      Fill(report, sequence, &g_slots[s]);
      __atomic_store_n(&g_state[s], kReady, __ATOMIC_RELEASE);
      return;
    }
  }
  __atomic_fetch_add(&g_dropped, 1, __ATOMIC_RELAXED);
}

// Weak, so that a program's own definition wins; LSAN_OPTIONS and
// ASAN_OPTIONS override each setting.
//  - report_objects=1 makes LeakSanitizer list each leaked block's address,
//    which lets the per-test heap check blame every block once
//    (sanitizers/heap_leaks.cc).
//  - intercept_tls_get_addr=0: up to gcc 13 and LLVM 16 the runtime's
//    __tls_get_addr interceptor takes a dynamic TLS block (libdw's, once
//    the symbolizer has run) for glibc 2.19's layout whenever its address
//    happens to sit at a given offset in its page, reads a bogus range, and
//    LeakSanitizer's check at exit then dies ("Tracer caught signal 11")
//    with no report at all. Which run hits it depends only on the heap's
//    layout. Without the interceptor, pointers held only in a dlopen'd
//    library's thread-local storage are not scanned.
extern "C" __attribute__((weak, visibility("default"))) const char*
__lsan_default_options() {
  return "report_objects=1:intercept_tls_get_addr=0";
}
