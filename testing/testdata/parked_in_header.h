// A function defined in a header of the workspace, where a leaked thread
// parks. Included as "testing/testdata/parked_in_header.h", its DWARF file
// name is "./testing/testdata/parked_in_header.h": the user's own code,
// however relative the name looks.

#ifndef TASKLEAK_TESTING_TESTDATA_PARKED_IN_HEADER_H_
#define TASKLEAK_TESTING_TESTDATA_PARKED_IN_HEADER_H_

#include <condition_variable>
#include <mutex>

namespace header_suite {

// Parks the calling thread for as long as the process lives. Never freed, so
// that no destructor at exit waits for it.
[[noreturn]] __attribute__((noinline)) inline void ParkInHeader() {
  static std::mutex* const mu = new std::mutex;
  static std::condition_variable* const never = new std::condition_variable;
  std::unique_lock<std::mutex> lock(*mu);
  for (;;) never->wait(lock);  // PARK-LINE
}

}  // namespace header_suite

#endif  // TASKLEAK_TESTING_TESTDATA_PARKED_IN_HEADER_H_
