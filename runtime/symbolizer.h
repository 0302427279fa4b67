// Turns the lookup addresses of a captured stack into function names, source
// files and lines, including the frames the compiler inlined.
//
// Capture and symbolization are separate steps: a stack is captured as bare
// addresses (cheaply, possibly in a signal handler), and symbolized here only
// when a report is written.
//
//   std::vector<uintptr_t> pcs = ...;  // lookup addresses of a stack
//   taskleak::Symbolizer& symbolizer = taskleak::DefaultSymbolizer();
//   for (const taskleak::SymbolizedFrame& frame :
//        symbolizer.SymbolizeStack(pcs))
//     std::cerr << "    " << taskleak::FormatFrame(frame) << "\n";
//
// Lookup addresses: every stack taskleak records (stack_capture.h,
// thread_origin.h, task_registry.h) holds the exact instruction for an
// interrupted frame, and return address - 1 for each caller, so that
// symbolizing finds the call's own line without further adjustment.
//
// Names (demangled, with parameter types), files, lines and inlined frames
// come from the DWARF debug info, read with elfutils' libdw. libdw is
// LGPL-3+/GPL-2+: taskleak (Apache-2.0) neither links nor ships it, it loads
// libdw.so.1 with dlopen on the first lookup. Without libdw, names come from
// dladdr (exported symbols only) and frames fall back to module+offset;
// SymbolizerLimitations() says so, for reports to print.
//
// Nothing here is async-signal-safe: never symbolize in a signal handler.

#ifndef TASKLEAK_RUNTIME_SYMBOLIZER_H_
#define TASKLEAK_RUNTIME_SYMBOLIZER_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/types/span.h"

namespace taskleak {

// One frame of a symbolized stack. Fields that are unknown stay at their
// defaults.
struct SymbolizedFrame {
  // The lookup address this frame was produced for. Every frame of one
  // lookup (inlined ones included) carries the same pc.
  uintptr_t pc = 0;
  // Demangled, with parameter types where known
  // ("ns::Foo::Bar(int, std::string const&)"); empty if unknown.
  std::string function;
  // Source file as recorded in the debug info; empty if unknown.
  std::string file;
  // Source line; 0 if unknown.
  int line = 0;
  // Path of the ELF module (executable or shared object), "[vdso]" for the
  // kernel's vDSO; empty if unknown.
  std::string module;
  // pc relative to the module's load base: the address to give addr2line or
  // llvm-symbolizer for `module`. Meaningful only if `module` is set.
  uintptr_t module_offset = 0;
  // True for a frame that was inlined into the next frame of the same pc.
  bool inlined = false;
  // True if only the symbol table was read (library code, see
  // SymbolizerOptions::library_lines): no file:line, no inlined frames.
  bool names_only = false;

  friend bool operator==(const SymbolizedFrame& a, const SymbolizedFrame& b) {
    return a.pc == b.pc && a.function == b.function && a.file == b.file &&
           a.line == b.line && a.module == b.module &&
           a.module_offset == b.module_offset && a.inlined == b.inlined &&
           a.names_only == b.names_only;
  }
  friend bool operator!=(const SymbolizedFrame& a, const SymbolizedFrame& b) {
    return !(a == b);
  }
};

// A symbolized stack, immutable and shared: copying one copies a pointer,
// so the thousand threads of a report that share a stack share its frames.
// Reads like a const std::vector<SymbolizedFrame> and converts to one.
class SharedFrames {
 public:
  using value_type = SymbolizedFrame;
  using const_iterator = std::vector<SymbolizedFrame>::const_iterator;
  using iterator = const_iterator;
  using const_reverse_iterator =
      std::vector<SymbolizedFrame>::const_reverse_iterator;
  using size_type = size_t;
  using const_reference = const SymbolizedFrame&;
  using reference = const_reference;

  SharedFrames() = default;
  // Implicit, so that a vector of frames can be assigned.
  SharedFrames(std::vector<SymbolizedFrame> frames)  // NOLINT
      : frames_(std::make_shared<const std::vector<SymbolizedFrame>>(
            std::move(frames))) {}
  SharedFrames(std::initializer_list<SymbolizedFrame> frames)  // NOLINT
      : SharedFrames(std::vector<SymbolizedFrame>(frames)) {}
  explicit SharedFrames(
      std::shared_ptr<const std::vector<SymbolizedFrame>> frames)
      : frames_(std::move(frames)) {}

  const std::vector<SymbolizedFrame>& frames() const {
    return frames_ != nullptr ? *frames_ : Empty();
  }
  operator const std::vector<SymbolizedFrame>&() const {  // NOLINT
    return frames();
  }

  const_iterator begin() const { return frames().begin(); }
  const_iterator end() const { return frames().end(); }
  const_reverse_iterator rbegin() const { return frames().rbegin(); }
  const_reverse_iterator rend() const { return frames().rend(); }
  size_t size() const { return frames().size(); }
  bool empty() const { return frames().empty(); }
  const SymbolizedFrame* data() const { return frames().data(); }
  const SymbolizedFrame& operator[](size_t i) const { return frames()[i]; }
  const SymbolizedFrame& front() const { return frames().front(); }
  const SymbolizedFrame& back() const { return frames().back(); }

