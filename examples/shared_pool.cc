#include "examples/shared_pool.h"

namespace examples {

taskleak::ThreadPool& SharedPool() {
  // Never destroyed: workers may still run while the process exits.
  static auto* pool = new taskleak::ThreadPool(2, "shared");
  return *pool;
}

}  // namespace examples
