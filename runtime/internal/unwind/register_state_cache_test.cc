#include "taskleak/runtime/internal/unwind/register_state_cache.h"

#include <dlfcn.h>

#include <cstring>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace taskleak {
namespace internal {
namespace {

// Addresses no real frame uses, distinct per test.
constexpr uintptr_t kBase = 0x7e0000000000;

std::vector<unsigned char> StateFor(uintptr_t ip) {
  std::vector<unsigned char> bytes(184);
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<unsigned char>(ip * 31 + i);
  }
  return bytes;
}

bool Holds(const RegisterState* state, uintptr_t ip) {
  const std::vector<unsigned char> want = StateFor(ip);
  return state != nullptr && memcmp(state->data, want.data(), want.size()) == 0;
}

TEST(RegisterStateCacheTest, FindsWhatWasRecorded) {
  const uintptr_t ip = kBase + 0x10;
  EXPECT_EQ(FindRegisterState(ip), nullptr);
  const std::vector<unsigned char> state = StateFor(ip);
  RecordRegisterState(ip, state.data(), state.size(), /*signal_frame=*/true);
  const RegisterState* found = FindRegisterState(ip);
  ASSERT_TRUE(Holds(found, ip));
  EXPECT_TRUE(found->signal_frame);
  EXPECT_EQ(FindRegisterState(ip + 1), nullptr);
}

TEST(RegisterStateCacheTest, FirstRecordWins) {
  const uintptr_t ip = kBase + 0x20;
  const std::vector<unsigned char> state = StateFor(ip);
  RecordRegisterState(ip, state.data(), state.size(), false);
  const std::vector<unsigned char> other = StateFor(ip + 7);
  RecordRegisterState(ip, other.data(), other.size(), true);
  EXPECT_TRUE(Holds(FindRegisterState(ip), ip));
  EXPECT_FALSE(FindRegisterState(ip)->signal_frame);
}

TEST(RegisterStateCacheTest, DropsStatesTooLargeToHold) {
  const uintptr_t ip = kBase + 0x30;
  std::vector<unsigned char> big(kMaxRegisterStateBytes + 1, 0xab);
  RecordRegisterState(ip, big.data(), big.size(), false);
  EXPECT_EQ(FindRegisterState(ip), nullptr);
}

TEST(RegisterStateCacheTest, ConcurrentRecordersAgree) {
  constexpr int kKeys = 300;
  const uintptr_t first = kBase + 0x1000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([first] {
      for (int k = 0; k < kKeys; ++k) {
        const uintptr_t ip = first + 16 * k;
        const std::vector<unsigned char> state = StateFor(ip);
        RecordRegisterState(ip, state.data(), state.size(), false);
        // A reader racing with the other recorders sees whole states only.
        const RegisterState* found = FindRegisterState(ip);
        if (found != nullptr && !Holds(found, ip)) ADD_FAILURE() << ip;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int k = 0; k < kKeys; ++k) {
    EXPECT_TRUE(Holds(FindRegisterState(first + 16 * k), first + 16 * k)) << k;
  }
}

TEST(RegisterStateCacheTest, ForgetsOnlyAfterALibraryIsUnloaded) {
  const uintptr_t ip = kBase + 0x40;
  const std::vector<unsigned char> state = StateFor(ip);
  RecordRegisterState(ip, state.data(), state.size(), false);

  ForgetRegisterStatesIfLibrariesUnloaded();
  EXPECT_TRUE(Holds(FindRegisterState(ip), ip)) << "nothing was unloaded";

  void* plugin =
      dlopen("runtime/libsymbolizer_test_unload_plugin.so", RTLD_NOW);
  ASSERT_NE(plugin, nullptr) << dlerror();
  ASSERT_EQ(dlclose(plugin), 0);
  ForgetRegisterStatesIfLibrariesUnloaded();
  EXPECT_EQ(FindRegisterState(ip), nullptr);

  // Recording works again, in the new generation.
  RecordRegisterState(ip, state.data(), state.size(), false);
  EXPECT_TRUE(Holds(FindRegisterState(ip), ip));
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
