#include "taskleak/runtime/symbolizer.h"

#include <dlfcn.h>
#include <link.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/internal/unwind/libunwind.h"

// Functions with known names, parameters and lines to symbolize. They live
// outside anonymous namespaces so that their names are stable.
namespace symtest {

// Returns the lookup address of its own call to CaptureCurrentStack, and
// that call's line in *line.
ABSL_ATTRIBUTE_NOINLINE uintptr_t WhereAmI(int skip, const std::string& tag,
                                           int* line) {
  uintptr_t pc = 0;
  *line = __LINE__ + 1;
  const int n = taskleak::internal::CaptureCurrentStack(&pc, 1, skip);
  return n == 1 && !tag.empty() ? pc : 0;
}

class Widget {
 public:
  ABSL_ATTRIBUTE_NOINLINE uintptr_t Locate(double scale, int* line) const;

 private:
  int skip_ = 0;
};

uintptr_t Widget::Locate(double scale, int* line) const {
  uintptr_t pc = 0;
  *line = __LINE__ + 1;
  const int n = taskleak::internal::CaptureCurrentStack(&pc, 1, skip_);
  return n == 1 && scale > 0 ? pc : 0;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline uintptr_t InlinedLeaf(int skip, int* line) {
  uintptr_t pc = 0;
  *line = __LINE__ + 1;
  const int n = taskleak::internal::CaptureCurrentStack(&pc, 1, skip);
  return n == 1 ? pc : 0;
}

ABSL_ATTRIBUTE_NOINLINE uintptr_t InlineCaller(int skip, int* leaf_line,
                                               int* call_line) {
  *call_line = __LINE__ + 1;
  const uintptr_t pc = InlinedLeaf(skip, leaf_line);
  return pc;
}

// InlinedLeaf inlined into InlinedMiddle, itself inlined into
// TwiceInlinedCaller: one address, three functions.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline uintptr_t InlinedMiddle(int skip,
                                                            int* leaf_line,
                                                            int* middle_line) {
  *middle_line = __LINE__ + 1;
  const uintptr_t pc = InlinedLeaf(skip, leaf_line);
  return pc;
}

ABSL_ATTRIBUTE_NOINLINE uintptr_t TwiceInlinedCaller(int skip, int* leaf_line,
                                                     int* middle_line,
                                                     int* call_line) {
  *call_line = __LINE__ + 1;
  const uintptr_t pc = InlinedMiddle(skip, leaf_line, middle_line);
  return pc;
}

// Inner is called by Middle, called by Outer: a stack of three known frames.
ABSL_ATTRIBUTE_NOINLINE int Inner(uintptr_t* pcs, int max) {
  return taskleak::internal::CaptureCurrentStack(pcs, max, 0);
}
ABSL_ATTRIBUTE_NOINLINE int Middle(uintptr_t* pcs, int max) {
  const int n = Inner(pcs, max);
  return n > 0 ? n : -1;  // Not a tail call.
}
ABSL_ATTRIBUTE_NOINLINE int Outer(uintptr_t* pcs, int max) {
  const int n = Middle(pcs, max);
  return n > 0 ? n : -1;
}

}  // namespace symtest

