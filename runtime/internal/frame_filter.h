// Turns symbolized frames into the lines a person reads: frames of the
// standard library, the runtime, GoogleTest and taskleak between the user's
// own frames fold into one line, and long template arguments shrink.

#ifndef TASKLEAK_RUNTIME_INTERNAL_FRAME_FILTER_H_
#define TASKLEAK_RUNTIME_INTERNAL_FRAME_FILTER_H_

#include <string>
#include <vector>

#include "absl/types/span.h"
#include "taskleak/runtime/symbolizer.h"

namespace taskleak {
namespace internal {

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

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_FRAME_FILTER_H_
