#include "taskleak/runtime/internal/debuginfo_lookup.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "taskleak/runtime/internal/own_fds.h"

namespace taskleak {
namespace internal {

int FindElf(Dwfl_Module* mod, void** userdata, const char* modname,
            Dwarf_Addr base, char** file_name, Elf** elfp) {
  const int fd = LoadLibDw()->dwfl_linux_proc_find_elf(mod, userdata, modname,
                                                       base, file_name, elfp);
  RegisterOwnFd(fd);
  return fd;
}

int FindStandardDebuginfo(Dwfl_Module* mod, void** userdata,
                          const char* modname, Dwarf_Addr base,
                          const char* file_name, const char* debuglink_file,
                          GElf_Word debuglink_crc, char** debuginfo_file_name) {
  const int fd = LoadLibDw()->dwfl_standard_find_debuginfo(
      mod, userdata, modname, base, file_name, debuglink_file, debuglink_crc,
      debuginfo_file_name);
  RegisterOwnFd(fd);
  return fd;
}

namespace {

// libdw's debug-file lookup without the network: by build ID under
// /usr/lib/debug, then by .gnu_debuglink in the places gdb looks. libdw
// rejects a file whose build ID does not match the module's.
int FindLocalDebuginfoFd(Dwfl_Module* mod, void** userdata, const char* modname,
                         Dwarf_Addr base, const char* file_name,
                         const char* debuglink_file, GElf_Word debuglink_crc,
                         char** debuginfo_file_name) {
  const LibDw* lib = LoadLibDw();
  int fd = lib->dwfl_build_id_find_debuginfo(
      mod, userdata, modname, base, file_name, debuglink_file, debuglink_crc,
      debuginfo_file_name);
  if (fd >= 0 || file_name == nullptr || debuglink_file == nullptr) return fd;
  const absl::string_view file(file_name);
  const size_t slash = file.rfind('/');
  if (slash == absl::string_view::npos) return -1;
  const absl::string_view dir = file.substr(0, slash);
  for (const std::string& candidate :
       {absl::StrCat(dir, "/", debuglink_file),
        absl::StrCat(dir, "/.debug/", debuglink_file),
        absl::StrCat("/usr/lib/debug", dir, "/", debuglink_file)}) {
    if (candidate == file) continue;
    fd = open(candidate.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      *debuginfo_file_name = strdup(candidate.c_str());
      return fd;
    }
  }
  errno = 0;  // "Nothing found" rather than an error.
  return -1;
}

}  // namespace

int FindLocalDebuginfo(Dwfl_Module* mod, void** userdata, const char* modname,
                       Dwarf_Addr base, const char* file_name,
                       const char* debuglink_file, GElf_Word debuglink_crc,
                       char** debuginfo_file_name) {
  const int fd =
      FindLocalDebuginfoFd(mod, userdata, modname, base, file_name,
                           debuglink_file, debuglink_crc, debuginfo_file_name);
  RegisterOwnFd(fd);
  return fd;
}

}  // namespace internal
}  // namespace taskleak
