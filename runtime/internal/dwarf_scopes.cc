#include "taskleak/runtime/internal/dwarf_scopes.h"

#include <algorithm>
#include <cstddef>
#include <tuple>

#include "taskleak/runtime/internal/symbol_names.h"

namespace taskleak {
namespace internal {
namespace {

// DIEs whose children may include subprograms or inlined subroutines with
// addresses (dwarf_getscopes descends into the same, and unions).
bool MayHoldFunctions(int tag) {
  switch (tag) {
    case DW_TAG_compile_unit:
    case DW_TAG_partial_unit:
    case DW_TAG_module:
    case DW_TAG_lexical_block:
    case DW_TAG_with_stmt:
    case DW_TAG_catch_block:
    case DW_TAG_try_block:
    case DW_TAG_entry_point:
    case DW_TAG_inlined_subroutine:
    case DW_TAG_subprogram:
    case DW_TAG_namespace:
    case DW_TAG_class_type:
    case DW_TAG_structure_type:
    case DW_TAG_union_type:
      return true;
    default:
      return false;
  }
}

}  // namespace

// One unit's functions and their address ranges.
class ModuleScopes::Unit {
 public:
  Unit(const LibDw& lib, Dwarf_Die* cudie) : lib_(lib) {
    Visit(cudie, 0, -1);
    std::sort(ranges_.begin(), ranges_.end(),
              [](const Range& a, const Range& b) {
                return std::tie(a.lo, a.function) < std::tie(b.lo, b.function);
              });
    reach_.reserve(ranges_.size());
    Dwarf_Addr reach = 0;
    for (const Range& r : ranges_) {
      reach = std::max(reach, r.hi);
      reach_.push_back(reach);
    }
  }

  void Find(Dwarf_Addr addr, Scopes* scopes) const {
    // The innermost function whose ranges hold `addr`: the deepest, and of
    // equals the first in the unit, as dwarf_getscopes would find it.
    int best = -1;
    size_t i = std::upper_bound(
                   ranges_.begin(), ranges_.end(), addr,
                   [](Dwarf_Addr a, const Range& r) { return a < r.lo; }) -
               ranges_.begin();
    // Below i every range starts at or before `addr`; none before the first
    // whose reach is past `addr` can hold it.
    while (i > 0 && reach_[i - 1] > addr) {
      const Range& r = ranges_[--i];
      if (addr >= r.hi) continue;
      if (best < 0 || functions_[r.function].depth > functions_[best].depth ||
          (functions_[r.function].depth == functions_[best].depth &&
           r.function < best)) {
        best = r.function;
      }
    }
    for (int f = best; f >= 0; f = functions_[f].enclosing) {
      scopes->chain.push_back(functions_[f].die);
      if (functions_[f].subprogram) {
        scopes->ends_in_subprogram = true;
        return;
      }
    }
  }

 private:
  struct Function {
    Dwarf_Die die;
    int enclosing;  // The function it is in, or -1.
    int depth;
    bool subprogram;
  };
  struct Range {
    Dwarf_Addr lo;
    Dwarf_Addr hi;
    int function;
  };

  // Indexes the functions below `parent` (at `depth`), which lies in the
  // function `enclosing`.
  void Visit(Dwarf_Die* parent, int depth, int enclosing) {
    Dwarf_Die child;
    if (lib_.dwarf_child(parent, &child) != 0) return;
    do {
      const int tag = lib_.dwarf_tag(&child);
      if (tag == DW_TAG_imported_unit) {
        VisitImported(&child, depth, enclosing);
        continue;
      }
      int inner = enclosing;
      if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
        inner = Add(child, tag == DW_TAG_subprogram, depth + 1, enclosing);
      }
      if (MayHoldFunctions(tag) && lib_.dwarf_haschildren(&child) > 0) {
        Visit(&child, depth + 1, inner);
      }
    } while (lib_.dwarf_siblingof(&child, &child) == 0);
  }

