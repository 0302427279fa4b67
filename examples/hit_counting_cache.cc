#include "examples/hit_counting_cache.h"

#include <utility>

namespace examples {

HitCountingCache::HitCountingCache(Loader load) : load_(std::move(load)) {}

std::string HitCountingCache::LookUp(const std::string& key, bool* hit) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  *hit = it != entries_.end();
  if (*hit) return it->second;
  ++misses_;
  return entries_.emplace(key, load_(key)).first->second;
}

std::string HitCountingCache::Get(const std::string& key) {
  bool hit;
  std::string value = LookUp(key, &hit);
  // The bug: the lock was released in LookUp.
  if (hit) ++hits_;
  return value;
}

int HitCountingCache::hits() {
  std::lock_guard<std::mutex> lock(mu_);
  return hits_;
}

int HitCountingCache::misses() {
  std::lock_guard<std::mutex> lock(mu_);
  return misses_;
}

std::string LockedHitCountingCache::Get(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    ++hits_;
    return it->second;
  }
  ++misses_;
  return entries_.emplace(key, load_(key)).first->second;
}

}  // namespace examples
