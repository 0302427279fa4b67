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

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "taskleak/runtime/symbolizer.h"

namespace taskleak {

// Whether a frame belongs to the standard library, libc, GoogleTest or
// taskleak rather than to the program being tested. The rule every report
// folds by.
bool IsLibraryFrame(const SymbolizedFrame& frame);

// Whether a frame is inside a sanitizer's runtime (TSan, ASan, LSan): its
// interceptors and its own machinery, which say nothing about the program.
bool IsSanitizerFrame(const SymbolizedFrame& frame);

// Whether a frame is a memory allocator's own ("operator new", "malloc",
// "strdup", a sanitizer's replacement of them): the caller is the site.
bool IsAllocatorFrame(const SymbolizedFrame& frame);

// Whether a frame is pthread_create itself or taskleak's interposer of it:
// the innermost frames of every recorded creation stack.
bool IsThreadCreationFrame(const SymbolizedFrame& frame);

// Whether a frame is the plumbing every thread's stack ends in: std::thread's
// invoker, glibc's start_thread, clone.
bool IsThreadPlumbingFrame(const SymbolizedFrame& frame);

// Whether a frame runs a function once for the whole process
// (std::call_once, pthread_once): what a lazily initialized singleton calls.
bool IsRunOnceFrame(const SymbolizedFrame& frame);

// Whether a symbolized name refers to `function`: `function` starts the
// name (after a return type, which demangled template instances carry) or
// follows a "::", and is followed by the end, a parameter list or template
// arguments. "Pool::Start" matches "void ns::Pool::Start(int)", not
// "ns::Pool::StartAll()".
bool FunctionNameMatches(absl::string_view symbolized,
                         absl::string_view function);

// The innermost frame of the program's own code (not IsLibraryFrame), or
// null if there is none.
const SymbolizedFrame* FirstUserFrame(absl::Span<const SymbolizedFrame> frames);

// The frame that says where something happened: FirstUserFrame, else the
// innermost frame; null only if `frames` is empty.
const SymbolizedFrame* SiteFrame(absl::Span<const SymbolizedFrame> frames);

// "ns::f<…>(std::vector<…> const&)": template arguments past the first
// level become "…" when the name is longer than `max_length`.
std::string ShortenFunctionName(const std::string& name, size_t max_length);

// The lines for the first `max_frames` frames: runs of two or more library
// frames become "... N frames in libraries", except the innermost run when
// `keep_innermost` (for a thread's current stack, it says what the thread
// waits on); frames past `max_frames` are counted in MoreFramesLine.
std::vector<std::string> FrameLines(absl::Span<const SymbolizedFrame> frames,
                                    int max_frames, bool keep_innermost);

// "... N more frames": the line that ends a stack cut at its limit.
std::string MoreFramesLine(size_t omitted);

}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_FRAME_FORMAT_H_
