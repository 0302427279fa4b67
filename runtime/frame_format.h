// The one rule for which frames are the user's and which are libraries',
// and the one printer of stacks as a person reads them. Leak reports, race
// and heap reports, dumps, CI annotations and pictures all use it, so a
// frame folded in one place is folded everywhere.
//
//   std::vector<taskleak::SymbolizedFrame> frames = ...;
//   for (const std::string& line : taskleak::FrameLines(
//            frames, /*max_frames=*/20, /*keep_innermost=*/true)) {
//     std::cout << line << "\n";  // "... 7 frames in libraries" folds
//   }
//
// Pure functions of their arguments: thread-safe, not async-signal-safe.

#ifndef TASKLEAK_RUNTIME_FRAME_FORMAT_H_
#define TASKLEAK_RUNTIME_FRAME_FORMAT_H_

#include <string>
#include <vector>

#include "absl/types/span.h"
#include "taskleak/runtime/symbolizer.h"

namespace taskleak {

// Whether a frame belongs to the standard library, libc, GoogleTest or
// taskleak rather than to the program being tested.
bool IsLibraryFrame(const SymbolizedFrame& frame);

// "ns::f<…>(std::vector<…> const&)": template arguments past the first
// level become "…" when the name is longer than `max_length`.
std::string ShortenFunctionName(const std::string& name, size_t max_length);

// The lines for the first `max_frames` frames: runs of two or more library
// frames become "... N frames in libraries", except the innermost run when
// `keep_innermost` (for a thread's current stack, it says what the thread
// waits on); frames past `max_frames` are counted in "... N more frames".
std::vector<std::string> FrameLines(absl::Span<const SymbolizedFrame> frames,
                                    int max_frames, bool keep_innermost);

}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_FRAME_FORMAT_H_
