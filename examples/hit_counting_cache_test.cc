// Built with ThreadSanitizer (bazel test --config=tsan), the
// HitCountingCache test fails on purpose: its request threads race on the
// hit counter. examples_test checks the report. LockedHitCountingCacheTest
// is the fixed twin, selected with
// --gtest_filter=LockedHitCountingCacheTest.*.

#include "examples/hit_counting_cache.h"

#include <pthread.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace examples {
namespace {

std::string LoadProfile(const std::string& key) { return "profile of " + key; }

// Four requests for the same hot key arrive at once.
void ServeHotKey(HitCountingCache& cache) {
  EXPECT_EQ(cache.Get("user:1"), "profile of user:1");  // loads it
  std::mutex mu;
  std::condition_variable cv;
  bool go = false;
  std::vector<std::thread> requests;
  for (int i = 0; i < 4; ++i) {
    requests.emplace_back([&, i] {
      const std::string name = "request-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return go; });
      }
      EXPECT_EQ(cache.Get("user:1"), "profile of user:1");
    });
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    go = true;
  }
  cv.notify_all();
  for (std::thread& request : requests) request.join();
}

TEST(HitCountingCacheTest, CountsHitsFromRequestThreads) {
  HitCountingCache cache(LoadProfile);
  ServeHotKey(cache);
  EXPECT_EQ(cache.misses(), 1);
  EXPECT_GT(cache.hits(), 0);
}

TEST(LockedHitCountingCacheTest, CountsHitsFromRequestThreads) {
  LockedHitCountingCache cache(LoadProfile);
  ServeHotKey(cache);
  EXPECT_EQ(cache.misses(), 1);
  EXPECT_EQ(cache.hits(), 4);
}

}  // namespace
}  // namespace examples
