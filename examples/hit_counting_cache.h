// A read-through cache shared by request threads, which counts its hits for
// a metrics page. The bug: a hit is counted after the lock is released, so
// two requests that hit at the same time race on the counter (and lose
// counts). ThreadSanitizer finds it; taskleak fails the test during which
// it happened. Compare LockedHitCountingCache.

#ifndef TASKLEAK_EXAMPLES_HIT_COUNTING_CACHE_H_
#define TASKLEAK_EXAMPLES_HIT_COUNTING_CACHE_H_

#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace examples {

class HitCountingCache {
 public:
  using Loader = std::function<std::string(const std::string& key)>;

  explicit HitCountingCache(Loader load);
  virtual ~HitCountingCache() = default;

  // The value for `key`, loaded on the first request. Called by many
  // request threads at once.
  virtual std::string Get(const std::string& key);

  int hits();
  int misses();

 protected:
  // Looks `key` up under the lock; loads and inserts it on a miss. Sets
  // *hit to whether it was there.
  std::string LookUp(const std::string& key, bool* hit);

  Loader load_;
  std::mutex mu_;
  std::unordered_map<std::string, std::string> entries_;
  int hits_ = 0;
  int misses_ = 0;
};

// The fix: the hit is counted under the lock, like the miss.
class LockedHitCountingCache : public HitCountingCache {
 public:
  using HitCountingCache::HitCountingCache;
  std::string Get(const std::string& key) override;
};

}  // namespace examples

#endif  // TASKLEAK_EXAMPLES_HIT_COUNTING_CACHE_H_