  friend bool operator==(const SharedFrames& a, const SharedFrames& b) {
    return a.frames_ == b.frames_ || a.frames() == b.frames();
  }
  friend bool operator!=(const SharedFrames& a, const SharedFrames& b) {
    return !(a == b);
  }

 private:
  static const std::vector<SymbolizedFrame>& Empty() {
    static const auto* empty = new std::vector<SymbolizedFrame>;
    return *empty;
  }
  std::shared_ptr<const std::vector<SymbolizedFrame>> frames_;
};

// How a Symbolizer finds its answers.
struct SymbolizerOptions {
  // Use libdw (DWARF) for parameter types, file:line and inlined frames.
  // When false, or when libdw.so.1 cannot be loaded, names come from dladdr:
  // exported symbols only, no file:line, no inlined frames.
  bool use_libdw = true;
  // Let libdw download missing debug info from the servers listed in
  // $DEBUGINFOD_URLS. Off by default: symbolizing inside a test process
  // should not touch the network. Local debug files (the module itself,
  // /usr/lib/debug by build ID, .gnu_debuglink next to the module or under
  // /usr/lib/debug) are always used.
  bool debuginfod = false;
  // Read DWARF for library code too. Off by default: code in system
  // libraries (runtime/internal/library_code.h: libc, libstdc++, ...) and in
  // compilation units of library sources (GoogleTest's) gets its name from
  // the symbol table, without file:line or inlined frames. Reports fold
  // such frames into "... N frames in libraries", and skipping their DWARF
  // skips the costliest part of a cold report (libc's compressed debug file
  // alone takes about 60 ms to inflate). The program's own compilation
  // units always get full DWARF, inlined library frames included.
  bool library_lines = false;
  // The cache holds at most this many lookup addresses; when it is full it
  // starts over empty. 0 turns caching off.
  size_t max_cached_addresses = size_t{1} << 16;
};

// Counters for tests and benchmarks.
struct SymbolizerStats {
  // Addresses looked up (each address of a stack counts once).
  uint64_t lookups = 0;
  // Lookups answered from the cache.
  uint64_t cache_hits = 0;
  // Times the list of loaded modules was (re)read from the dynamic loader.
  int module_reports = 0;
};

// Symbolizes lookup addresses of this process, caching the answer for each
// address. Modules loaded after the first lookup (dlopen) are found: a lookup
// that falls outside every known module re-reads the module list once if
// the dynamic loader has loaded or unloaded anything since the last read.
//
// Thread-safe: all methods may be called concurrently (lookups serialize on
// an internal mutex). None is async-signal-safe.
class Symbolizer {
 public:
  // Cheap: libdw is loaded, and the module list read, on the first lookup.
  Symbolizer();
  explicit Symbolizer(const SymbolizerOptions& options);
  ~Symbolizer();

  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // Frames for one lookup address, as given (exact address for an
  // interrupted frame, return address - 1 for a caller): inlined frames first,
  // innermost first, then the function that contains them. Never empty:
  // falls back to module+offset, then to the bare pc.
  std::vector<SymbolizedFrame> Symbolize(uintptr_t pc);

  // All frames for a stack of lookup addresses, in order; the same as
  // concatenating Symbolize() for each address, under one lock.
  std::vector<SymbolizedFrame> SymbolizeStack(absl::Span<const uintptr_t> pcs);

  // The same frames, shared: a stack symbolized before (the same lookup
  // addresses) comes back as the same frames, from a cache of whole stacks
  // bounded like the cache of addresses. What reports use for thousands of
  // threads with a few distinct stacks.
  SharedFrames SymbolizeShared(absl::Span<const uintptr_t> pcs);

  // Empty if this symbolizer gets names with parameter types, file:line and
  // inlined frames; otherwise one line saying what is missing and why (for
  // example "cannot load libdw.so.1 ..."). May load libdw and read the list
  // of loaded modules.
  std::string Limitations();

  SymbolizerStats Stats();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A process-wide symbolizer, created on first use and never destroyed, so
// its cache lives as long as the process. Thread-safe.
Symbolizer& DefaultSymbolizer();

// Sets the options DefaultSymbolizer() is created with (default options
// otherwise). Returns false, and changes nothing, if it exists already.
// Call it before anything symbolizes (from main, say), not concurrently
// with DefaultSymbolizer().
bool SetDefaultSymbolizerOptions(const SymbolizerOptions& options);

// Empty if libdw can be loaded, else one line explaining what symbolized
// stacks will lack and why. Loads libdw if it is not loaded yet.
// Thread-safe, not async-signal-safe.
std::string SymbolizerLimitations();

// One line, no newline:
//   "Foo::Bar(int) at foo.cc:12"           function and source location
//   "Foo::Bar(int) in libx.so+0x1234"      no source location
//   "0x7f00deadbeef in libx.so+0x1234"     no function name
//   "0x7f00deadbeef"                       nothing known
// An inlined frame ends in " (inlined)". The module is shown by its base
// name. Thread-safe, not async-signal-safe (allocates).
std::string FormatFrame(const SymbolizedFrame& frame);

}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_SYMBOLIZER_H_