  // A partial unit's DIEs count as if they were where it is imported
  // (dwz-compressed DWARF); each is walked once.
  void VisitImported(Dwarf_Die* import, int depth, int enclosing) {
    Dwarf_Attribute attr;
    Dwarf_Die unit;
    if (lib_.dwarf_attr(import, DW_AT_import, &attr) == nullptr ||
        lib_.dwarf_formref_die(&attr, &unit) == nullptr) {
      return;
    }
    const Dwarf_Off offset = lib_.dwarf_dieoffset(&unit);
    if (std::find(imported_.begin(), imported_.end(), offset) !=
        imported_.end()) {
      return;
    }
    imported_.push_back(offset);
    Visit(&unit, depth, enclosing);
  }

  // Records a function with its ranges; returns its index, or `enclosing`
  // if it has no addresses (a declaration, an abstract instance).
  int Add(Dwarf_Die die, bool subprogram, int depth, int enclosing) {
    const int index = static_cast<int>(functions_.size());
    ptrdiff_t offset = 0;
    Dwarf_Addr base = 0, lo = 0, hi = 0;
    const size_t before = ranges_.size();
    while ((offset = lib_.dwarf_ranges(&die, offset, &base, &lo, &hi)) > 0) {
      if (lo < hi) ranges_.push_back(Range{lo, hi, index});
    }
    if (ranges_.size() == before) return enclosing;
    functions_.push_back(Function{die, enclosing, depth, subprogram});
    return index;
  }

  const LibDw& lib_;
  std::vector<Function> functions_;
  // By start; reach_[i] is the highest end among ranges_[0..i].
  std::vector<Range> ranges_;
  std::vector<Dwarf_Addr> reach_;
  std::vector<Dwarf_Off> imported_;
};

ModuleScopes::ModuleScopes(const LibDw& lib, Dwfl_Module* mod)
    : lib_(lib), mod_(mod) {}

ModuleScopes::~ModuleScopes() = default;

Scopes ModuleScopes::Find(uintptr_t pc) {
  Scopes scopes;
  Dwarf_Addr bias = 0;
  scopes.cudie = lib_.dwfl_module_addrdie(mod_, pc, &bias);
  if (scopes.cudie == nullptr) return scopes;
  std::unique_ptr<Unit>& unit = units_[lib_.dwarf_dieoffset(scopes.cudie)];
  if (unit == nullptr) unit = std::make_unique<Unit>(lib_, scopes.cudie);
  unit->Find(pc - bias, &scopes);
  return scopes;
}

std::string DieName(const LibDw& lib, Dwarf_Die* die) {
  Dwarf_Attribute attr;
  // The linkage name demangles to the qualified name with parameter types;
  // DW_AT_name alone is the bare name.
  const unsigned int kNameAttributes[] = {DW_AT_linkage_name,
                                          DW_AT_MIPS_linkage_name, DW_AT_name};
  for (unsigned int name : kNameAttributes) {
    if (lib.dwarf_attr_integrate(die, name, &attr) != nullptr) {
      if (const char* s = lib.dwarf_formstring(&attr)) return Demangle(s);
    }
  }
  return "";
}

std::string CallSite(const LibDw& lib, Dwarf_Die* die, Dwarf_Die* cudie,
                     int* line) {
  Dwarf_Attribute attr;
  Dwarf_Word value = 0;
  *line = 0;
  if (lib.dwarf_attr(die, DW_AT_call_line, &attr) != nullptr &&
      lib.dwarf_formudata(&attr, &value) == 0) {
    *line = static_cast<int>(value);
  }
  Dwarf_Files* files = nullptr;
  size_t nfiles = 0;
  if (lib.dwarf_attr(die, DW_AT_call_file, &attr) != nullptr &&
      lib.dwarf_formudata(&attr, &value) == 0 &&
      lib.dwarf_getsrcfiles(cudie, &files, &nfiles) == 0 && value < nfiles) {
    return SourcePath(lib.dwarf_filesrc(files, value, nullptr, nullptr));
  }
  return "";
}

}  // namespace internal
}  // namespace taskleak
