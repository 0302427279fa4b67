#include "taskleak/runtime/symbolizer.h"

#include <dlfcn.h>
#include <link.h>
#include <sys/auxv.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/base/config.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "taskleak/runtime/internal/debuginfo_lookup.h"
#include "taskleak/runtime/internal/dwarf_scopes.h"
#include "taskleak/runtime/internal/libdw.h"
#include "taskleak/runtime/internal/library_code.h"
#include "taskleak/runtime/internal/loaded_modules.h"
#include "taskleak/runtime/internal/own_fds.h"
#include "taskleak/runtime/internal/symbol_names.h"
#include "taskleak/runtime/internal/symbol_table.h"

namespace taskleak {
namespace {

using internal::CurrentLoaderCounts;
using internal::Demangle;
using internal::ExecutablePath;
using internal::FindElf;
using internal::FindLocalDebuginfo;
using internal::FindStandardDebuginfo;
using internal::LibDw;
using internal::LoadedModule;
using internal::LoadedModules;
using internal::LoaderCounts;
using internal::SourcePath;

// The module name of the kernel's vDSO in frames, as /proc/PID/maps says.
constexpr char kVdso[] = "[vdso]";

constexpr absl::string_view kConsequence =
    ": function names come from dladdr (exported symbols only), without "
    "source lines or inlined frames";

SymbolizedFrame BareFrame(uintptr_t pc) {
  SymbolizedFrame frame;
  frame.pc = pc;
  return frame;
}

// Names from the dynamic symbol tables only, but no libdw needed.
SymbolizedFrame SymbolizeWithDladdr(uintptr_t pc) {
  SymbolizedFrame frame = BareFrame(pc);
  void* addr = reinterpret_cast<void*>(pc);
  Dl_info info;
  link_map* map = nullptr;
  if (dladdr1(addr, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) ==
          0 ||
      map == nullptr) {
    return frame;
  }
  // For the main program dladdr gives the name it was started by; libdw's
  // frames name the file itself.
  if (map->l_prev == nullptr) {
    frame.module = ExecutablePath();
  } else if (map->l_addr == getauxval(AT_SYSINFO_EHDR)) {
    frame.module = kVdso;
  } else if (info.dli_fname != nullptr) {
    frame.module = info.dli_fname;
  }
  frame.module_offset = pc - map->l_addr;
  ElfW(Sym)* sym = nullptr;
  if (dladdr1(addr, &info, reinterpret_cast<void**>(&sym), RTLD_DL_SYMENT) !=
          0 &&
      sym != nullptr && info.dli_sname != nullptr &&
      info.dli_saddr != nullptr) {
    // dladdr returns the nearest symbol below pc; make sure pc is inside it.
    const uintptr_t start = reinterpret_cast<uintptr_t>(info.dli_saddr);
    if (pc < start + (sym->st_size > 0 ? sym->st_size : 1)) {
      frame.function = Demangle(info.dli_sname);
    }
  }
  return frame;
}

}  // namespace

struct Symbolizer::Impl {
  struct Entry {
    std::vector<SymbolizedFrame> frames;
    // A lookup that found no module is retried once the loader has loaded
    // something new.
    bool found_module = false;
    LoaderCounts counts;
  };

  explicit Impl(const SymbolizerOptions& o) : options(o) {}
  ~Impl() {
    if (dwfl != nullptr) lib->dwfl_end(dwfl);
    internal::ForgetClosedOwnFds();
  }

