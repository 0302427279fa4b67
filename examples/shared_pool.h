// The process's shared worker pool, started on first use and never stopped:
// a lazily initialized singleton. Its threads live as long as the process,
// so the leak check does not blame them on the test that happened to start
// them (it prints a note instead).

#ifndef TASKLEAK_EXAMPLES_SHARED_POOL_H_
#define TASKLEAK_EXAMPLES_SHARED_POOL_H_

#include "examples/thread_pool.h"

namespace examples {

taskleak::ThreadPool& SharedPool();

}  // namespace examples

#endif  // TASKLEAK_EXAMPLES_SHARED_POOL_H_
