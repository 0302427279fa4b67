#include "taskleak/runtime/internal/dwarf_scopes.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/internal/libdw.h"
#include "taskleak/runtime/internal/libdw_test_util.h"

namespace scopetest {

// Leaf inlined into Middle, itself inlined into Caller: at the call below,
// one address lies in three functions.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline int Leaf(volatile int* out) {
  *out = 1;
  return *out;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline int Middle(volatile int* out) {
  return Leaf(out) + 1;
}
constexpr int kLeafCall = __LINE__ - 2;

ABSL_ATTRIBUTE_NOINLINE int Caller(volatile int* out) {
  return Middle(out) + 1;
}
constexpr int kMiddleCall = __LINE__ - 2;

}  // namespace scopetest

namespace taskleak {
namespace internal {
namespace {

class DwarfScopesTest : public LibDwTest {
 protected:
  // The oracle, through libdw alone: dwarf_getscopes for the innermost
  // scope of `pc`, then dwarf_getscopes_die for the concrete path from it
  // (as eu-addr2line -i does), as far as its first subprogram.
  Scopes FindWithLibdw(Dwfl_Module* mod, uintptr_t pc) {
    Scopes scopes;
    Dwarf_Addr bias = 0;
    Dwarf_Die* cudie = lib_->dwfl_module_addrdie(mod, pc, &bias);
    Dwarf_Die* innermost = nullptr;
    if (cudie == nullptr ||
        lib_->dwarf_getscopes(cudie, pc - bias, &innermost) <= 0) {
      free(innermost);
      return scopes;
    }
    Dwarf_Die* path = nullptr;
    const int n = lib_->dwarf_getscopes_die(&innermost[0], &path);
    for (int i = 0; i < n; ++i) {
      const int tag = lib_->dwarf_tag(&path[i]);
      if (tag == DW_TAG_inlined_subroutine) scopes.chain.push_back(path[i]);
      if (tag == DW_TAG_subprogram) {
        scopes.chain.push_back(path[i]);
        scopes.ends_in_subprogram = true;
        break;
      }
    }
    free(path);
    free(innermost);
    return scopes;
  }

  // The chain as "name@offset" entries, innermost first, with "|" after a
  // subprogram.
  std::string Describe(const Scopes& scopes) {
    std::vector<std::string> parts;
    for (Dwarf_Die die : scopes.chain) {
      parts.push_back(
          absl::StrCat(DieName(*lib_, &die), "@", lib_->dwarf_dieoffset(&die)));
    }
    return absl::StrCat(absl::StrJoin(parts, " < "),
                        scopes.ends_in_subprogram ? " |" : "");
  }

  struct Compared {
    int addresses = 0;  // with a chain
    int inlined = 0;    // of those, in an inlined function
    // Where only the index has a chain: a function whose DIE libdw's walk
    // prunes, such as a member of a class local to a function, or (clang)
    // any function defined in a namespace. symbolizer_test compares those
    // with llvm-symbolizer.
    int only_indexed = 0;
    int differences = 0;
  };

