// FormatDumpJson: valid JSON (read back strictly) with every field that
// dump.h documents, of the documented type.

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/dump.h"
#include "taskleak/runtime/dump_test_util.h"
#include "taskleak/runtime/task_registry.h"
#include "taskleak/testing/testutil/json_reader.h"

namespace taskleak {
namespace {

using ::taskleak::internal::JsonTypeName;
using ::taskleak::internal::JsonValue;

// Checks that `object` is an object with exactly these fields and types.
void ExpectFields(
    const JsonValue& object,
    const std::vector<std::pair<std::string, JsonValue::Type>>& want,
    const std::string& where) {
  ASSERT_EQ(object.type, JsonValue::kObject) << where;
  for (const auto& [key, type] : want) {
    const JsonValue* value = object.Get(key);
    if (value == nullptr) {
      ADD_FAILURE() << where << ": missing field \"" << key << "\"";
      continue;
    }
    EXPECT_EQ(JsonTypeName(value->type), std::string(JsonTypeName(type)))
        << where << ": field \"" << key << "\"";
  }
  EXPECT_EQ(object.fields.size(), want.size())
      << where << ": unexpected extra fields";
}

void ExpectFramesFields(const JsonValue& object, absl::string_view stack_key,
                        const std::string& where) {
  const JsonValue* frames = object.Get(stack_key);
  if (frames == nullptr || frames->type != JsonValue::kArray) return;
  for (size_t i = 0; i < frames->items.size(); ++i) {
    ExpectFields(frames->items[i],
                 {{"pc", JsonValue::kString},
                  {"function", JsonValue::kString},
                  {"file", JsonValue::kString},
                  {"line", JsonValue::kNumber},
                  {"module", JsonValue::kString},
                  {"module_offset", JsonValue::kString},
                  {"inlined", JsonValue::kBool},
                  {"names_only", JsonValue::kBool}},
                 absl::StrCat(where, ".", stack_key, "[", i, "]"));
    const JsonValue* pc = frames->items[i].Get("pc");
    if (pc != nullptr) {
      EXPECT_TRUE(absl::StartsWith(pc->string, "0x")) << pc->string;
    }
  }
}

// Checks every field documented at the top of dump.h.
void ExpectDocumentedSchema(const JsonValue& dump) {
  ExpectFields(dump,
               {{"taken_at", JsonValue::kString},
                {"threads", JsonValue::kArray},
                {"tasks", JsonValue::kArray}},
               "dump");
  const JsonValue* threads = dump.Get("threads");
  ASSERT_NE(threads, nullptr);
  for (size_t i = 0; i < threads->items.size(); ++i) {
    const JsonValue& t = threads->items[i];
    const std::string where = absl::StrCat("threads[", i, "]");
    ExpectFields(t,
                 {{"tid", JsonValue::kNumber},
                  {"name", JsonValue::kString},
                  {"state", JsonValue::kString},
                  {"age_s", JsonValue::kNumber},
                  {"cpu_s", JsonValue::kNumber},
                  {"stack_available", JsonValue::kBool},
                  {"stack_unavailable_reason", JsonValue::kString},
                  {"stack", JsonValue::kArray},
                  {"frames_omitted", JsonValue::kNumber},
                  {"created_by", JsonValue::kArray},
                  {"group_size", JsonValue::kNumber},
                  {"group", JsonValue::kArray}},
                 where);
    ExpectFramesFields(t, "stack", where);
    if (const JsonValue* creators = t.Get("created_by")) {
      for (size_t c = 0; c < creators->items.size(); ++c) {
        const std::string cwhere = absl::StrCat(where, ".created_by[", c, "]");
        ExpectFields(creators->items[c],
                     {{"tid", JsonValue::kNumber},
                      {"name", JsonValue::kString},
                      {"created_at", JsonValue::kString},
                      {"in_static_initializer", JsonValue::kBool},
                      {"stack", JsonValue::kArray},
                      {"frames_omitted", JsonValue::kNumber}},
                     cwhere);
        ExpectFramesFields(creators->items[c], "stack", cwhere);
      }
    }
    if (const JsonValue* group = t.Get("group")) {
      for (size_t g = 0; g < group->items.size(); ++g) {
        ExpectFields(
            group->items[g],
            {{"tid", JsonValue::kNumber}, {"name", JsonValue::kString}},
            absl::StrCat(where, ".group[", g, "]"));
      }
    }
  }
  const JsonValue* tasks = dump.Get("tasks");
  ASSERT_NE(tasks, nullptr);
  for (size_t i = 0; i < tasks->items.size(); ++i) {
    const std::string where = absl::StrCat("tasks[", i, "]");
    ExpectFields(tasks->items[i],
                 {{"id", JsonValue::kNumber},
                  {"kind", JsonValue::kString},
                  {"name", JsonValue::kString},
                  {"age_s", JsonValue::kNumber},
                  {"creator_tid", JsonValue::kNumber},
                  {"creation_stack", JsonValue::kArray},
                  {"frames_omitted", JsonValue::kNumber}},
                 where);
    ExpectFramesFields(tasks->items[i], "creation_stack", where);
  }
}

TEST(DumpJsonTest, IsValidAndHasEveryDocumentedField) {
  ParkedThreads threads;
  threads.Start(DumpTestParkAlpha, "dt-json \"q\"\\");
  threads.Start(DumpTestParkInGroup, "dt-json-g1");
  threads.Start(DumpTestParkInGroup, "dt-json-g2");
  const std::vector<pid_t> tids = threads.AwaitParked();
  ASSERT_EQ(tids.size(), 3u);
  TaskHandle task = DumpTestRegisterTimer();

  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  const std::string text = FormatDumpJson(*dump);
  absl::StatusOr<JsonValue> parsed = internal::ParseJson(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  const JsonValue& json = *parsed;
  ExpectDocumentedSchema(json);

  // Names with quotes and backslashes come back intact (comm keeps 15
  // bytes).
  bool found_quoted = false;
  for (const JsonValue& t : json.Get("threads")->items) {
    if (t.Get("name")->string == "dt-json \"q\"\\") found_quoted = true;
  }
  EXPECT_TRUE(found_quoted);
  // Every thread of the dump is listed exactly once across the groups.
  std::multiset<pid_t> listed;
  for (const JsonValue& t : json.Get("threads")->items) {
    for (const JsonValue& m : t.Get("group")->items) {
      listed.insert(static_cast<pid_t>(m.Get("tid")->number));
    }
  }
  std::multiset<pid_t> want;
  for (const ThreadDump& t : dump->threads) want.insert(t.info.id.tid);
  EXPECT_EQ(listed, want);
  EXPECT_EQ(json.Get("tasks")->items.size(), dump->tasks.size());
  EXPECT_FALSE(json.Get("taken_at")->string.empty());
}

}  // namespace
}  // namespace taskleak
