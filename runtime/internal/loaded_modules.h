// The dynamic loader's list of objects and its load/unload counters, as the
// symbolizer reports them to libdw. Not async-signal-safe.

#ifndef TASKLEAK_RUNTIME_INTERNAL_LOADED_MODULES_H_
#define TASKLEAK_RUNTIME_INTERNAL_LOADED_MODULES_H_

#include <cstdint>
#include <string>
#include <vector>

namespace taskleak {
namespace internal {

// How many times the dynamic loader has loaded and unloaded objects. A
// lookup that misses every module re-reads the module list only if this
// changed since the last read.
struct LoaderCounts {
  unsigned long long adds = 0;
  unsigned long long subs = 0;
  bool operator==(const LoaderCounts& o) const {
    return adds == o.adds && subs == o.subs;
  }
};

LoaderCounts CurrentLoaderCounts();

// The path of the running executable, from /proc/self/exe.
const std::string& ExecutablePath();

// One object of the dynamic loader's list, as libdw should see it.
struct LoadedModule {
  std::string name;  // An absolute path, or "[vdso: PID]".
  uintptr_t start = 0;
  uintptr_t end = 0;
};

// The loader's list, rather than /proc/self/maps (what
// dwfl_linux_proc_report reads): libdw maps the ELF files it reads, and the
// maps reader merges consecutive mappings of one file, so a second read of
// the maps makes one module span a whole region of unrelated memory (the
// executable's range swallowing later dlopen()ed libraries, for instance).
std::vector<LoadedModule> LoadedModules();

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_LOADED_MODULES_H_