  void Refresh() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Lookup(uintptr_t pc, std::vector<SymbolizedFrame>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  Entry Compute(uintptr_t pc) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool EnsureDwfl() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool ReportModules() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool SymbolizeWithDwfl(uintptr_t pc, std::vector<SymbolizedFrame>* frames)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool IsLibraryCode(Dwfl_Module* mod, const SymbolizedFrame& base);
  // The steps of SymbolizeWithDwfl.
  Dwfl_Module* ModuleOf(uintptr_t pc) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  SymbolizedFrame ModuleFrame(Dwfl_Module* mod, uintptr_t pc);
  std::string SymbolName(Dwfl_Module* mod, uintptr_t pc)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  std::string LineTableLocation(Dwfl_Module* mod, uintptr_t pc, int* line);

  const SymbolizerOptions options;
  // std::mutex, not absl::Mutex: ThreadSanitizer sees through pthread's
  // locks, not through Debian's uninstrumented Abseil.
  std::mutex mu;
  absl::flat_hash_map<uintptr_t, Entry> cache ABSL_GUARDED_BY(mu);
  // Whole stacks whose every address was found in a module.
  absl::flat_hash_map<std::vector<uintptr_t>,
                      std::shared_ptr<const std::vector<SymbolizedFrame>>>
      stacks ABSL_GUARDED_BY(mu);
  // Each module's symbols, read on its first lookup; valid until the
  // modules are reported again.
  absl::flat_hash_map<Dwfl_Module*, std::unique_ptr<internal::SymbolTable>>
      symbol_tables ABSL_GUARDED_BY(mu);
  // Each module's functions by address, likewise.
  absl::flat_hash_map<Dwfl_Module*, std::unique_ptr<internal::ModuleScopes>>
      module_scopes ABSL_GUARDED_BY(mu);
  SymbolizerStats stats ABSL_GUARDED_BY(mu);
  bool tried_dwfl ABSL_GUARDED_BY(mu) = false;
  const LibDw* lib = nullptr;
  Dwfl* dwfl ABSL_GUARDED_BY(mu) = nullptr;
  Dwfl_Callbacks callbacks ABSL_GUARDED_BY(mu) = {};
  // Null: libdw's default search path.
  char* debuginfo_path = nullptr;
  LoaderCounts reported_counts ABSL_GUARDED_BY(mu);
  // The loader's unload count when the cache was last known to be valid.
  unsigned long long cache_subs ABSL_GUARDED_BY(mu) = 0;
  std::string limitations ABSL_GUARDED_BY(mu);
};

bool Symbolizer::Impl::EnsureDwfl() {
  if (dwfl != nullptr) return true;
  if (tried_dwfl) return false;
  tried_dwfl = true;
  if (!options.use_libdw) {
    limitations = absl::StrCat("libdw disabled by SymbolizerOptions::use_libdw",
                               kConsequence);
    return false;
  }
  lib = internal::LoadLibDw();
  if (lib == nullptr) {
    limitations = absl::StrCat(internal::LibDwError(), kConsequence);
    return false;
  }
  callbacks.find_elf = &FindElf;
  callbacks.find_debuginfo =
      options.debuginfod ? &FindStandardDebuginfo : &FindLocalDebuginfo;
  callbacks.debuginfo_path = &debuginfo_path;
  dwfl = lib->dwfl_begin(&callbacks);
  if (dwfl == nullptr) {
    limitations =
        absl::StrCat("dwfl_begin failed: ", lib->dwfl_errmsg(-1), kConsequence);
    return false;
  }
  if (!ReportModules()) {
    absl::StrAppend(&limitations, kConsequence);
    lib->dwfl_end(dwfl);
    dwfl = nullptr;
    return false;
  }
  return true;
}

bool Symbolizer::Impl::ReportModules() {
  // Read the counters first: anything loaded while the list is being read
  // shows up as a change next time.
  reported_counts = CurrentLoaderCounts();
  ++stats.module_reports;
  symbol_tables.clear();
  module_scopes.clear();
  const std::vector<LoadedModule> modules = LoadedModules();
  lib->dwfl_report_begin(dwfl);
  int reported = 0;
  for (const LoadedModule& m : modules) {
    if (lib->dwfl_report_module(dwfl, m.name.c_str(), m.start, m.end) !=
        nullptr) {
      ++reported;
    }
  }
  if (lib->dwfl_report_end(dwfl, nullptr, nullptr) != 0 || reported == 0) {
    limitations = absl::StrCat("libdw rejected the module list (", reported,
                               " of ", modules.size(),
                               " modules accepted): ", lib->dwfl_errmsg(-1));
    return false;
  }
  return true;
}

// The module containing `pc`, or null; looks again once if the loader has
// loaded something since the modules were last reported.
Dwfl_Module* Symbolizer::Impl::ModuleOf(uintptr_t pc) {
  Dwfl_Module* mod = lib->dwfl_addrmodule(dwfl, pc);
  if (mod != nullptr) return mod;
  if (CurrentLoaderCounts() == reported_counts) return nullptr;
  ReportModules();
  return lib->dwfl_addrmodule(dwfl, pc);
}

// The frame's module fields, which each of its inlined frames shares.
SymbolizedFrame Symbolizer::Impl::ModuleFrame(Dwfl_Module* mod, uintptr_t pc) {
  SymbolizedFrame base = BareFrame(pc);
  Dwarf_Addr start = 0;
  const char* name = lib->dwfl_module_info(mod, nullptr, &start, nullptr,
                                           nullptr, nullptr, nullptr, nullptr);
  if (name != nullptr) {
    base.module = absl::StartsWith(name, "[vdso:") ? kVdso : name;
  }
  GElf_Addr bias = 0;
  base.module_offset =
      lib->dwfl_module_getelf(mod, &bias) != nullptr ? pc - bias : pc - start;
  return base;
}

// The demangled symbol-table name of the function at `pc`, or "".
std::string Symbolizer::Impl::SymbolName(Dwfl_Module* mod, uintptr_t pc) {
  const char* raw = nullptr;
#ifndef ABSL_HAVE_THREAD_SANITIZER
  // Not under ThreadSanitizer: reading a whole table there pushes the
  // program's earlier accesses out of TSan's history, so that its race
  // reports lose a stack (testing:tsan_neutral_test, History). libdw's own
  // lookup below is slower and leaves the history alone.
  std::unique_ptr<internal::SymbolTable>& table = symbol_tables[mod];
  if (table == nullptr) {
    table = std::make_unique<internal::SymbolTable>(*lib, mod);
  }
  raw = table->Find(pc);
#endif
  if (raw == nullptr) {
    GElf_Off offset = 0;
    GElf_Sym sym;
    raw = lib->dwfl_module_addrinfo(mod, pc, &offset, &sym, nullptr, nullptr,
                                    nullptr);
  }
  if (raw == nullptr) return "";
  // Symbol tables spell versioned definitions "name@@VERSION".
  return Demangle(std::string(raw, strcspn(raw, "@")).c_str());
}

// The innermost file and `line` of `pc`, from the line table.
std::string Symbolizer::Impl::LineTableLocation(Dwfl_Module* mod, uintptr_t pc,
                                                int* line) {
  *line = 0;
  Dwfl_Line* l = lib->dwfl_module_getsrc(mod, pc);
  if (l == nullptr) return "";
  Dwarf_Addr line_addr = 0;
  int column = 0;
  Dwarf_Word mtime = 0, length = 0;
  return SourcePath(
      lib->dwfl_lineinfo(l, &line_addr, line, &column, &mtime, &length));
}

// Whether `base.pc` is library code: in a system module (whose DWARF is
// then never opened), or in a compilation unit of a library source.
bool Symbolizer::Impl::IsLibraryCode(Dwfl_Module* mod,
                                     const SymbolizedFrame& base) {
  if (internal::IsSystemModule(base.module)) return true;
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = lib->dwfl_module_addrdie(mod, base.pc, &bias);
  Dwarf_Attribute name;
  if (cu == nullptr || lib->dwarf_attr(cu, DW_AT_name, &name) == nullptr) {
    return false;
  }
  return internal::IsLibrarySource(SourcePath(lib->dwarf_formstring(&name)),
                                   base.module);
}

bool Symbolizer::Impl::SymbolizeWithDwfl(uintptr_t pc,
                                         std::vector<SymbolizedFrame>* frames) {
  Dwfl_Module* mod = ModuleOf(pc);
  if (mod == nullptr) return false;
  const SymbolizedFrame base = ModuleFrame(mod, pc);
  const std::string symbol = SymbolName(mod, pc);
  if (!options.library_lines && IsLibraryCode(mod, base)) {
    SymbolizedFrame frame = base;
    frame.function = symbol;
    frame.names_only = true;
    frames->push_back(std::move(frame));
    return true;
  }
  int line = 0;
  const std::string file = LineTableLocation(mod, pc, &line);
  std::unique_ptr<internal::ModuleScopes>& functions = module_scopes[mod];
  if (functions == nullptr) {
    functions = std::make_unique<internal::ModuleScopes>(*lib, mod);
  }
  internal::Scopes found = functions->Find(pc);
  std::vector<Dwarf_Die>& chain = found.chain;

  // One frame per enclosing function. The innermost is at the line table's
  // location; each outer one at the call site of the function inside it.
  for (size_t i = 0; i < chain.size(); ++i) {
    SymbolizedFrame frame = base;
    const bool outermost = i + 1 == chain.size() && found.ends_in_subprogram;
    frame.inlined = !outermost;
    // The symbol table names clones ("[clone .cold]") that DWARF does not.
    frame.function = outermost && !symbol.empty()
                         ? symbol
                         : internal::DieName(*lib, &chain[i]);
    if (i == 0) {
      frame.file = file;
      frame.line = line;
    } else {
      frame.file =
          internal::CallSite(*lib, &chain[i - 1], found.cudie, &frame.line);
    }
    frames->push_back(std::move(frame));
  }
  // Without a subprogram in DWARF, the symbol table names the outermost.
  if (!found.ends_in_subprogram) {
    SymbolizedFrame frame = base;
    frame.function = symbol;
    if (chain.empty()) {
      frame.file = file;
      frame.line = line;
    } else {
      frame.file =
          internal::CallSite(*lib, &chain.back(), found.cudie, &frame.line);
    }
    frames->push_back(std::move(frame));
  }
  return true;
}

Symbolizer::Impl::Entry Symbolizer::Impl::Compute(uintptr_t pc) {
  Entry entry;
  if (EnsureDwfl() && SymbolizeWithDwfl(pc, &entry.frames)) {
    entry.found_module = true;
    return entry;
  }
  SymbolizedFrame frame = SymbolizeWithDladdr(pc);
  entry.found_module = !frame.module.empty();
  if (!entry.found_module) entry.counts = CurrentLoaderCounts();
  entry.frames.push_back(std::move(frame));
  return entry;
}

void Symbolizer::Impl::Refresh() {
  // After an unload, cached answers and libdw's modules may describe code
  // that is gone, and a new library may sit at the same addresses.
  const LoaderCounts now = CurrentLoaderCounts();
  if (now.subs == cache_subs) return;
  cache_subs = now.subs;
  cache.clear();
  stacks.clear();
  if (dwfl != nullptr) ReportModules();
}

void Symbolizer::Impl::Lookup(uintptr_t pc, std::vector<SymbolizedFrame>* out) {
  ++stats.lookups;
  auto it = cache.find(pc);
  if (it != cache.end() &&
      (it->second.found_module || CurrentLoaderCounts() == it->second.counts)) {
    ++stats.cache_hits;
    out->insert(out->end(), it->second.frames.begin(), it->second.frames.end());
    return;
  }
  Entry entry = Compute(pc);
  out->insert(out->end(), entry.frames.begin(), entry.frames.end());
  if (options.max_cached_addresses == 0) return;
  if (cache.size() >= options.max_cached_addresses) cache.clear();
  cache.insert_or_assign(pc, std::move(entry));
}

Symbolizer::Symbolizer() : Symbolizer(SymbolizerOptions()) {}

Symbolizer::Symbolizer(const SymbolizerOptions& options)
    : impl_(std::make_unique<Impl>(options)) {}

Symbolizer::~Symbolizer() = default;

std::vector<SymbolizedFrame> Symbolizer::Symbolize(uintptr_t pc) {
  return SymbolizeStack(absl::MakeConstSpan(&pc, 1));
}

std::vector<SymbolizedFrame> Symbolizer::SymbolizeStack(
    absl::Span<const uintptr_t> pcs) {
  std::vector<SymbolizedFrame> frames;
  frames.reserve(pcs.size());
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->Refresh();
  const uint64_t misses = impl_->stats.lookups - impl_->stats.cache_hits;
  const int reports = impl_->stats.module_reports;
  for (uintptr_t pc : pcs) impl_->Lookup(pc, &frames);
  // libdw closes the files of a module it drops, or of one it rejects.
  if (impl_->stats.lookups - impl_->stats.cache_hits != misses ||
      impl_->stats.module_reports != reports) {
    internal::ForgetClosedOwnFds();
  }
  return frames;
}

SharedFrames Symbolizer::SymbolizeShared(absl::Span<const uintptr_t> pcs) {
  std::vector<uintptr_t> key(pcs.begin(), pcs.end());
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->Refresh();
    auto it = impl_->stacks.find(key);
    if (it != impl_->stacks.end()) {
      impl_->stats.lookups += pcs.size();
      impl_->stats.cache_hits += pcs.size();
      return SharedFrames(it->second);
    }
  }
  auto frames =
      std::make_shared<const std::vector<SymbolizedFrame>>(SymbolizeStack(pcs));
  const bool all_found =
      std::all_of(frames->begin(), frames->end(),
                  [](const SymbolizedFrame& f) { return !f.module.empty(); });
  if (all_found && impl_->options.max_cached_addresses > 0) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stacks.size() >= impl_->options.max_cached_addresses) {
      impl_->stacks.clear();
    }
    impl_->stacks.insert_or_assign(std::move(key), frames);
  }
  return SharedFrames(std::move(frames));
}

