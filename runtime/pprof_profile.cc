#include "taskleak/runtime/pprof_profile.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "taskleak/runtime/frame_format.h"
#include "taskleak/runtime/internal/gzip.h"

namespace taskleak {
namespace {

// Field numbers of profile.proto (github.com/google/pprof/proto).
enum ProfileField {
  kSampleType = 1,
  kSample = 2,
  kMapping = 3,
  kLocation = 4,
  kFunction = 5,
  kStringTable = 6,
  kTimeNanos = 9,
  kPeriodType = 11,
  kPeriod = 12,
};

// The protobuf wire format, just what profile.proto needs.
class ProtoWriter {
 public:
  void Varint(int field, uint64_t value) {
    Key(field, 0);
    Raw(value);
  }
  void Bytes(int field, absl::string_view bytes) {
    Key(field, 2);
    Raw(bytes.size());
    out_.append(bytes.data(), bytes.size());
  }
  void Message(int field, const ProtoWriter& message) {
    Bytes(field, message.out_);
  }
  void Packed(int field, const std::vector<uint64_t>& values) {
    ProtoWriter packed;
    for (uint64_t v : values) packed.Raw(v);
    Bytes(field, packed.out_);
  }
  const std::string& str() const { return out_; }

 private:
  void Key(int field, int wire_type) {
    Raw(static_cast<uint64_t>(field) << 3 | wire_type);
  }
  void Raw(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  std::string out_;
};

// Interns strings, functions, mappings and locations, and collects samples.
class ProfileBuilder {
 public:
  ProfileBuilder() { String(""); }  // string_table[0] must be ""

  int64_t String(const std::string& s) {
    auto [it, inserted] = strings_.try_emplace(s, strings_.size());
    if (inserted) string_table_.push_back(s);
    return it->second;
  }

  // The location of one lookup address: `frames` are the frames of that
  // address, innermost (inlined) first.
  uint64_t Location(absl::Span<const SymbolizedFrame> frames) {
    auto [it, inserted] = locations_.try_emplace(frames[0].pc, 0);
    if (!inserted) return it->second;
    it->second = ++location_count_;
    ProtoWriter loc;
    loc.Varint(1, it->second);
    if (!frames[0].module.empty()) loc.Varint(2, Mapping(frames[0].module));
    loc.Varint(3, frames[0].pc);
    for (const SymbolizedFrame& f : frames) {
      ProtoWriter line;
      line.Varint(1, Function(f.function.empty()
                                  ? absl::StrFormat("?? (%s+0x%x)", f.module,
                                                    f.module_offset)
                                  : f.function,
                              f.file));
      line.Varint(2, static_cast<uint64_t>(f.line));
      loc.Message(4, line);
    }
    profile_.Message(kLocation, loc);
    return it->second;
  }

  // A frame that stands for something other than code.
  uint64_t PseudoLocation(const std::string& name) {
    auto [it, inserted] = pseudo_locations_.try_emplace(name, 0);
    if (!inserted) return it->second;
    it->second = ++location_count_;
    ProtoWriter loc;
    loc.Varint(1, it->second);
    ProtoWriter line;
    line.Varint(1, Function(name, ""));
    loc.Message(4, line);
    profile_.Message(kLocation, loc);
    return it->second;
  }

  ProtoWriter& profile() { return profile_; }

  std::string Finish() {
    for (const std::string& s : string_table_) profile_.Bytes(kStringTable, s);
    return profile_.str();
  }

 private:
  uint64_t Function(const std::string& name, const std::string& file) {
    auto [it, inserted] = functions_.try_emplace(std::make_pair(name, file), 0);
    if (!inserted) return it->second;
    it->second = functions_.size();
    ProtoWriter fn;
    fn.Varint(1, it->second);
    fn.Varint(2, String(name));
    fn.Varint(3, String(name));
    fn.Varint(4, String(file));
    profile_.Message(kFunction, fn);
    return it->second;
  }

  uint64_t Mapping(const std::string& module) {
    auto [it, inserted] = mappings_.try_emplace(module, 0);
    if (!inserted) return it->second;
    it->second = mappings_.size();
    ProtoWriter m;
    m.Varint(1, it->second);
    m.Varint(5, String(module));
    // Already symbolized: pprof must not look the addresses up again.
    for (int field : {7, 8, 9, 10}) m.Varint(field, 1);
    profile_.Message(kMapping, m);
    return it->second;
  }

