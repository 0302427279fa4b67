// Threads' stacks as a pprof profile (gzip-compressed profile.proto), which
// `go tool pprof`, Perfetto, speedscope and Pyroscope open. One sample per
// distinct stack, valued by the number of threads on it, like Go's
// goroutine profile.
//
//   absl::StatusOr<taskleak::ProcessDump> dump = taskleak::DumpProcess();
//   if (dump.ok()) {
//     std::ofstream("threads.pb.gz") << taskleak::ThreadProfile(dump->threads);
//   }
//   // go tool pprof -http=: threads.pb.gz
//
// The proto is encoded here by hand (as Go's runtime/pprof does): no
// protobuf runtime enters the process under test.
//
// Profile contents:
//   sample_type [{threads, count}]; one sample per set of threads with the
//   same stack, state and creation site; value = how many threads.
//   Location: one per lookup address, its Lines innermost (inlined) first;
//   Function: the full demangled name and source file.
//   Labels per sample: "state" (running, sleeping, ...), "thread" (each
//   distinct thread name), "created_at" (the first user frame of the
//   creation stack, "function file:line"), "created_by" (the creator's
//   name), and "test" when ThreadProfileOptions::test is set.
//   A thread whose stack could not be captured gets one frame named
//   "[stack unavailable: REASON]".

#ifndef TASKLEAK_RUNTIME_PPROF_PROFILE_H_
#define TASKLEAK_RUNTIME_PPROF_PROFILE_H_

#include <string>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "taskleak/runtime/dump.h"

namespace taskleak {

struct ThreadProfileOptions {
  // Set as the "test" label of every sample (e.g. the test the threads are
  // blamed on); none when empty.
  std::string test;
  // The profile's time_nanos; absl::InfinitePast() leaves it unset.
  absl::Time taken_at = absl::InfinitePast();
};

// The profile as uncompressed profile.proto bytes. Thread-safe; not
// async-signal-safe.
std::string ThreadProfileProto(absl::Span<const ThreadDump> threads,
                               const ThreadProfileOptions& options = {});

// The same, gzip-compressed: the contents of a .pb.gz file. Thread-safe;
// not async-signal-safe.
std::string ThreadProfile(absl::Span<const ThreadDump> threads,
                          const ThreadProfileOptions& options = {});

}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_PPROF_PROFILE_H_
