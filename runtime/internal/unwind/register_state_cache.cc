#include "taskleak/runtime/internal/unwind/register_state_cache.h"

#include <link.h>

#include <atomic>
#include <cstddef>
#include <cstring>

#include "absl/base/attributes.h"

namespace taskleak {
namespace internal {
namespace {

// Distinct frames across all stacks of a process are rarely more than a few
// hundred; a full cache only means slower walks.
constexpr size_t kEntries = 4096;
static_assert((kEntries & (kEntries - 1)) == 0, "a power of two");
constexpr int kProbes = 16;

// Keys: 0 is an entry never written, kBusy one being written, anything else
// the published lookup address. Entries are written once and never reused,
// so a state handed out stays valid while a handler applies it.
constexpr uint64_t kBusy = 1;

struct Entry {
  std::atomic<uint64_t> key{0};
  // Written before the key is published.
  uint32_t epoch = 0;
  RegisterState state{};
};

// Static storage: no allocation, ready in any handler, and pages never
// touched cost no memory. Constant-initialized (zeroed .bss): a member
// left without an initializer made this a 1.2 MB memset in every process
// start, death-test children included.
ABSL_CONST_INIT Entry entries[kEntries];
// Bumped when entries may describe code that is gone; older ones are dead.
std::atomic<uint32_t> epoch{0};

static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "handlers need lock-free atomics");

size_t Home(uintptr_t ip) {
  return static_cast<size_t>((ip * 0x9e3779b97f4a7c15ULL) >> 40) &
         (kEntries - 1);
}

int CountUnloads(dl_phdr_info* info, size_t size, void* out) {
  if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
    *static_cast<unsigned long long*>(out) = info->dlpi_subs;
  }
  return 1;  // Every entry carries the same counters.
}

}  // namespace

const RegisterState* FindRegisterState(uintptr_t lookup_ip) {
  if (lookup_ip <= kBusy) return nullptr;
  const uint32_t current = epoch.load(std::memory_order_acquire);
  size_t i = Home(lookup_ip);
  for (int probe = 0; probe < kProbes; ++probe, i = (i + 1) & (kEntries - 1)) {
    Entry& entry = entries[i];
    const uint64_t key = entry.key.load(std::memory_order_acquire);
    if (key == 0) return nullptr;  // Probing never passes an unused entry.
    if (key == lookup_ip && entry.epoch == current) return &entry.state;
  }
  return nullptr;
}

void RecordRegisterState(uintptr_t lookup_ip, const void* data, size_t size,
                         bool signal_frame, const ReadPlan& plan) {
  if (lookup_ip <= kBusy || size > kMaxRegisterStateBytes) return;
  const uint32_t current = epoch.load(std::memory_order_acquire);
  size_t i = Home(lookup_ip);
  for (int probe = 0; probe < kProbes; ++probe, i = (i + 1) & (kEntries - 1)) {
    Entry& entry = entries[i];
    uint64_t key = entry.key.load(std::memory_order_acquire);
    if (key == 0 && entry.key.compare_exchange_strong(
                        key, kBusy, std::memory_order_acquire)) {
      entry.epoch = current;
      memcpy(entry.state.data, data, size);
      entry.state.signal_frame = signal_frame;
      entry.state.plan = plan;
      entry.key.store(lookup_ip, std::memory_order_release);
      return;
    }
    // Another handler recorded it first.
    if (key == lookup_ip && entry.epoch == current) return;
  }
}

void ForgetRegisterStatesIfLibrariesUnloaded() {
  static std::atomic<unsigned long long> unloads_seen{0};
  unsigned long long unloads = 0;
  dl_iterate_phdr(&CountUnloads, &unloads);
  if (unloads_seen.exchange(unloads, std::memory_order_acq_rel) != unloads) {
    epoch.fetch_add(1, std::memory_order_acq_rel);
  }
}

}  // namespace internal
}  // namespace taskleak
