#include "taskleak/runtime/internal/symbol_names.h"

#include <cxxabi.h>

#include <cstdlib>

#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace taskleak {
namespace internal {
namespace {

// The spellings of std::string that demangling produces, and what people
// write instead.
std::string Tidy(std::string name) {
  name = absl::StrReplaceAll(name, {{"std::__cxx11::", "std::"}});
  return absl::StrReplaceAll(
      name, {{"std::basic_string<char, std::char_traits<char>, "
              "std::allocator<char> >",
              "std::string"}});
}

}  // namespace

std::string Demangle(const char* name) {
  if (name == nullptr) return "";
  if (name[0] == '_' && name[1] == 'Z') {
    int status = 0;
    char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    if (demangled != nullptr && status == 0) {
      std::string result = Tidy(demangled);
      std::free(demangled);
      return result;
    }
    std::free(demangled);
  }
  return name;
}

std::string SourcePath(const char* file) {
  if (file == nullptr) return "";
  absl::string_view path(file);
  absl::ConsumePrefix(&path, "/proc/self/cwd/");
  return std::string(path);
}

}  // namespace internal
}  // namespace taskleak