namespace taskleak {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

// Every field, for readable failure messages.
std::string Describe(const SymbolizedFrame& f) {
  return absl::StrCat("{pc=0x", absl::Hex(f.pc), " function=\"", f.function,
                      "\" file=\"", f.file, "\" line=", f.line, " module=\"",
                      f.module, "\" offset=0x", absl::Hex(f.module_offset),
                      f.inlined ? " inlined" : "", "}");
}

std::vector<std::string> Describe(const std::vector<SymbolizedFrame>& frames) {
  std::vector<std::string> out;
  for (const SymbolizedFrame& f : frames) out.push_back(Describe(f));
  return out;
}

constexpr char kThisFile[] = "runtime/symbolizer_test.cc";

std::string ExecutablePath() {
  char* path = realpath("/proc/self/exe", nullptr);
  std::string result = path != nullptr ? path : "";
  free(path);
  return result;
}

TEST(SymbolizerTest, NamesFunctionWithParameterTypesFileAndLine) {
  int line = 0;
  const uintptr_t pc = symtest::WhereAmI(0, "tag", &line);
  ASSERT_NE(pc, 0u);
  Symbolizer symbolizer;
  const std::vector<SymbolizedFrame> frames = symbolizer.Symbolize(pc);
  ASSERT_THAT(frames, SizeIs(1)) << ::testing::PrintToString(Describe(frames));
  const SymbolizedFrame& f = frames[0];
  EXPECT_EQ(f.pc, pc);
  EXPECT_EQ(f.function, "symtest::WhereAmI(int, std::string const&, int*)");
  EXPECT_THAT(f.file, EndsWith(kThisFile));
  EXPECT_EQ(f.line, line);
  EXPECT_FALSE(f.inlined);
  EXPECT_EQ(f.module, ExecutablePath());
  EXPECT_NE(f.module_offset, 0u);
  EXPECT_EQ(FormatFrame(f),
            absl::StrCat("symtest::WhereAmI(int, std::string const&, int*) at ",
                         f.file, ":", line));
  EXPECT_THAT(symbolizer.Limitations(), IsEmpty());
  EXPECT_THAT(SymbolizerLimitations(), IsEmpty());
}

TEST(SymbolizerTest, DemanglesMethodOfClassInNamespace) {
  int line = 0;
  const symtest::Widget widget;
  const uintptr_t pc = widget.Locate(2.0, &line);
  ASSERT_NE(pc, 0u);
  const std::vector<SymbolizedFrame> frames = Symbolizer().Symbolize(pc);
  ASSERT_THAT(frames, SizeIs(1)) << ::testing::PrintToString(Describe(frames));
  EXPECT_EQ(frames[0].function, "symtest::Widget::Locate(double, int*) const");
  EXPECT_THAT(frames[0].file, EndsWith(kThisFile));
  EXPECT_EQ(frames[0].line, line);
}

TEST(SymbolizerTest, FunctionAddressNamesItsEntry) {
  const uintptr_t pc = reinterpret_cast<uintptr_t>(&symtest::Outer);
  const std::vector<SymbolizedFrame> frames = Symbolizer().Symbolize(pc);
  ASSERT_THAT(frames, SizeIs(1)) << ::testing::PrintToString(Describe(frames));
  EXPECT_EQ(frames[0].function, "symtest::Outer(unsigned long*, int)");
  EXPECT_THAT(frames[0].file, EndsWith(kThisFile));
  EXPECT_GT(frames[0].line, 0);
}

TEST(SymbolizerTest, ShowsInlinedFrameThenItsCaller) {
  int leaf_line = 0;
  int call_line = 0;
  const uintptr_t pc = symtest::InlineCaller(0, &leaf_line, &call_line);
  ASSERT_NE(pc, 0u);
  const std::vector<SymbolizedFrame> frames = Symbolizer().Symbolize(pc);
  ASSERT_THAT(frames, SizeIs(2)) << ::testing::PrintToString(Describe(frames));

  EXPECT_EQ(frames[0].function, "symtest::InlinedLeaf(int, int*)");
  EXPECT_THAT(frames[0].file, EndsWith(kThisFile));
  EXPECT_EQ(frames[0].line, leaf_line);
  EXPECT_TRUE(frames[0].inlined);
  EXPECT_THAT(FormatFrame(frames[0]), EndsWith(" (inlined)"));

  EXPECT_EQ(frames[1].function, "symtest::InlineCaller(int, int*, int*)");
  EXPECT_THAT(frames[1].file, EndsWith(kThisFile));
  EXPECT_EQ(frames[1].line, call_line);
  EXPECT_FALSE(frames[1].inlined);

  for (const SymbolizedFrame& f : frames) {
    EXPECT_EQ(f.pc, pc);
    EXPECT_EQ(f.module, frames[0].module);
    EXPECT_EQ(f.module_offset, frames[0].module_offset);
  }
}

// Each level of inlining is a frame, with the line of the call inside it:
// none is skipped between the innermost and the function that holds them.
TEST(SymbolizerTest, ShowsEveryLevelOfInlining) {
  int leaf_line = 0;
  int middle_line = 0;
  int call_line = 0;
  const uintptr_t pc =
      symtest::TwiceInlinedCaller(0, &leaf_line, &middle_line, &call_line);
  ASSERT_NE(pc, 0u);
  const std::vector<SymbolizedFrame> frames = Symbolizer().Symbolize(pc);
  ASSERT_THAT(frames, SizeIs(3)) << ::testing::PrintToString(Describe(frames));

  EXPECT_EQ(frames[0].function, "symtest::InlinedLeaf(int, int*)");
  EXPECT_EQ(frames[0].line, leaf_line);
  EXPECT_TRUE(frames[0].inlined);

  EXPECT_EQ(frames[1].function, "symtest::InlinedMiddle(int, int*, int*)");
  EXPECT_EQ(frames[1].line, middle_line);
  EXPECT_TRUE(frames[1].inlined);

  EXPECT_EQ(frames[2].function,
            "symtest::TwiceInlinedCaller(int, int*, int*, int*)");
  EXPECT_EQ(frames[2].line, call_line);
  EXPECT_FALSE(frames[2].inlined);

  for (const SymbolizedFrame& f : frames) {
    EXPECT_THAT(f.file, EndsWith(kThisFile));
    EXPECT_EQ(f.pc, pc);
  }
}

// This program's code: its executable segment.
struct CodeRange {
  uintptr_t start = 0;
  uintptr_t end = 0;
};

CodeRange ThisProgramsCode() {
  CodeRange range;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& p = info->dlpi_phdr[i];
          if (p.p_type == PT_LOAD && (p.p_flags & PF_X) != 0) {
            auto* r = static_cast<CodeRange*>(out);
            r->start = info->dlpi_addr + p.p_vaddr;
            r->end = r->start + p.p_memsz;
          }
        }
        return 1;  // The first object is the program.
      },
      &range);
  return range;
}

