#include "taskleak/runtime/internal/symbol_table.h"

#include <algorithm>
#include <tuple>

namespace taskleak {
namespace internal {
namespace {

int BindingRank(const GElf_Sym& sym) {
  switch (GELF_ST_BIND(sym.st_info)) {
    case STB_GLOBAL:
      return 0;
    case STB_WEAK:
      return 1;
    case STB_LOCAL:
      return 2;
    default:
      return 3;
  }
}

// How far Find looks back past symbols that end below `pc`: far enough for
// nested or overlapping symbols, short of scanning a table it cannot answer.
constexpr int kMaxLookBack = 64;

}  // namespace

SymbolTable::SymbolTable(const LibDw& lib, Dwfl_Module* mod) {
  const int count = lib.dwfl_module_getsymtab(mod);
  if (count <= 0) return;
  symbols_.reserve(count);
  // Entry 0 is the null symbol.
  for (int i = 1; i < count; ++i) {
    GElf_Sym sym;
    GElf_Addr addr = 0;
    GElf_Word shndx = 0;
    const char* name = lib.dwfl_module_getsym_info(mod, i, &sym, &addr, &shndx,
                                                   nullptr, nullptr);
    // The symbols libdw itself would consider for an address.
    const int type = GELF_ST_TYPE(sym.st_info);
    if (name == nullptr || name[0] == '\0' || shndx == SHN_UNDEF ||
        type == STT_SECTION || type == STT_FILE || type == STT_TLS ||
        sym.st_size == 0) {
      continue;
    }
    symbols_.push_back(Symbol{static_cast<uintptr_t>(addr),
                              static_cast<uintptr_t>(addr + sym.st_size),
                              BindingRank(sym), i, name});
  }
  std::sort(symbols_.begin(), symbols_.end(),
            [](const Symbol& a, const Symbol& b) {
              return std::tie(a.start, a.binding_rank, a.index) <
                     std::tie(b.start, b.binding_rank, b.index);
            });
}

const char* SymbolTable::Find(uintptr_t pc) const {
  // The first symbol starting above pc; those before it start at or below.
  auto above = std::upper_bound(
      symbols_.begin(), symbols_.end(), pc,
      [](uintptr_t value, const Symbol& s) { return value < s.start; });
  const Symbol* found = nullptr;
  int looked = 0;
  for (auto it = above; it != symbols_.begin() && looked < kMaxLookBack;
       ++looked) {
    --it;
    if (found != nullptr && it->start != found->start) break;
    // Walking down: at equal starts the stronger binding comes later.
    if (pc < it->end) found = &*it;
  }
  return found == nullptr ? nullptr : found->name;
}

}  // namespace internal
}  // namespace taskleak
