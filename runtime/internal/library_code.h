// Which code is a library's rather than the program's, by where it lives:
// the part of the frame rule (runtime/frame_format.h) that the symbolizer
// also needs, to skip DWARF for code no report shows with file:line.

#ifndef TASKLEAK_RUNTIME_INTERNAL_LIBRARY_CODE_H_
#define TASKLEAK_RUNTIME_INTERNAL_LIBRARY_CODE_H_

#include "absl/strings/string_view.h"

namespace taskleak {
namespace internal {

// A module in a system library directory (/lib, /usr/lib and their 32/64
// variants: libc, libstdc++, Debian's Abseil) or the kernel's vDSO:
// everything in it is library code. Never the running executable.
bool IsSystemModule(absl::string_view module);

// A source file that belongs to a library: a system header or source
// (/usr/...), GoogleTest's sources, or a relative name ("./nptl/...",
// "../sysdeps/...") in a system module. A relative name in the program's
// own module ("./pkg/header.h", as Bazel records workspace headers) is the
// program's.
bool IsLibrarySource(absl::string_view file, absl::string_view module);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_LIBRARY_CODE_H_