// "basename:line" of a path with its line.
std::string FileLine(absl::string_view file, int line) {
  const size_t slash = file.rfind('/');
  if (slash != absl::string_view::npos) file.remove_prefix(slash + 1);
  return absl::StrCat(file, ":", line);
}

// llvm-symbolizer's frames for each module offset, as FileLine entries; an
// address it knows no source for gets none. Empty if it did not run.
std::map<uint64_t, std::vector<std::string>> LlvmSymbolizer(
    const std::string& exe, const std::vector<uint64_t>& offsets) {
  std::string command =
      absl::StrCat("llvm-symbolizer --print-address --obj='", exe, "'");
  for (uint64_t o : offsets) absl::StrAppend(&command, " 0x", absl::Hex(o));
  std::map<uint64_t, std::vector<std::string>> frames;
  FILE* out = popen(command.c_str(), "r");
  if (out == nullptr) return frames;
  std::string text;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), out)) > 0;) {
    text.append(buffer, n);
  }
  pclose(out);
  // Per address, a block: the address, then a function line and a
  // "file:line:column" line per frame, innermost first.
  for (absl::string_view block : absl::StrSplit(text, "\n\n")) {
    std::vector<absl::string_view> lines =
        absl::StrSplit(block, '\n', absl::SkipEmpty());
    uint64_t address = 0;
    if (lines.empty() || !absl::ConsumePrefix(&lines[0], "0x") ||
        !absl::SimpleHexAtoi(lines[0], &address)) {
      continue;
    }
    std::vector<std::string>& entry = frames[address];
    for (size_t i = 2; i < lines.size(); i += 2) {
      std::vector<absl::string_view> parts = absl::StrSplit(lines[i], ':');
      int number = 0;
      if (parts.size() < 2 || parts[0] == "??" ||
          !absl::SimpleAtoi(parts[1], &number)) {
        continue;
      }
      // Line 0 at the address itself: no line there (padding, CRT code).
      if (i == 2 && number == 0) break;
      entry.push_back(FileLine(parts[0], number));
    }
  }
  return frames;
}