  // Looks up the start, middle and last byte of every `stride`-th function
  // of `mod`, and every byte of scopetest::Caller, with the index and with
  // the oracle; adds a failure per difference (the first ten).
  Compared CompareWithLibdw(Dwfl_Module* mod, int stride) {
    ModuleScopes indexed(*lib_, mod);
    Compared c;
    auto compare = [&](GElf_Addr pc, const char* name) {
      const std::string expected = Describe(FindWithLibdw(mod, pc));
      const std::string got = Describe(indexed.Find(pc));
      if (expected.empty() && got.empty()) return;
      ++c.addresses;
      if (got.find(" < ") != std::string::npos) ++c.inlined;
      if (expected.empty()) {
        ++c.only_indexed;
        return;
      }
      if (got != expected && ++c.differences <= 10) {
        ADD_FAILURE() << "at 0x" << std::hex << pc << " (in " << name
                      << "):\n  indexed: " << got
                      << "\n  libdw:   " << expected;
      }
    };
    const uintptr_t caller = reinterpret_cast<uintptr_t>(&scopetest::Caller);
    if (lib_->dwfl_addrmodule(dwfl_, caller) == mod) {
      for (uintptr_t pc = caller; pc < caller + 64; ++pc) {
        compare(pc, "scopetest::Caller");
      }
    }
    for (const Function& f : FunctionsOf(mod, stride)) {
      const char* name = f.name;
      for (GElf_Addr pc :
           {f.start, f.start + f.size / 2, f.start + f.size - 1}) {
        compare(pc, name);
      }
    }
    return c;
  }
};

TEST_F(DwarfScopesTest, GivesEveryLevelOfInlining) {
  const uintptr_t caller = reinterpret_cast<uintptr_t>(&scopetest::Caller);
  Dwfl_Module* mod = ModuleOf(reinterpret_cast<void*>(caller));
  ASSERT_NE(mod, nullptr);
  ModuleScopes scopes(*lib_, mod);
  // The first address in Caller whose chain reaches Leaf: its store.
  Scopes found;
  for (uintptr_t pc = caller; pc < caller + 64; ++pc) {
    found = scopes.Find(pc);
    if (found.chain.size() == 3) break;
  }
  ASSERT_EQ(found.chain.size(), 3u) << Describe(found);
  EXPECT_EQ(DieName(*lib_, &found.chain[0]), "scopetest::Leaf(int volatile*)");
  EXPECT_EQ(DieName(*lib_, &found.chain[1]),
            "scopetest::Middle(int volatile*)");
  EXPECT_EQ(DieName(*lib_, &found.chain[2]),
            "scopetest::Caller(int volatile*)");
  EXPECT_EQ(lib_->dwarf_tag(&found.chain[0]), DW_TAG_inlined_subroutine);
  EXPECT_EQ(lib_->dwarf_tag(&found.chain[1]), DW_TAG_inlined_subroutine);
  EXPECT_EQ(lib_->dwarf_tag(&found.chain[2]), DW_TAG_subprogram);
  EXPECT_TRUE(found.ends_in_subprogram);
  ASSERT_NE(found.cudie, nullptr);
  // Each inlined instance's call site, in the function around it.
  int line = 0;
  EXPECT_NE(CallSite(*lib_, &found.chain[0], found.cudie, &line)
                .find("dwarf_scopes_test.cc"),
            std::string::npos);
  EXPECT_EQ(line, scopetest::kLeafCall);
  CallSite(*lib_, &found.chain[1], found.cudie, &line);
  EXPECT_EQ(line, scopetest::kMiddleCall);
}

TEST_F(DwarfScopesTest, IndexAgreesWithLibdwOnThisProgram) {
  Dwfl_Module* mod = ModuleOf(reinterpret_cast<void*>(&scopetest::Caller));
  ASSERT_NE(mod, nullptr);
  const Compared c = CompareWithLibdw(mod, 2);
  EXPECT_EQ(c.differences, 0);
  EXPECT_GT(c.addresses, 50);
  // Caller's at least; an optimized build inlines far more.
  EXPECT_GT(c.inlined, 0);
  RecordProperty("addresses", c.addresses);
  RecordProperty("inlined", c.inlined);
  RecordProperty("only_indexed", c.only_indexed);
}

TEST_F(DwarfScopesTest, IndexAgreesWithLibdwOnLibc) {
  Dwfl_Module* mod = ModuleOf(reinterpret_cast<void*>(&::strerror));
  ASSERT_NE(mod, nullptr);
  Dwarf_Addr bias = 0;
  if (lib_->dwfl_module_addrdie(mod, reinterpret_cast<uintptr_t>(&::strerror),
                                &bias) == nullptr) {
    GTEST_SKIP() << "no DWARF for libc (Debian: libc6-dbg)";
  }
  // Debian's libc DWARF is dwz-compressed: functions in imported units.
  const Compared c = CompareWithLibdw(mod, 17);
  EXPECT_EQ(c.differences, 0);
  EXPECT_GT(c.addresses, 100);
  RecordProperty("addresses", c.addresses);
  RecordProperty("inlined", c.inlined);
  RecordProperty("only_indexed", c.only_indexed);
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
