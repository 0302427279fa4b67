#include "taskleak/runtime/internal/library_code.h"

#include "absl/strings/match.h"
#include "taskleak/runtime/internal/loaded_modules.h"

namespace taskleak {
namespace internal {

bool IsSystemModule(absl::string_view module) {
  // The program under test is the user's wherever it is installed (a
  // package's tests under /usr/lib, say).
  if (module == ExecutablePath()) return false;
  // Library directories only: a program built under /usr/src is the user's.
  for (absl::string_view dir : {"/lib/", "/lib32/", "/lib64/", "/usr/lib/",
                                "/usr/lib32/", "/usr/lib64/", "[vdso"}) {
    if (absl::StartsWith(module, dir)) return true;
  }
  return false;
}

bool IsLibrarySource(absl::string_view file, absl::string_view module) {
  if (absl::StartsWith(file, "/usr/") ||
      absl::StrContains(file, "external/com_google_googletest/")) {
    return true;
  }
  if (absl::StartsWith(file, "./") || absl::StartsWith(file, "../")) {
    return module.empty() || IsSystemModule(module);
  }
  return false;
}

}  // namespace internal
}  // namespace taskleak