// A peer reading the same DWARF: llvm-symbolizer (the sanitizers'), at
// addresses across this program and every byte of a function with two
// levels of inlining. Both must give each address the same frames, with
// the same file and line. (eu-addr2line -i is no judge: it misses
// functions of local classes and adds a frame for some inlined ranges.)
TEST(SymbolizerTest, AgreesWithLlvmSymbolizerOnEveryFrame) {
  if (system("llvm-symbolizer --version > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "llvm-symbolizer (Debian: llvm) is not installed";
  }
  const CodeRange code = ThisProgramsCode();
  ASSERT_LT(code.start, code.end);
  std::vector<uintptr_t> pcs;
  constexpr int kSamples = 200;
  for (int i = 0; i < kSamples; ++i) {
    pcs.push_back(code.start + (code.end - code.start) / kSamples * i);
  }
  const uintptr_t twice =
      reinterpret_cast<uintptr_t>(&symtest::TwiceInlinedCaller);
  for (uintptr_t pc = twice; pc < twice + 64; ++pc) pcs.push_back(pc);
  // Each once: frames are gathered by address below.
  std::sort(pcs.begin(), pcs.end());
  pcs.erase(std::unique(pcs.begin(), pcs.end()), pcs.end());

  SymbolizerOptions options;
  options.library_lines = true;  // Lines for every frame, as the peer.
  Symbolizer symbolizer(options);
  std::map<uintptr_t, std::vector<std::string>> ours;
  std::map<uintptr_t, uint64_t> offset_of;
  for (const SymbolizedFrame& f : symbolizer.SymbolizeStack(pcs)) {
    ours[f.pc].push_back(FileLine(f.file, f.line));
    offset_of[f.pc] = f.module_offset;
  }
  std::vector<uint64_t> offsets;
  for (const auto& [pc, offset] : offset_of) offsets.push_back(offset);
  const std::map<uint64_t, std::vector<std::string>> theirs =
      LlvmSymbolizer(ExecutablePath(), offsets);
  ASSERT_FALSE(theirs.empty()) << "llvm-symbolizer printed nothing";

  int compared = 0;
  int inlined = 0;
  int differences = 0;
  for (const auto& [pc, frames] : ours) {
    auto it = theirs.find(offset_of[pc]);
    if (it == theirs.end() || it->second.empty()) continue;
    ++compared;
    if (it->second.size() > 1) ++inlined;
    if (frames != it->second && ++differences <= 10) {
      ADD_FAILURE() << "at offset 0x" << std::hex << offset_of[pc]
                    << ":\n  ours:            " << absl::StrJoin(frames, " < ")
                    << "\n  llvm-symbolizer: "
                    << absl::StrJoin(it->second, " < ");
    }
  }
  EXPECT_EQ(differences, 0);
  EXPECT_GT(compared, 50);
  EXPECT_GT(inlined, 0);
  RecordProperty("compared", compared);
  RecordProperty("inlined", inlined);
}

TEST(SymbolizerTest, StackFramesComeInOrder) {
  uintptr_t pcs[32];
  const int n = symtest::Outer(pcs, 32);
  ASSERT_GE(n, 3);
  const std::vector<SymbolizedFrame> frames =
      Symbolizer().SymbolizeStack(absl::MakeConstSpan(pcs, n));
  ASSERT_GE(frames.size(), static_cast<size_t>(n));
  // Frames follow the addresses' order, each address yielding one or more.
  size_t next = 0;
  for (const SymbolizedFrame& f : frames) {
    if (next > 0 && f.pc == pcs[next - 1]) continue;
    ASSERT_LT(next, static_cast<size_t>(n));
    ASSERT_EQ(f.pc, pcs[next]) << ::testing::PrintToString(Describe(frames));
    ++next;
  }
  EXPECT_EQ(next, static_cast<size_t>(n));
  EXPECT_THAT(frames[0].function, StartsWith("symtest::Inner("));
  EXPECT_THAT(frames[1].function, StartsWith("symtest::Middle("));
  EXPECT_THAT(frames[2].function, StartsWith("symtest::Outer("));
  // The caller of Outer is this test's body.
  EXPECT_THAT(frames[3].function,
              HasSubstr("SymbolizerTest_StackFramesComeInOrder_Test"));
  for (int i = 0; i < 4; ++i) EXPECT_THAT(frames[i].file, EndsWith(kThisFile));
}

// The address of a function in libc, looked up the way a stack holds it:
// inside the function, not at its entry.
uintptr_t LibcAddress() {
  return reinterpret_cast<uintptr_t>(dlsym(RTLD_DEFAULT, "getpid")) + 1;
}

TEST(SymbolizerTest, LibcAddressGetsNameAndModule) {
  const uintptr_t pc = LibcAddress();
  ASSERT_NE(pc, 1u);
  const std::vector<SymbolizedFrame> frames = Symbolizer().Symbolize(pc);
  ASSERT_THAT(frames, SizeIs(1)) << ::testing::PrintToString(Describe(frames));
  EXPECT_THAT(frames[0].function, HasSubstr("getpid"));
  EXPECT_THAT(frames[0].module, HasSubstr("libc.so"));
  EXPECT_NE(frames[0].module_offset, 0u);
  EXPECT_THAT(FormatFrame(frames[0]), StartsWith(frames[0].function));
}

// Library code is named from the symbol table alone, unless asked: its
// frames are folded in reports, and libc's DWARF is the costliest to read.
TEST(SymbolizerTest, LibraryCodeGetsNamesOnlyUnlessAskedForLines) {
  const uintptr_t pc = LibcAddress();
  ASSERT_NE(pc, 1u);
  const std::vector<SymbolizedFrame> fast = Symbolizer().Symbolize(pc);
  ASSERT_THAT(fast, SizeIs(1)) << ::testing::PrintToString(Describe(fast));
  EXPECT_TRUE(fast[0].names_only);
  EXPECT_THAT(fast[0].function, HasSubstr("getpid"));
  EXPECT_EQ(fast[0].file, "");
  EXPECT_EQ(fast[0].line, 0);

  SymbolizerOptions all;
  all.library_lines = true;
  const std::vector<SymbolizedFrame> full = Symbolizer(all).Symbolize(pc);
  ASSERT_FALSE(full.empty());
  EXPECT_FALSE(full.back().names_only);
  EXPECT_EQ(full.back().module, fast[0].module);
  if (full.back().file.empty()) {
    GTEST_SKIP() << "no DWARF for libc here (libc6-dbg not installed): "
                 << Describe(full.back());
  }
  EXPECT_GT(full.back().line, 0) << Describe(full.back());
}

// GoogleTest's compilation units are library code wherever they are linked
// (into this test binary, or a shared object), the test's own are not.
TEST(SymbolizerTest, GoogleTestFramesGetNamesOnlyTheTestsOwnGetLines) {
  const uintptr_t gtest =
      reinterpret_cast<uintptr_t>(&::testing::UnitTest::GetInstance) + 1;
  const std::vector<SymbolizedFrame> frames = Symbolizer().Symbolize(gtest);
  ASSERT_THAT(frames, SizeIs(1)) << ::testing::PrintToString(Describe(frames));
  EXPECT_TRUE(frames[0].names_only) << Describe(frames[0]);
  EXPECT_THAT(frames[0].function, HasSubstr("testing::UnitTest::GetInstance"));

  SymbolizerOptions all;
  all.library_lines = true;
  const std::vector<SymbolizedFrame> full = Symbolizer(all).Symbolize(gtest);
  ASSERT_FALSE(full.empty());
  EXPECT_FALSE(full[0].names_only);
  EXPECT_THAT(full[0].file, HasSubstr("googletest")) << Describe(full[0]);

  const uintptr_t own = reinterpret_cast<uintptr_t>(&LibcAddress) + 1;
  const std::vector<SymbolizedFrame> mine = Symbolizer().Symbolize(own);
  ASSERT_FALSE(mine.empty());
  EXPECT_FALSE(mine.back().names_only);
  EXPECT_THAT(mine.back().file, EndsWith(kThisFile));
}

TEST(SymbolizerTest, GarbageAddressGivesBarePc) {
  Symbolizer symbolizer;
  const std::vector<SymbolizedFrame> frames = symbolizer.Symbolize(0x10);
  ASSERT_THAT(frames, SizeIs(1));
  SymbolizedFrame bare;
  bare.pc = 0x10;
  EXPECT_EQ(frames[0], bare) << Describe(frames[0]);
  EXPECT_EQ(FormatFrame(frames[0]), "0x10");
  // No module was loaded in between: the miss did not re-read the maps.
  EXPECT_EQ(symbolizer.Stats().module_reports, 1);
}

TEST(SymbolizerTest, SecondLookupComesFromCacheAndIsIdentical) {
  int line = 0;
  const uintptr_t pc = symtest::WhereAmI(0, "tag", &line);
  Symbolizer symbolizer;
  const std::vector<SymbolizedFrame> first = symbolizer.Symbolize(pc);
  EXPECT_EQ(symbolizer.Stats().cache_hits, 0u);
  const std::vector<SymbolizedFrame> second = symbolizer.Symbolize(pc);
  EXPECT_EQ(symbolizer.Stats().cache_hits, 1u);
  EXPECT_EQ(symbolizer.Stats().lookups, 2u);
  EXPECT_EQ(Describe(first), Describe(second));
  EXPECT_EQ(first, second);
}

// A stack seen before comes back as the very same frames, not a copy; a
// different stack gets its own.
TEST(SymbolizerTest, SharedStacksAreSymbolizedOnceAndShared) {
  int line = 0;
  const uintptr_t pc = symtest::WhereAmI(0, "tag", &line);
  const std::vector<uintptr_t> stack = {pc, LibcAddress()};
  Symbolizer symbolizer;
  const SharedFrames first = symbolizer.SymbolizeShared(stack);
  const SharedFrames second = symbolizer.SymbolizeShared(stack);
  EXPECT_EQ(first.data(), second.data());
  EXPECT_EQ(first.frames(), symbolizer.SymbolizeStack(stack));
  EXPECT_EQ(first.back().pc, LibcAddress());

  const SharedFrames other = symbolizer.SymbolizeShared({stack[0]});
  EXPECT_NE(other.data(), first.data());
  EXPECT_EQ(other.frames(), symbolizer.SymbolizeStack({stack[0]}));

  SymbolizerOptions uncached;
  uncached.max_cached_addresses = 0;
  Symbolizer no_cache(uncached);
  EXPECT_NE(no_cache.SymbolizeShared(stack).data(),
            no_cache.SymbolizeShared(stack).data());
}

TEST(SymbolizerTest, FullCacheStartsOver) {
  SymbolizerOptions options;
  options.max_cached_addresses = 1;
  Symbolizer symbolizer(options);
  int line = 0;
  const uintptr_t a = symtest::WhereAmI(0, "tag", &line);
  const uintptr_t b = LibcAddress();
  symbolizer.Symbolize(a);
  symbolizer.Symbolize(b);  // Evicts a.
  symbolizer.Symbolize(a);
  EXPECT_EQ(symbolizer.Stats().cache_hits, 0u);
  symbolizer.Symbolize(a);
  EXPECT_EQ(symbolizer.Stats().cache_hits, 1u);
}

TEST(SymbolizerTest, FindsModuleLoadedAfterFirstLookup) {
  constexpr char kPlugin[] = "runtime/libsymbolizer_test_plugin.so";
  const bool already_loaded =
      dlopen(kPlugin, RTLD_NOW | RTLD_NOLOAD) != nullptr;
  Symbolizer symbolizer;
  int line = 0;
  ASSERT_EQ(symbolizer.Symbolize(symtest::WhereAmI(0, "tag", &line)).size(),
            1u);
  ASSERT_EQ(symbolizer.Stats().module_reports, 1);

  void* plugin = dlopen(kPlugin, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(plugin, nullptr) << dlerror();
  auto address_of_work = reinterpret_cast<uintptr_t (*)()>(
      dlsym(plugin, "SymbolizerTestPluginAddress"));
  ASSERT_NE(address_of_work, nullptr) << dlerror();
  const std::vector<SymbolizedFrame> frames =
      symbolizer.Symbolize(address_of_work());
  ASSERT_THAT(frames, SizeIs(1));
  EXPECT_EQ(frames[0].function, "symbolizer_plugin::Work(int)")
      << Describe(frames[0]);
  EXPECT_THAT(frames[0].file, EndsWith("runtime/symbolizer_test_plugin.cc"));
  EXPECT_GT(frames[0].line, 0);
  EXPECT_THAT(frames[0].module, EndsWith("libsymbolizer_test_plugin.so"));
  if (!already_loaded) {
    EXPECT_EQ(symbolizer.Stats().module_reports, 2);
  }
  // Kept loaded: unloading would make the answer stale for other tests.
}

TEST(SymbolizerTest, ForgetsModuleUnloadedAfterLookup) {
  // A plugin of its own: nothing else in this test keeps it loaded.
  constexpr char kPlugin[] = "runtime/libsymbolizer_test_unload_plugin.so";
  void* plugin = dlopen(kPlugin, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(plugin, nullptr) << dlerror();
  auto address_of_work = reinterpret_cast<uintptr_t (*)()>(
      dlsym(plugin, "SymbolizerTestPluginAddress"));
  ASSERT_NE(address_of_work, nullptr) << dlerror();
  const uintptr_t pc = address_of_work();
  Symbolizer symbolizer;
  ASSERT_EQ(symbolizer.Symbolize(pc)[0].function,
            "symbolizer_plugin::Work(int)");

  ASSERT_EQ(dlclose(plugin), 0) << dlerror();
  if (dlopen(kPlugin, RTLD_NOW | RTLD_NOLOAD) != nullptr) {
    GTEST_SKIP() << "the loader kept " << kPlugin << " loaded";
  }
  const std::vector<SymbolizedFrame> frames = symbolizer.Symbolize(pc);
  ASSERT_THAT(frames, SizeIs(1));
  EXPECT_THAT(frames[0].function, IsEmpty()) << Describe(frames[0]);
  EXPECT_THAT(frames[0].module, IsEmpty()) << Describe(frames[0]);
  EXPECT_EQ(symbolizer.Stats().module_reports, 2);
}

TEST(SymbolizerTest, NamesVdsoFunction) {
  void* vdso = dlopen("linux-vdso.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (vdso == nullptr) GTEST_SKIP() << "no vDSO in this process";
  void* fn = dlsym(vdso, "__vdso_clock_gettime");
  ASSERT_NE(fn, nullptr) << dlerror();
  const uintptr_t pc = reinterpret_cast<uintptr_t>(fn) + 1;
  const std::vector<SymbolizedFrame> frames = Symbolizer().Symbolize(pc);
  ASSERT_THAT(frames, SizeIs(1));
  EXPECT_THAT(frames[0].function, HasSubstr("clock_gettime"))
      << Describe(frames[0]);
  EXPECT_EQ(frames[0].module, "[vdso]");
  EXPECT_EQ(frames[0].module_offset, pc - getauxval(AT_SYSINFO_EHDR));
}

TEST(SymbolizerTest, WithoutLibdwFallsBackToModuleAndOffset) {
  int line = 0;
  const uintptr_t own = symtest::WhereAmI(0, "tag", &line);
  const std::vector<SymbolizedFrame> rich = Symbolizer().Symbolize(own);

  SymbolizerOptions options;
  options.use_libdw = false;
  Symbolizer symbolizer(options);
  EXPECT_THAT(symbolizer.Limitations(), HasSubstr("use_libdw"));

  const std::vector<SymbolizedFrame> frames = symbolizer.Symbolize(own);
  ASSERT_THAT(frames, SizeIs(1));
  EXPECT_EQ(frames[0].pc, own);
  EXPECT_THAT(frames[0].file, IsEmpty());
  EXPECT_EQ(frames[0].line, 0);
  // Both ways agree on where the address is.
  ASSERT_THAT(rich, SizeIs(1));
  EXPECT_EQ(frames[0].module, rich[0].module);
  EXPECT_EQ(frames[0].module_offset, rich[0].module_offset);
  const std::string exe = ExecutablePath();
  EXPECT_THAT(FormatFrame(frames[0]),
              HasSubstr(absl::StrCat(" in ", exe.substr(exe.rfind('/') + 1),
                                     "+0x", absl::Hex(rich[0].module_offset))));

  const std::vector<SymbolizedFrame> libc = symbolizer.Symbolize(LibcAddress());
  ASSERT_THAT(libc, SizeIs(1));
  EXPECT_THAT(libc[0].function, HasSubstr("getpid"));
  EXPECT_THAT(libc[0].module, HasSubstr("libc.so"));

  EXPECT_EQ(FormatFrame(symbolizer.Symbolize(0x10)[0]), "0x10");
}

TEST(SymbolizerTest, ConcurrentLookupsAgree) {
  int line = 0;
  std::vector<uintptr_t> pcs = {
      symtest::WhereAmI(0, "tag", &line),
      symtest::InlineCaller(0, &line, &line),
      LibcAddress(),
      0x10,
  };
  uintptr_t stack[32];
  const int n = symtest::Outer(stack, 32);
  pcs.insert(pcs.end(), stack, stack + n);
  const std::vector<std::string> expected =
      Describe(Symbolizer().SymbolizeStack(pcs));

  Symbolizer shared;  // Cold: the threads race to set it up.
  constexpr int kThreads = 4;
  std::vector<std::vector<std::string>> results(kThreads);
  absl::Notification start;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.WaitForNotification();
      for (int round = 0; round < 3; ++round) {
        // Odd threads look addresses up one by one, in reverse.
        std::vector<SymbolizedFrame> frames;
        if (t % 2 == 0) {
          frames = shared.SymbolizeStack(pcs);
        } else {
          std::vector<std::vector<SymbolizedFrame>> each;
          for (auto it = pcs.rbegin(); it != pcs.rend(); ++it) {
            each.push_back(shared.Symbolize(*it));
          }
          for (auto it = each.rbegin(); it != each.rend(); ++it) {
            frames.insert(frames.end(), it->begin(), it->end());
          }
        }
        results[t] = Describe(frames);
        if (results[t] != expected) return;
      }
    });
  }
  start.Notify();
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(results[t], expected) << "thread " << t;
  }
  EXPECT_EQ(shared.Stats().module_reports, 1);
}