  ProtoWriter profile_;
  std::vector<std::string> string_table_;
  absl::flat_hash_map<std::string, int64_t> strings_;
  uint64_t location_count_ = 0;  // ids start at 1
  absl::flat_hash_map<uintptr_t, uint64_t> locations_;
  absl::flat_hash_map<std::string, uint64_t> pseudo_locations_;
  std::map<std::pair<std::string, std::string>, uint64_t> functions_;
  absl::flat_hash_map<std::string, uint64_t> mappings_;
};

// Threads that become one sample.
struct SampleKey {
  std::vector<uint64_t> locations;
  std::string state;
  std::string created_at;
  std::string created_by;
  bool operator<(const SampleKey& o) const {
    return std::tie(locations, state, created_at, created_by) <
           std::tie(o.locations, o.state, o.created_at, o.created_by);
  }
};

struct SampleValue {
  int64_t count = 0;
  int first_index = 0;
  std::vector<std::string> names;  // distinct, in order of appearance
  absl::flat_hash_set<std::string> seen;
};

// Thread names listed per sample; more become one "... N more" label.
constexpr size_t kMaxNamesPerSample = 32;

}  // namespace

std::string ThreadProfileProto(absl::Span<const ThreadDump> threads,
                               const ThreadProfileOptions& options) {
  ProfileBuilder b;
  ProtoWriter type;
  type.Varint(1, b.String("threads"));
  type.Varint(2, b.String("count"));
  b.profile().Message(kSampleType, type);
  b.profile().Message(kPeriodType, type);
  b.profile().Varint(kPeriod, 1);
  if (options.taken_at != absl::InfinitePast()) {
    b.profile().Varint(
        kTimeNanos, static_cast<uint64_t>(absl::ToUnixNanos(options.taken_at)));
  }

  std::map<SampleKey, SampleValue> samples;
  // Threads that share a symbolized stack (SharedFrames) share its
  // locations and creation site: one walk per distinct stack.
  absl::flat_hash_map<const SymbolizedFrame*, std::vector<uint64_t>>
      locations_of;
  absl::flat_hash_map<const SymbolizedFrame*, std::string> site_of;
  for (int i = 0; i < static_cast<int>(threads.size()); ++i) {
    const ThreadDump& t = threads[i];
    SampleKey key;
    if (t.stack_available) {
      auto [known, inserted] = locations_of.try_emplace(t.stack.data());
      if (inserted) {
        absl::Span<const SymbolizedFrame> rest(t.stack);
        while (!rest.empty()) {
          size_t n = 1;
          while (n < rest.size() && rest[n].pc == rest[0].pc) ++n;
          known->second.push_back(b.Location(rest.subspan(0, n)));
          rest.remove_prefix(n);
        }
      }
      key.locations = known->second;
    } else {
      key.locations.push_back(b.PseudoLocation(absl::StrCat(
          "[stack unavailable: ", t.stack_unavailable_reason, "]")));
    }
    key.state = ThreadStateName(t.info.state);
    if (!t.created_by.empty()) {
      key.created_by = t.created_by[0].name;
      const SharedFrames& creation = t.created_by[0].stack;
      auto [site, inserted] = site_of.try_emplace(creation.data());
      if (inserted) {
        if (const SymbolizedFrame* frame = SiteFrame(creation)) {
          site->second = FormatFrame(*frame);
        }
      }
      key.created_at = site->second;
    }
    auto [it, inserted] = samples.try_emplace(std::move(key));
    SampleValue& v = it->second;
    if (inserted) v.first_index = i;
    ++v.count;
    if (v.seen.insert(t.info.name).second) v.names.push_back(t.info.name);
  }

  // In the order the threads came, as in the text report.
  std::vector<std::pair<const SampleKey*, const SampleValue*>> ordered;
  for (const auto& [key, value] : samples) ordered.emplace_back(&key, &value);
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    return a.second->first_index < b.second->first_index;
  });
  for (const auto& [key, value] : ordered) {
    ProtoWriter sample;
    sample.Packed(1, key->locations);
    sample.Packed(2, {static_cast<uint64_t>(value->count)});
    auto label = [&](const char* name, const std::string& str) {
      if (str.empty()) return;
      ProtoWriter l;
      l.Varint(1, b.String(name));
      l.Varint(2, b.String(str));
      sample.Message(3, l);
    };
    label("state", key->state);
    for (size_t i = 0; i < value->names.size() && i < kMaxNamesPerSample; ++i) {
      label("thread", value->names[i]);
    }
    if (value->names.size() > kMaxNamesPerSample) {
      label("thread",
            absl::StrCat("... ", value->names.size() - kMaxNamesPerSample,
                         " more"));
    }
    label("created_at", key->created_at);
    label("created_by", key->created_by);
    label("test", options.test);
    b.profile().Message(kSample, sample);
  }
  return b.Finish();
}

std::string ThreadProfile(absl::Span<const ThreadDump> threads,
                          const ThreadProfileOptions& options) {
  return internal::GzipStored(ThreadProfileProto(threads, options));
}

}  // namespace taskleak
