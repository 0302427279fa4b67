// How the symbolizer spells what it reads: demangled, tidied function names
// and workspace-relative source paths.

#ifndef TASKLEAK_RUNTIME_INTERNAL_SYMBOL_NAMES_H_
#define TASKLEAK_RUNTIME_INTERNAL_SYMBOL_NAMES_H_

#include <string>

namespace taskleak {
namespace internal {

// A symbol's name demangled ("_ZN2ns3FooEv" -> "ns::Foo()"), with
// std::string spelled as people write it; other names as they are; "" for
// null.
std::string Demangle(const char* name);

// A source file as recorded in debug info, less the "/proc/self/cwd/" that
// Bazel compiles under (so that debug info does not name its sandbox): the
// path from the workspace root. "" for null.
std::string SourcePath(const char* file);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_SYMBOL_NAMES_H_