TEST(SymbolizerTest, DefaultSymbolizerIsOneInstance) {
  EXPECT_EQ(&DefaultSymbolizer(), &DefaultSymbolizer());
  EXPECT_THAT(DefaultSymbolizer().Symbolize(0x10), SizeIs(1));
}

TEST(FormatFrameTest, ChoosesTheRichestForm) {
  SymbolizedFrame f;
  f.pc = 0x7f00deadbeef;
  EXPECT_EQ(FormatFrame(f), "0x7f00deadbeef");
  f.module = "/usr/lib/libx.so";
  f.module_offset = 0x1234;
  EXPECT_EQ(FormatFrame(f), "0x7f00deadbeef in libx.so+0x1234");
  f.function = "Foo::Bar(int)";
  EXPECT_EQ(FormatFrame(f), "Foo::Bar(int) in libx.so+0x1234");
  f.file = "foo.cc";
  f.line = 12;
  EXPECT_EQ(FormatFrame(f), "Foo::Bar(int) at foo.cc:12");
  f.line = 0;
  EXPECT_EQ(FormatFrame(f), "Foo::Bar(int) at foo.cc");
  f.line = 12;
  f.inlined = true;
  EXPECT_EQ(FormatFrame(f), "Foo::Bar(int) at foo.cc:12 (inlined)");
}

}  // namespace
}  // namespace taskleak
