// Tests with a data race or a heap leak on purpose, beside clean twins.
// testing/sanitizer_listener_test.cc runs this binary built with TSan or
// ASan and checks that exactly the guilty tests fail, with the report.
// SANITIZER_SUITE_RACE_AT_START=1 adds a race during static initialization,
// outside any test.

#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"
#include "taskleak/testing/this_test.h"

namespace {

struct Counter {
  int hits = 0;
};

// Not inlined, so that reports name them.
__attribute__((noinline)) void BumpUnlocked(Counter* counter) {
  counter->hits++;
}

__attribute__((noinline)) void BumpLocked(Counter* counter, std::mutex* mu) {
  std::lock_guard<std::mutex> lock(*mu);
  counter->hits++;
}

// The main thread bumps first, then lets the worker go with a relaxed
// store, which orders nothing: TSan reports the worker's access, with the
// main thread's as the previous one.
TEST(Races, UnsynchronizedCounter) {
  auto counter = std::make_unique<Counter>();
  std::atomic<bool> go{false};
  std::thread worker([&] {
    pthread_setname_np(pthread_self(), "bumper");
    while (!go.load(std::memory_order_relaxed)) std::this_thread::yield();
    BumpUnlocked(counter.get());
  });
  BumpUnlocked(counter.get());
  go.store(true, std::memory_order_relaxed);
  worker.join();
}

TEST(Races, LockedCounter) {
  auto counter = std::make_unique<Counter>();
  std::mutex mu;
  std::thread worker([&] { BumpLocked(counter.get(), &mu); });
  BumpLocked(counter.get(), &mu);
  worker.join();
  EXPECT_EQ(counter->hits, 2);
}

struct Node {
  int value = 0;
  Node* next = nullptr;
};

__attribute__((noinline)) Node* MakeList(int length) {
  Node* head = nullptr;
  for (int i = 0; i < length; ++i) head = new Node{i, head};
  return head;
}

void FreeList(Node* head) {
  while (head != nullptr) {
    Node* next = head->next;
    delete head;
    head = next;
  }
}

// One direct leak (the head), two indirect ones (reachable only from it).
TEST(Heap, ForgetsAList) {
  Node* list = MakeList(3);
  EXPECT_EQ(list->value, 2);
  list = nullptr;
}

TEST(Heap, FreesItsList) {
  Node* list = MakeList(3);
  EXPECT_EQ(list->value, 2);
  FreeList(list);
}

TEST(Heap, SkipsTheCheck) {
  taskleak::ThisTest::SkipHeapCheck();
  MakeList(1);
}

// Reachable from a global: not a leak.
TEST(Heap, KeepsAGlobalList) {
  static Node* kept = MakeList(2);
  EXPECT_NE(kept, nullptr);
}

// Runs after the leaking tests (GoogleTest keeps the order of definition
// unless shuffled): their leaks must not be charged again.
TEST(Heap, RunsAfterTheLeaks) { FreeList(MakeList(2)); }

// A race during static initialization, outside any test.
Counter start_counter;
const bool raced_at_start = [] {
  const char* race = getenv("SANITIZER_SUITE_RACE_AT_START");
  if (race == nullptr || strcmp(race, "1") != 0) return false;
  std::thread worker([] { BumpUnlocked(&start_counter); });
  BumpUnlocked(&start_counter);
  worker.join();
  return true;
}();

// A race in a global environment's tear-down: after the last test.
Counter teardown_counter;
class RaceAtTearDown : public ::testing::Environment {
 public:
  void TearDown() override {
    std::thread worker([] { BumpUnlocked(&teardown_counter); });
    BumpUnlocked(&teardown_counter);
    worker.join();
  }
};
const bool raced_at_teardown = [] {
  const char* race = getenv("SANITIZER_SUITE_RACE_AT_TEARDOWN");
  if (race == nullptr || strcmp(race, "1") != 0) return false;
  ::testing::AddGlobalTestEnvironment(new RaceAtTearDown);
  return true;
}();

}  // namespace
