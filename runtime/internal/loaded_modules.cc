#include "taskleak/runtime/internal/loaded_modules.h"

#include <limits.h>
#include <link.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"

namespace taskleak {
namespace internal {

LoaderCounts CurrentLoaderCounts() {
  LoaderCounts counts;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t size, void* data) {
        auto* c = static_cast<LoaderCounts*>(data);
        if (size >=
            offsetof(dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
          c->adds = info->dlpi_adds;
          c->subs = info->dlpi_subs;
        }
        return 1;  // The counters are the same in every entry.
      },
      &counts);
  return counts;
}

const std::string& ExecutablePath() {
  static const std::string* path = [] {
    char buf[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf));
    return new std::string(buf, n > 0 ? n : 0);
  }();
  return *path;
}

std::vector<LoadedModule> LoadedModules() {
  struct Context {
    std::vector<LoadedModule> modules;
    uintptr_t vdso;
    bool first = true;
  } context;
  context.vdso = getauxval(AT_SYSINFO_EHDR);
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* c = static_cast<Context*>(data);
        const bool main_program = c->first;
        c->first = false;
        uintptr_t start = UINTPTR_MAX;
        uintptr_t end = 0;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD) continue;
          start = std::min<uintptr_t>(start, info->dlpi_addr + ph.p_vaddr);
          end = std::max<uintptr_t>(end,
                                    info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
        }
        if (start >= end) return 0;
        const uintptr_t page = static_cast<uintptr_t>(getpagesize());
        LoadedModule m;
        m.start = start & ~(page - 1);
        m.end = (end + page - 1) & ~(page - 1);
        const char* name = info->dlpi_name;
        if (c->vdso != 0 && m.start <= c->vdso && c->vdso < m.end) {
          // libdw reads the vDSO from /proc/PID/mem under this name.
          m.name = absl::StrCat("[vdso: ", getpid(), "]");
        } else if (name == nullptr || name[0] == '\0') {
          if (!main_program) return 0;
          m.name = ExecutablePath();
        } else if (name[0] == '/') {
          m.name = name;
        } else {
          // dlopen() with a relative path; resolved against today's cwd.
          char* path = realpath(name, nullptr);
          if (path == nullptr) return 0;
          m.name = path;
          std::free(path);
        }
        c->modules.push_back(std::move(m));
        return 0;
      },
      &context);
  return std::move(context.modules);
}

}  // namespace internal
}  // namespace taskleak