std::string Symbolizer::Limitations() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->EnsureDwfl();
  internal::ForgetClosedOwnFds();
  return impl_->limitations;
}

SymbolizerStats Symbolizer::Stats() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

namespace {

// Written only before the default symbolizer exists.
SymbolizerOptions* default_options = nullptr;
std::atomic<bool> default_created{false};

}  // namespace

Symbolizer& DefaultSymbolizer() {
  static Symbolizer* const symbolizer = [] {
    default_created.store(true);
    return default_options != nullptr ? new Symbolizer(*default_options)
                                      : new Symbolizer();
  }();
  return *symbolizer;
}

bool SetDefaultSymbolizerOptions(const SymbolizerOptions& options) {
  if (default_created.load()) return false;
  if (default_options == nullptr) default_options = new SymbolizerOptions;
  *default_options = options;
  return true;
}

std::string SymbolizerLimitations() {
  if (internal::LoadLibDw() != nullptr) return "";
  return absl::StrCat(internal::LibDwError(), kConsequence);
}

std::string FormatFrame(const SymbolizedFrame& frame) {
  std::string out = frame.function.empty()
                        ? absl::StrCat("0x", absl::Hex(frame.pc))
                        : frame.function;
  if (!frame.file.empty()) {
    absl::StrAppend(&out, " at ", frame.file);
    if (frame.line > 0) absl::StrAppend(&out, ":", frame.line);
  } else if (!frame.module.empty()) {
    const size_t slash = frame.module.rfind('/');
    absl::StrAppend(&out, " in ",
                    slash == std::string::npos
                        ? absl::string_view(frame.module)
                        : absl::string_view(frame.module).substr(slash + 1),
                    "+0x", absl::Hex(frame.module_offset));
  }
  if (frame.inlined) out += " (inlined)";
  return out;
}

}  // namespace taskleak
