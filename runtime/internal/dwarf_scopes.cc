#include "taskleak/runtime/internal/dwarf_scopes.h"

#include <algorithm>
#include <cstddef>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "taskleak/runtime/internal/symbol_names.h"

namespace taskleak {
namespace internal {
namespace {

bool IsClass(int tag) {
  return tag == DW_TAG_class_type || tag == DW_TAG_structure_type ||
         tag == DW_TAG_union_type;
}

}  // namespace

// One unit's functions and their address ranges, indexed lazily:
//  - first the functions outside any function: the unit's own children,
//    where gcc puts every function's concrete DIE except those of local
//    classes (dwarf_getscopes looks no further), and those in namespaces,
//    where clang puts the functions defined there;
//  - the body of a function, for its inlined instances, the first time an
//    address falls in it;
//  - for an address in none of those, the members of the classes local to
//    the unit's functions (a lambda's operator() and static invoker), found
//    once by looking through the functions' bodies, but not into inlined
//    instances, which hold no types.
class ModuleScopes::Unit {
 public:
  Unit(const LibDw& lib, Dwarf_Die* cudie) : lib_(lib) {
    IndexUnit(cudie);
    outer_.Finish();
  }

  void Find(Dwarf_Addr addr, Scopes* scopes) {
    int f = outer_.Innermost(addr, functions_);
    if (f < 0) {
      if (!local_indexed_) {
        local_indexed_ = true;
        for (Dwarf_Die die : bodies_to_search_) {
          IndexBody(&die, 1, -1, /*inlined=*/false, &local_);
        }
        local_.Finish();
      }
      f = local_.Innermost(addr, functions_);
    }
    if (f < 0) return;
    auto [body, inserted] = bodies_.try_emplace(f);
    if (inserted) {
      // Copied: indexing appends to functions_.
      Dwarf_Die die = functions_[f].die;
      IndexBody(&die, functions_[f].depth, f, /*inlined=*/true, &body->second);
      body->second.Finish();
    }
    const int inner = body->second.Innermost(addr, functions_);
    for (f = inner >= 0 ? inner : f; f >= 0; f = functions_[f].enclosing) {
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

  // Address ranges of functions, for finding the innermost holding an
  // address.
  class Ranges {
   public:
    void Add(Dwarf_Addr lo, Dwarf_Addr hi, int function) {
      ranges_.push_back(Range{lo, hi, function});
    }
    void Finish() {
      std::sort(
          ranges_.begin(), ranges_.end(), [](const Range& a, const Range& b) {
            return std::tie(a.lo, a.function) < std::tie(b.lo, b.function);
          });
      reach_.reserve(ranges_.size());
      Dwarf_Addr reach = 0;
      for (const Range& r : ranges_) {
        reach = std::max(reach, r.hi);
        reach_.push_back(reach);
      }
    }
    // The deepest function holding `addr`, and of equals the first in the
    // unit, as dwarf_getscopes would find it; -1 if none does.
    int Innermost(Dwarf_Addr addr,
                  const std::vector<Function>& functions) const {
      int best = -1;
      size_t i = std::upper_bound(
                     ranges_.begin(), ranges_.end(), addr,
                     [](Dwarf_Addr a, const Range& r) { return a < r.lo; }) -
                 ranges_.begin();
      // Below i every range starts at or before `addr`; none before the
      // first whose reach is past `addr` can hold it.
      while (i > 0 && reach_[i - 1] > addr) {
        const Range& r = ranges_[--i];
        if (addr >= r.hi) continue;
        if (best < 0 || functions[r.function].depth > functions[best].depth ||
            (functions[r.function].depth == functions[best].depth &&
             r.function < best)) {
          best = r.function;
        }
      }
      return best;
    }

   private:
    struct Range {
      Dwarf_Addr lo;
      Dwarf_Addr hi;
      int function;
    };
    // By start; reach_[i] is the highest end among ranges_[0..i].
    std::vector<Range> ranges_;
    std::vector<Dwarf_Addr> reach_;
  };

  // The first step of each child of `die`, and the partial units it
  // imports (dwz-compressed DWARF), each once.
  template <typename Visit>
  void ForEachChild(Dwarf_Die* die, Visit visit) {
    Dwarf_Die child;
    if (lib_.dwarf_child(die, &child) != 0) return;
    do {
      Dwarf_Attribute attr;
      Dwarf_Die unit;
      if (lib_.dwarf_tag(&child) != DW_TAG_imported_unit) {
        visit(&child);
      } else if (lib_.dwarf_attr(&child, DW_AT_import, &attr) != nullptr &&
                 lib_.dwarf_formref_die(&attr, &unit) != nullptr &&
                 imported_.insert(unit.addr).second) {
        ForEachChild(&unit, visit);
      }
    } while (lib_.dwarf_siblingof(&child, &child) == 0);
  }

  // The functions below `scope` (the unit or a namespace in it, at
  // `depth`) into outer_, and which of their bodies may hold local classes.
  void IndexUnit(Dwarf_Die* scope, int depth = 0) {
    ForEachChild(scope, [&](Dwarf_Die* child) {
      const int tag = lib_.dwarf_tag(child);
      if (tag == DW_TAG_namespace || tag == DW_TAG_module) {
        if (lib_.dwarf_haschildren(child) > 0) IndexUnit(child, depth + 1);
        return;
      }
      if (tag != DW_TAG_subprogram) return;
      Dwarf_Attribute attr;
      if (lib_.dwarf_attr(child, DW_AT_declaration, &attr) != nullptr) {
        return;  // A declaration: no addresses, no body.
      }
      Add(*child, /*subprogram=*/true, depth + 1, -1, &outer_);
      if (lib_.dwarf_haschildren(child) > 0) {
        bodies_to_search_.push_back(*child);
      }
    });
  }

  // The functions below `parent`, a DIE at `depth` inside function
  // `enclosing`, into `out`: the subprograms of local classes, and with
  // `inlined` the inlined instances and all below them too. Without it the
  // walk stays out of inlined instances, which hold no types.
  void IndexBody(Dwarf_Die* parent, int depth, int enclosing, bool inlined,
                 Ranges* out) {
    ForEachChild(parent, [&](Dwarf_Die* child) {
      const int tag = lib_.dwarf_tag(child);
      int inner = enclosing;
      if (tag == DW_TAG_subprogram ||
          (inlined && tag == DW_TAG_inlined_subroutine)) {
        inner =
            Add(*child, tag == DW_TAG_subprogram, depth + 1, enclosing, out);
      } else if (tag != DW_TAG_lexical_block && tag != DW_TAG_try_block &&
                 tag != DW_TAG_catch_block && !IsClass(tag)) {
        return;
      }
      if (lib_.dwarf_haschildren(child) > 0) {
        IndexBody(child, depth + 1, inner, inlined, out);
      }
    });
  }

  // Records a function with its ranges into `out`; returns its index, or
  // `enclosing` if it has no addresses (a declaration, an abstract
  // instance).
  int Add(Dwarf_Die die, bool subprogram, int depth, int enclosing,
          Ranges* out) {
    const int index = static_cast<int>(functions_.size());
    ptrdiff_t offset = 0;
    Dwarf_Addr base = 0, lo = 0, hi = 0;
    bool any = false;
    while ((offset = lib_.dwarf_ranges(&die, offset, &base, &lo, &hi)) > 0) {
      if (lo < hi) {
        out->Add(lo, hi, index);
        any = true;
      }
    }
    if (!any) return enclosing;
    functions_.push_back(Function{die, enclosing, depth, subprogram});
    return index;
  }

  const LibDw& lib_;
  std::vector<Function> functions_;
  Ranges outer_;
  // The bodies indexed so far, by their function.
  absl::flat_hash_map<int, Ranges> bodies_;
  std::vector<Dwarf_Die> bodies_to_search_;
  Ranges local_;
  bool local_indexed_ = false;
  // By where their DIEs lie: offsets repeat between a file and its dwz
  // alternate.
  absl::flat_hash_set<const void*> imported_;
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
