#include "taskleak/runtime/dump.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/config.h"
#include "absl/base/optimization.h"
#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/signal_dump.h"
#include "taskleak/runtime/task_registry.h"
#include "taskleak/runtime/thread_list.h"

namespace taskleak {

pid_t DumpTestTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// Where the test's threads wait until released. Parked threads record the
// source line they parked at, so that the dump can be checked against it.
class Parking {
 public:
  // Waits until Release(). `line` is the caller's line of the call.
  ABSL_ATTRIBUTE_NOINLINE void Park(int line) {
    std::unique_lock<std::mutex> lock(mu_);
    lines_[DumpTestTid()] = line;
    arrived_.notify_all();
    released_cv_.wait(lock, [this] { return released_; });
  }

  // Waits (bounded) until `n` threads have parked and each sleeps in the
  // kernel, so that their state reads "sleeping" and their innermost frames
  // are the same futex wait. Returns the parked tids, or fewer on timeout.
  std::vector<pid_t> AwaitParked(size_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    std::vector<pid_t> tids;
    {
      std::unique_lock<std::mutex> lock(mu_);
      arrived_.wait_for(lock, std::chrono::seconds(20),
                        [&] { return lines_.size() >= n; });
      for (const auto& [tid, line] : lines_) tids.push_back(tid);
    }
    // The kernel state cannot be waited on; poll it, bounded.
    for (pid_t tid : tids) {
      while (absl::Now() < deadline) {
        absl::StatusOr<ThreadInfo> info = ReadThreadInfo(tid);
        if (info.ok() && info->state == 'S') break;
        absl::SleepFor(absl::Milliseconds(1));
      }
    }
    return tids;
  }

  int LineOf(pid_t tid) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = lines_.find(tid);
    return it == lines_.end() ? 0 : it->second;
  }

  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    released_cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable arrived_;
  std::condition_variable released_cv_;
  std::map<pid_t, int> lines_;  // Guarded by mu_.
  bool released_ = false;       // Guarded by mu_.
};

// The functions threads park in: never inlined, never tail-calling, so each
// keeps a frame of its own.

ABSL_ATTRIBUTE_NOINLINE void DumpTestParkAlpha(Parking* parking) {
  parking->Park(__LINE__);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
}

ABSL_ATTRIBUTE_NOINLINE void DumpTestParkBeta(Parking* parking) {
  parking->Park(__LINE__);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
}

ABSL_ATTRIBUTE_NOINLINE void DumpTestParkInGroup(Parking* parking) {
  parking->Park(__LINE__);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
}

ABSL_ATTRIBUTE_NOINLINE int DumpTestRecurse(int depth, Parking* parking) {
  if (depth == 0) {
    parking->Park(__LINE__);
    return 0;
  }
  const int result = DumpTestRecurse(depth - 1, parking) + 1;
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return result;
}

ABSL_ATTRIBUTE_NOINLINE void DumpTestParkDeep(Parking* parking) {
  DumpTestRecurse(30, parking);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
}

ABSL_ATTRIBUTE_NOINLINE void DumpTestParkWithSignalsBlocked(Parking* parking) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  parking->Park(__LINE__);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
}

ABSL_ATTRIBUTE_NOINLINE void DumpTestParkForSignal(Parking* parking) {
  parking->Park(__LINE__);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
}

// The function every test thread is created from: "created by" must name it.
ABSL_ATTRIBUTE_NOINLINE std::thread DumpTestSpawn(void (*park)(Parking*),
                                                  Parking* parking,
                                                  const std::string& name) {
  std::thread thread([park, parking, name] {
    pthread_setname_np(pthread_self(), name.c_str());
    park(parking);
  });
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return thread;
}

// A thread that itself creates a parked thread, for two-link chains.
ABSL_ATTRIBUTE_NOINLINE void DumpTestSpawnGrandchild(Parking* parking) {
  std::thread child = DumpTestSpawn(DumpTestParkBeta, parking, "dt-grandchild");
  parking->Park(__LINE__);
  child.join();
}

ABSL_ATTRIBUTE_NOINLINE TaskHandle DumpTestRegisterTimer() {
  TaskOptions options;
  options.capture_stack = true;
  TaskHandle task = RegisterTask("timer", "dump-test-retry", options);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return task;
}

std::string DumpTestHeader() { return "dump-test header line"; }

void DumpTestProgramHandler(int) {}
void DumpTestProgramSigaction(int, siginfo_t*, void*) {}

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// ---------------------------------------------------------------------------
// A strict JSON parser (RFC 8259), to check FormatDumpJson's output.

struct Json {
  enum Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> fields;

  const Json* Get(absl::string_view key) const {
    for (const auto& [k, v] : fields) {
      if (k == key) return &v;
    }
    return nullptr;
  }
};

const char* TypeName(Json::Type type) {
  switch (type) {
    case Json::kNull:
      return "null";
    case Json::kBool:
      return "bool";
    case Json::kNumber:
      return "number";
    case Json::kString:
      return "string";
    case Json::kArray:
      return "array";
    case Json::kObject:
      return "object";
  }
  return "?";
}

class JsonParser {
 public:
  explicit JsonParser(absl::string_view text) : text_(text) {}

  // Parses the whole text as one value. On failure, error() says where.
  bool Parse(Json* out) {
    SkipSpace();
    if (!Value(out, 0)) return false;
    SkipSpace();
    if (pos_ != text_.size()) return Fail("trailing characters");
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  bool Fail(absl::string_view what) {
    if (error_.empty()) error_ = absl::StrCat(what, " at offset ", pos_);
    return false;
  }
  void SkipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
            text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Value(Json* out, int depth) {
    if (depth > 64) return Fail("nesting too deep");
    if (pos_ >= text_.size()) return Fail("unexpected end");
    const char c = text_[pos_];
    if (c == '{') return Object(out, depth);
    if (c == '[') return Array(out, depth);
    if (c == '"') {
      out->type = Json::kString;
      return String(&out->string);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return Number(out);
    if (Literal("true")) {
      out->type = Json::kBool;
      out->boolean = true;
      return true;
    }
    if (Literal("false")) {
      out->type = Json::kBool;
      return true;
    }
    if (Literal("null")) {
      out->type = Json::kNull;
      return true;
    }
    return Fail("unexpected character");
  }
  bool Literal(absl::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool Object(Json* out, int depth) {
    out->type = Json::kObject;
    ++pos_;  // '{'
    SkipSpace();
    if (Consume('}')) return true;
    std::set<std::string> keys;
    for (;;) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') {
        return Fail("expected a key");
      }
      std::string key;
      if (!String(&key)) return false;
      if (!keys.insert(key).second) return Fail("duplicate key " + key);
      SkipSpace();
      if (!Consume(':')) return Fail("expected ':'");
      SkipSpace();
      Json value;
      if (!Value(&value, depth + 1)) return false;
      out->fields.emplace_back(std::move(key), std::move(value));
      SkipSpace();
      if (Consume('}')) return true;
      if (!Consume(',')) return Fail("expected ',' or '}'");
    }
  }
  bool Array(Json* out, int depth) {
    out->type = Json::kArray;
    ++pos_;  // '['
    SkipSpace();
    if (Consume(']')) return true;
    for (;;) {
      SkipSpace();
      Json value;
      if (!Value(&value, depth + 1)) return false;
      out->items.push_back(std::move(value));
      SkipSpace();
      if (Consume(']')) return true;
      if (!Consume(',')) return Fail("expected ',' or ']'");
    }
  }
  static int HexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  bool String(std::string* out) {
    ++pos_;  // '"'
    while (pos_ < text_.size()) {
      const unsigned char c = text_[pos_++];
      if (c == '"') return true;
      if (c < 0x20) return Fail("raw control character in a string");
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        continue;
      }
      if (pos_ >= text_.size()) break;
      const char e = text_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out->push_back(e);
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          int code = 0;
          for (int i = 0; i < 4; ++i) {
            const int d = pos_ < text_.size() ? HexDigit(text_[pos_++]) : -1;
            if (d < 0) return Fail("bad \\u escape");
            code = code * 16 + d;
          }
          // Enough for the checks here: keep ASCII, mark the rest.
          out->push_back(code < 0x80 ? static_cast<char>(code) : '?');
          break;
        }
        default:
          return Fail("bad escape");
      }
    }
    return Fail("unterminated string");
  }
  bool Digits() {
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      ++pos_;
    }
    return pos_ > start;
  }
  bool Number(Json* out) {
    const size_t start = pos_;
    Consume('-');
    if (Consume('0')) {
      if (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        return Fail("leading zero");
      }
    } else if (!Digits()) {
      return Fail("expected digits");
    }
    if (Consume('.') && !Digits()) return Fail("expected fraction digits");
    if (Consume('e') || Consume('E')) {
      if (!Consume('+')) Consume('-');
      if (!Digits()) return Fail("expected exponent digits");
    }
    out->type = Json::kNumber;
    out->number = std::strtod(
        std::string(text_.substr(start, pos_ - start)).c_str(), nullptr);
    return true;
  }

  absl::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

// Checks that `object` is an object with exactly these fields and types.
void ExpectFields(const Json& object,
                  const std::vector<std::pair<std::string, Json::Type>>& want,
                  const std::string& where) {
  ASSERT_EQ(object.type, Json::kObject) << where;
  for (const auto& [key, type] : want) {
    const Json* value = object.Get(key);
    if (value == nullptr) {
      ADD_FAILURE() << where << ": missing field \"" << key << "\"";
      continue;
    }
    EXPECT_EQ(TypeName(value->type), std::string(TypeName(type)))
        << where << ": field \"" << key << "\"";
  }
  EXPECT_EQ(object.fields.size(), want.size())
      << where << ": unexpected extra fields";
}

void ExpectFramesFields(const Json& object, absl::string_view stack_key,
                        const std::string& where) {
  const Json* frames = object.Get(stack_key);
  if (frames == nullptr || frames->type != Json::kArray) return;
  for (size_t i = 0; i < frames->items.size(); ++i) {
    ExpectFields(frames->items[i],
                 {{"pc", Json::kString},
                  {"function", Json::kString},
                  {"file", Json::kString},
                  {"line", Json::kNumber},
                  {"module", Json::kString},
                  {"module_offset", Json::kString},
                  {"inlined", Json::kBool}},
                 absl::StrCat(where, ".", stack_key, "[", i, "]"));
    const Json* pc = frames->items[i].Get("pc");
    if (pc != nullptr) {
      EXPECT_TRUE(absl::StartsWith(pc->string, "0x")) << pc->string;
    }
  }
}

// Checks every field documented at the top of dump.h.
void ExpectDocumentedSchema(const Json& dump) {
  ExpectFields(dump,
               {{"taken_at", Json::kString},
                {"threads", Json::kArray},
                {"tasks", Json::kArray}},
               "dump");
  const Json* threads = dump.Get("threads");
  ASSERT_NE(threads, nullptr);
  for (size_t i = 0; i < threads->items.size(); ++i) {
    const Json& t = threads->items[i];
    const std::string where = absl::StrCat("threads[", i, "]");
    ExpectFields(t,
                 {{"tid", Json::kNumber},
                  {"name", Json::kString},
                  {"state", Json::kString},
                  {"age_s", Json::kNumber},
                  {"cpu_s", Json::kNumber},
                  {"stack_available", Json::kBool},
                  {"stack_unavailable_reason", Json::kString},
                  {"stack", Json::kArray},
                  {"frames_omitted", Json::kNumber},
                  {"created_by", Json::kArray},
                  {"group_size", Json::kNumber},
                  {"group", Json::kArray}},
                 where);
    ExpectFramesFields(t, "stack", where);
    if (const Json* creators = t.Get("created_by")) {
      for (size_t c = 0; c < creators->items.size(); ++c) {
        const std::string cwhere = absl::StrCat(where, ".created_by[", c, "]");
        ExpectFields(creators->items[c],
                     {{"tid", Json::kNumber},
                      {"name", Json::kString},
                      {"created_at", Json::kString},
                      {"in_static_initializer", Json::kBool},
                      {"stack", Json::kArray},
                      {"frames_omitted", Json::kNumber}},
                     cwhere);
        ExpectFramesFields(creators->items[c], "stack", cwhere);
      }
    }
    if (const Json* group = t.Get("group")) {
      for (size_t g = 0; g < group->items.size(); ++g) {
        ExpectFields(group->items[g],
                     {{"tid", Json::kNumber}, {"name", Json::kString}},
                     absl::StrCat(where, ".group[", g, "]"));
      }
    }
  }
  const Json* tasks = dump.Get("tasks");
  ASSERT_NE(tasks, nullptr);
  for (size_t i = 0; i < tasks->items.size(); ++i) {
    const std::string where = absl::StrCat("tasks[", i, "]");
    ExpectFields(tasks->items[i],
                 {{"id", Json::kNumber},
                  {"kind", Json::kString},
                  {"name", Json::kString},
                  {"age_s", Json::kNumber},
                  {"creator_tid", Json::kNumber},
                  {"creation_stack", Json::kArray},
                  {"frames_omitted", Json::kNumber}},
                 where);
    ExpectFramesFields(tasks->items[i], "creation_stack", where);
  }
}

Json ParseOrFail(const std::string& text) {
  Json json;
  JsonParser parser(text);
  EXPECT_TRUE(parser.Parse(&json)) << parser.error() << " in:\n"
                                   << text.substr(0, 2000);
  return json;
}

// The JSON thread entry (a group leader) whose group lists `tid`.
const Json* JsonThreadWith(const Json& dump, pid_t tid) {
  const Json* threads = dump.Get("threads");
  if (threads == nullptr) return nullptr;
  for (const Json& t : threads->items) {
    const Json* group = t.Get("group");
    if (group == nullptr) continue;
    for (const Json& member : group->items) {
      const Json* member_tid = member.Get("tid");
      if (member_tid != nullptr && member_tid->number == tid) return &t;
    }
  }
  return nullptr;
}

bool JsonStackHas(const Json& object, absl::string_view stack_key,
                  absl::string_view function) {
  const Json* frames = object.Get(stack_key);
  if (frames == nullptr) return false;
  const std::string prefix = absl::StrCat("taskleak::", function, "(");
  for (const Json& f : frames->items) {
    const Json* name = f.Get("function");
    if (name != nullptr && absl::StartsWith(name->string, prefix)) {
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------

const ThreadDump* FindThread(const ProcessDump& dump, pid_t tid) {
  for (const ThreadDump& t : dump.threads) {
    if (t.info.id.tid == tid) return &t;
  }
  return nullptr;
}

// The frame of the function taskleak::`function` (not one that merely
// mentions it, such as a template instantiated with a lambda defined in it).
const SymbolizedFrame* FindFrame(const std::vector<SymbolizedFrame>& frames,
                                 absl::string_view function) {
  const std::string prefix = absl::StrCat("taskleak::", function, "(");
  for (const SymbolizedFrame& f : frames) {
    if (absl::StartsWith(f.function, prefix)) return &f;
  }
  return nullptr;
}

// The text block (up to the blank line) that starts with `first_line_part`.
std::string TextBlock(const std::string& text,
                      absl::string_view first_line_part) {
  const size_t at = text.find(std::string(first_line_part));
  if (at == std::string::npos) return "";
  const size_t line_start = text.rfind('\n', at);
  const size_t begin = line_start == std::string::npos ? 0 : line_start + 1;
  const size_t end = text.find("\n\n", at);
  return text.substr(
      begin, end == std::string::npos ? std::string::npos : end - begin + 1);
}

std::string Label(pid_t tid, absl::string_view name) {
  return absl::StrCat(tid, " \"", name, "\"");
}

#ifdef ABSL_HAVE_THREAD_SANITIZER
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif

constexpr char kTsanSkip[] =
    "ThreadSanitizer delivers signals only at its safe points, which a "
    "thread parked on a condition variable may not reach by the deadline";

// Under ThreadSanitizer only: whether one of `tids` did not answer the
// capture (elsewhere, the test's own checks fail on a missing stack).
bool SanitizerHeldTheSignal(const ProcessDump& dump,
                            const std::vector<pid_t>& tids) {
  if (!kThreadSanitizer) return false;
  for (const ThreadDump& t : dump.threads) {
    if (std::find(tids.begin(), tids.end(), t.info.id.tid) != tids.end() &&
        !t.stack_available) {
      return true;
    }
  }
  return false;
}

// Threads started through DumpTestSpawn, released and joined on scope exit.
class ParkedThreads {
 public:
  ~ParkedThreads() {
    parking_.Release();
    for (std::thread& t : threads_) t.join();
  }
  void Start(void (*park)(Parking*), const std::string& name) {
    threads_.push_back(DumpTestSpawn(park, &parking_, name));
  }
  std::vector<pid_t> AwaitParked() {
    return parking_.AwaitParked(threads_.size());
  }
  Parking& parking() { return parking_; }

 private:
  Parking parking_;
  std::vector<std::thread> threads_;
};

// The tid of the parked thread named `name`, from the thread list.
pid_t TidNamed(const std::vector<pid_t>& tids, absl::string_view name) {
  for (pid_t tid : tids) {
    absl::StatusOr<ThreadInfo> info = ReadThreadInfo(tid);
    if (info.ok() && info->name == name) return tid;
  }
  return 0;
}

TEST(DumpTest, ShowsEachParkedThreadWithNameStateFunctionAndLine) {
  ParkedThreads threads;
  threads.Start(DumpTestParkAlpha, "dt-alpha");
  threads.Start(DumpTestParkBeta, "dt-beta");
  const std::vector<pid_t> tids = threads.AwaitParked();
  ASSERT_EQ(tids.size(), 2u);
  const pid_t alpha = TidNamed(tids, "dt-alpha");
  const pid_t beta = TidNamed(tids, "dt-beta");
  ASSERT_NE(alpha, 0);
  ASSERT_NE(beta, 0);

  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  if (SanitizerHeldTheSignal(*dump, tids)) GTEST_SKIP() << kTsanSkip;
  const std::string text = FormatDumpText(*dump);

  for (const auto& [tid, name, function] :
       {std::make_tuple(alpha, "dt-alpha", "DumpTestParkAlpha"),
        std::make_tuple(beta, "dt-beta", "DumpTestParkBeta")}) {
    SCOPED_TRACE(name);
    const ThreadDump* t = FindThread(*dump, tid);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->info.name, name);
    EXPECT_EQ(t->info.state, 'S');
    ASSERT_TRUE(t->stack_available) << t->stack_unavailable_reason;
    const SymbolizedFrame* frame = FindFrame(t->stack, function);
    ASSERT_NE(frame, nullptr) << text;
    EXPECT_TRUE(absl::EndsWith(frame->file, "dump_test.cc")) << frame->file;
    EXPECT_EQ(frame->line, threads.parking().LineOf(tid));

    const std::string block =
        TextBlock(text, absl::StrCat("thread ", Label(tid, name)));
    ASSERT_FALSE(block.empty()) << text;
    EXPECT_THAT(block, HasSubstr("(sleeping, age "));
    EXPECT_THAT(block,
                HasSubstr(absl::StrCat(function, "(taskleak::Parking*) at ")));
    EXPECT_THAT(block, HasSubstr(absl::StrCat("dump_test.cc:",
                                              threads.parking().LineOf(tid))));
  }
  // The two threads park in different places: two separate entries.
  EXPECT_THAT(text, Not(HasSubstr("threads like this")));
}

TEST(DumpTest, CreatedByNamesTheCreatingFunctionAndThread) {
  ParkedThreads threads;
  threads.Start(DumpTestParkAlpha, "dt-created");
  const std::vector<pid_t> tids = threads.AwaitParked();
  ASSERT_EQ(tids.size(), 1u);

  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  const ThreadDump* t = FindThread(*dump, tids[0]);
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->created_by.size(), 1u)
      << "the test's main thread has no recorded origin";
  EXPECT_EQ(t->created_by[0].tid, DumpTestTid());
  const SymbolizedFrame* spawn =
      FindFrame(t->created_by[0].stack, "DumpTestSpawn");
  ASSERT_NE(spawn, nullptr);
  EXPECT_TRUE(absl::EndsWith(spawn->file, "dump_test.cc")) << spawn->file;
  EXPECT_GT(spawn->line, 0);

  const std::string text = FormatDumpText(*dump);
  const std::string block =
      TextBlock(text, absl::StrCat("thread ", Label(tids[0], "dt-created")));
  ASSERT_FALSE(block.empty()) << text;
  EXPECT_THAT(block,
              HasSubstr(absl::StrCat("  created by thread ", DumpTestTid())));
  const size_t created_at = block.find("created by thread");
  ASSERT_NE(created_at, std::string::npos);
  EXPECT_THAT(block.substr(created_at), HasSubstr("DumpTestSpawn("));
  EXPECT_THAT(block.substr(created_at),
              HasSubstr(absl::StrCat("dump_test.cc:", spawn->line)));
}

TEST(DumpTest, CreatedByChainHasTwoLinksForAThreadCreatedByAThread) {
  ParkedThreads threads;
  threads.Start(DumpTestSpawnGrandchild, "dt-parent");
  // The parent and the grandchild both park.
  const std::vector<pid_t> tids = threads.parking().AwaitParked(2);
  ASSERT_EQ(tids.size(), 2u);
  const pid_t parent = TidNamed(tids, "dt-parent");
  const pid_t grandchild = TidNamed(tids, "dt-grandchild");
  ASSERT_NE(parent, 0);
  ASSERT_NE(grandchild, 0);

  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  const ThreadDump* t = FindThread(*dump, grandchild);
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->created_by.size(), 2u);
  EXPECT_EQ(t->created_by[0].tid, parent);
  EXPECT_EQ(t->created_by[0].name, "dt-parent");
  EXPECT_NE(FindFrame(t->created_by[0].stack, "DumpTestSpawnGrandchild"),
            nullptr);
  EXPECT_EQ(t->created_by[1].tid, DumpTestTid());

  const std::string block =
      TextBlock(FormatDumpText(*dump),
                absl::StrCat("thread ", Label(grandchild, "dt-grandchild")));
  EXPECT_THAT(block, HasSubstr(absl::StrCat("  created by thread ", parent,
                                            " \"dt-parent\"")));
  EXPECT_THAT(block, HasSubstr(absl::StrCat("  which was created by thread ",
                                            DumpTestTid())));
}

TEST(DumpTest, ThreadsParkedAtTheSamePlaceAreGrouped) {
  constexpr int kGroup = 5;
  ParkedThreads threads;
  for (int i = 0; i < kGroup; ++i) {
    threads.Start(DumpTestParkInGroup, absl::StrCat("dt-group-", i));
  }
  threads.Start(DumpTestParkAlpha, "dt-loner");
  const std::vector<pid_t> tids = threads.AwaitParked();
  ASSERT_EQ(tids.size(), kGroup + 1u);
  const pid_t loner = TidNamed(tids, "dt-loner");
  ASSERT_NE(loner, 0);

  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  if (SanitizerHeldTheSignal(*dump, tids)) GTEST_SKIP() << kTsanSkip;
  const std::string text = FormatDumpText(*dump);

  // Text: one entry for the five, listing each of them, the stack once.
  const std::string group_block =
      TextBlock(text, absl::StrCat(kGroup, " threads like this: "));
  ASSERT_FALSE(group_block.empty()) << text;
  for (pid_t tid : tids) {
    if (tid == loner) continue;
    absl::StatusOr<ThreadInfo> info = ReadThreadInfo(tid);
    ASSERT_TRUE(info.ok());
    EXPECT_THAT(group_block, HasSubstr(Label(tid, info->name)));
    EXPECT_THAT(text, Not(HasSubstr(absl::StrCat("thread ", tid, " "))));
  }
  size_t mentions = 0;
  for (size_t at = text.find("DumpTestParkInGroup("); at != std::string::npos;
       at = text.find("DumpTestParkInGroup(", at + 1)) {
    ++mentions;
  }
  EXPECT_EQ(mentions, 1u) << text;
  // The thread parked elsewhere stays on its own.
  EXPECT_THAT(text,
              HasSubstr(absl::StrCat("thread ", Label(loner, "dt-loner"))));
  EXPECT_THAT(group_block, Not(HasSubstr("dt-loner")));

  // JSON: the group appears once, with group_size and every member.
  const Json json = ParseOrFail(FormatDumpJson(*dump));
  int entries = 0;
  for (const Json& t : json.Get("threads")->items) {
    if (!JsonStackHas(t, "stack", "DumpTestParkInGroup")) continue;
    ++entries;
    EXPECT_EQ(t.Get("group_size")->number, kGroup);
    std::set<pid_t> members;
    for (const Json& m : t.Get("group")->items) {
      members.insert(static_cast<pid_t>(m.Get("tid")->number));
    }
    std::set<pid_t> want(tids.begin(), tids.end());
    want.erase(loner);
    EXPECT_EQ(members, want);
  }
  EXPECT_EQ(entries, 1);
  const Json* loner_entry = JsonThreadWith(json, loner);
  ASSERT_NE(loner_entry, nullptr);
  EXPECT_EQ(loner_entry->Get("group_size")->number, 1);
}

TEST(DumpTest, AlikeThreadsFromDifferentCreatorsAreGroupedAndSaySo) {
  ParkedThreads threads;
  // Two parents, started at the same place, each start a grandchild at the
  // same place: two groups of two.
  for (int i = 0; i < 2; ++i) {
    threads.Start(DumpTestSpawnGrandchild, "dt-parent");
  }
  const std::vector<pid_t> tids = threads.parking().AwaitParked(4);
  ASSERT_EQ(tids.size(), 4u);

  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  if (SanitizerHeldTheSignal(*dump, tids)) GTEST_SKIP() << kTsanSkip;
  const std::string text = FormatDumpText(*dump);
  std::vector<pid_t> parents;
  for (pid_t tid : tids) {
    const ThreadDump* t = FindThread(*dump, tid);
    ASSERT_NE(t, nullptr);
    if (t->info.name == "dt-parent") parents.push_back(tid);
  }
  ASSERT_EQ(parents.size(), 2u);

  // The parents share their creator; the grandchildren do not.
  const std::string parents_block = TextBlock(
      text,
      absl::StrCat("2 threads like this: ", Label(parents[0], "dt-parent"),
                   ", ", Label(parents[1], "dt-parent")));
  ASSERT_FALSE(parents_block.empty()) << text;
  EXPECT_THAT(parents_block, HasSubstr(absl::StrCat("  created by thread ",
                                                    DumpTestTid(), " \"")));
  EXPECT_THAT(parents_block, Not(HasSubstr("other thread")));
  const std::string children_block = TextBlock(text, "\"dt-grandchild\", ");
  ASSERT_FALSE(children_block.empty()) << text;
  EXPECT_THAT(children_block, HasSubstr("2 threads like this: "));
  EXPECT_THAT(children_block,
              HasSubstr("\"dt-parent\" (and 1 other thread), "));
}

TEST(DumpTest, MaxFramesCapsEveryStackAndCountsTheRest) {
  ParkedThreads threads;
  threads.Start(DumpTestParkDeep, "dt-deep");
  const std::vector<pid_t> tids = threads.AwaitParked();
  ASSERT_EQ(tids.size(), 1u);

  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  if (SanitizerHeldTheSignal(*dump, tids)) GTEST_SKIP() << kTsanSkip;
  const ThreadDump* t = FindThread(*dump, tids[0]);
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->stack_available);
  const int total = static_cast<int>(t->stack.size());
  ASSERT_GT(total, 30);

  DumpOptions options;
  options.max_frames = 5;
  const std::string block =
      TextBlock(FormatDumpText(*dump, options),
                absl::StrCat("thread ", Label(tids[0], "dt-deep")));
  const size_t created = block.find("  created by");
  ASSERT_NE(created, std::string::npos) << block;
  const std::string stack_part = block.substr(0, created);
  // The header, at most 5 frame lines (runs of library frames may fold into
  // one), then the note, last.
  const int lines = std::count(stack_part.begin(), stack_part.end(), '\n');
  EXPECT_GE(lines, 1 + 1 + 1) << stack_part;
  EXPECT_LE(lines, 1 + 5 + 1) << stack_part;
  EXPECT_TRUE(absl::EndsWith(
      stack_part, absl::StrCat("    ... ", total - 5, " more frames\n")))
      << stack_part;

  const Json json = ParseOrFail(FormatDumpJson(*dump, options));
  const Json* entry = JsonThreadWith(json, tids[0]);
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->Get("stack")->items.size(), 5u);
  EXPECT_EQ(entry->Get("frames_omitted")->number, total - 5);

  // Twin: the default limit shows the whole stack and omits nothing.
  const Json full = ParseOrFail(FormatDumpJson(*dump));
  const Json* full_entry = JsonThreadWith(full, tids[0]);
  ASSERT_NE(full_entry, nullptr);
  const int shown = std::min(total, DumpOptions().max_frames);
  EXPECT_EQ(full_entry->Get("stack")->items.size(), static_cast<size_t>(shown));
  EXPECT_EQ(full_entry->Get("frames_omitted")->number, total - shown);
}

TEST(DumpTest, RegisteredTaskAppearsWithKindNameAndCreationFunction) {
  TaskHandle task = DumpTestRegisterTimer();
  ASSERT_TRUE(task.active());

  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  const TaskDump* found = nullptr;
  for (const TaskDump& t : dump->tasks) {
    if (t.info.id == task.id()) found = &t;
  }
  ASSERT_NE(found, nullptr);
  EXPECT_NE(FindFrame(found->creation_stack, "DumpTestRegisterTimer"), nullptr);

  const std::string block = TextBlock(
      FormatDumpText(*dump),
      absl::StrCat("task #", task.id(), " timer \"dump-test-retry\""));
  ASSERT_FALSE(block.empty()) << FormatDumpText(*dump);
  EXPECT_THAT(block, HasSubstr(absl::StrCat("created by thread ", DumpTestTid(),
                                            " at:")));
  EXPECT_THAT(block, HasSubstr("DumpTestRegisterTimer() at "));
  EXPECT_THAT(block, HasSubstr("dump_test.cc:"));

  const Json json = ParseOrFail(FormatDumpJson(*dump));
  const Json* entry = nullptr;
  for (const Json& t : json.Get("tasks")->items) {
    if (t.Get("id")->number == static_cast<double>(task.id())) entry = &t;
  }
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->Get("kind")->string, "timer");
  EXPECT_EQ(entry->Get("name")->string, "dump-test-retry");
  EXPECT_EQ(entry->Get("creator_tid")->number, DumpTestTid());
  EXPECT_TRUE(JsonStackHas(*entry, "creation_stack", "DumpTestRegisterTimer"));

  // Twin: once the task ends, neither form mentions it.
  task.Reset();
  absl::StatusOr<ProcessDump> after = DumpProcess();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_THAT(FormatDumpText(*after), Not(HasSubstr("dump-test-retry")));
  EXPECT_THAT(FormatDumpJson(*after), Not(HasSubstr("dump-test-retry")));
}

TEST(DumpTest, IncludeTasksFalseLeavesTasksOut) {
  TaskHandle task = DumpTestRegisterTimer();
  DumpOptions options;
  options.include_tasks = false;
  absl::StatusOr<ProcessDump> dump = DumpProcess(options);
  ASSERT_TRUE(dump.ok()) << dump.status();
  EXPECT_TRUE(dump->tasks.empty());
}

TEST(DumpTest, ThreadWithoutAStackShowsWhyAndIsNotGrouped) {
  ParkedThreads threads;
  threads.Start(DumpTestParkWithSignalsBlocked, "dt-masked-1");
  threads.Start(DumpTestParkWithSignalsBlocked, "dt-masked-2");
  const std::vector<pid_t> tids = threads.AwaitParked();
  ASSERT_EQ(tids.size(), 2u);

  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  const std::string text = FormatDumpText(*dump);
  for (pid_t tid : tids) {
    const ThreadDump* t = FindThread(*dump, tid);
    ASSERT_NE(t, nullptr);
    EXPECT_FALSE(t->stack_available);
    EXPECT_THAT(t->stack_unavailable_reason, HasSubstr("blocked"));
    const std::string block =
        TextBlock(text, absl::StrCat("thread ", Label(tid, t->info.name)));
    ASSERT_FALSE(block.empty()) << text;
    EXPECT_THAT(block, HasSubstr("    stack unavailable: "));
  }
  const Json json = ParseOrFail(FormatDumpJson(*dump));
  for (pid_t tid : tids) {
    const Json* entry = JsonThreadWith(json, tid);
    ASSERT_NE(entry, nullptr);
    EXPECT_FALSE(entry->Get("stack_available")->boolean);
    EXPECT_THAT(entry->Get("stack_unavailable_reason")->string,
                HasSubstr("blocked"));
    EXPECT_EQ(entry->Get("group_size")->number, 1);
  }
}

TEST(DumpTest, JsonIsValidAndHasEveryDocumentedField) {
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
  Json json;
  JsonParser parser(text);
  ASSERT_TRUE(parser.Parse(&json)) << parser.error() << "\n" << text;
  ExpectDocumentedSchema(json);

  // Names with quotes and backslashes come back intact (comm keeps 15
  // bytes).
  bool found_quoted = false;
  for (const Json& t : json.Get("threads")->items) {
    if (t.Get("name")->string == "dt-json \"q\"\\") found_quoted = true;
  }
  EXPECT_TRUE(found_quoted);
  // Every thread of the dump is listed exactly once across the groups.
  std::multiset<pid_t> listed;
  for (const Json& t : json.Get("threads")->items) {
    for (const Json& m : t.Get("group")->items) {
      listed.insert(static_cast<pid_t>(m.Get("tid")->number));
    }
  }
  std::multiset<pid_t> want;
  for (const ThreadDump& t : dump->threads) want.insert(t.info.id.tid);
  EXPECT_EQ(listed, want);
  EXPECT_EQ(json.Get("tasks")->items.size(), dump->tasks.size());
  EXPECT_FALSE(json.Get("taken_at")->string.empty());
}

// The validator itself: it must reject what is not JSON.
TEST(DumpTest, JsonValidatorRejectsMalformedText) {
  for (const char* bad : {"", "{", "{\"a\":1,}", "[1 2]", "{\"a\":01}",
                          "\"\x01\"", "{\"a\":1}}", "nan", "{\"a\":1,\"a\":2}",
                          "[1,]", "{a:1}", "\"\\x\"", "-", "1.", "[\"abc]"}) {
    Json json;
    EXPECT_FALSE(JsonParser(bad).Parse(&json)) << "accepted: " << bad;
  }
  Json json;
  EXPECT_TRUE(JsonParser(" {\"a\": [1, -2.5e3, true, false, null, "
                         "\"\\u0041\\n\"], \"b\": {}} ")
                  .Parse(&json));
  EXPECT_EQ(json.Get("a")->items[5].string, "A\n");
}

// Reads a whole file; empty if it cannot be read.
std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Waits (bounded) until `path` contains `needle`.
bool AwaitFileContains(const std::string& path, absl::string_view needle,
                       int times = 1) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    const std::string text = ReadFile(path);
    int seen = 0;
    for (size_t at = text.find(std::string(needle)); at != std::string::npos;
         at = text.find(std::string(needle), at + 1)) {
      ++seen;
    }
    if (seen >= times) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

int CountThreadsNamed(absl::string_view name) {
  absl::StatusOr<std::vector<ThreadInfo>> threads = ListThreads();
  int n = 0;
  if (threads.ok()) {
    for (const ThreadInfo& t : *threads) n += t.name == name;
  }
  return n;
}

TEST(DumpOnSignalTest, SigquitWritesTheDumpToTheFileAndStderrAndKeepsRunning) {
  ParkedThreads threads;
  threads.Start(DumpTestParkForSignal, "dt-on-signal");
  ASSERT_EQ(threads.AwaitParked().size(), 1u);

  const std::string dir = ::testing::TempDir();
  const std::string file =
      absl::StrCat(dir, "/dump_on_signal.", getpid(), ".txt");
  const std::string err =
      absl::StrCat(dir, "/dump_on_signal_stderr.", getpid(), ".txt");
  unlink(file.c_str());
  unlink(err.c_str());

  DumpOnSignalOptions options;
  options.file = file;
  options.header = DumpTestHeader;
  // Installs once per process (--gtest_repeat runs this test again with the
  // same file name, which contains the pid).
  static bool installed = false;
  if (!installed) {
    const absl::Status status = InstallDumpOnSignal(SIGQUIT, options);
    ASSERT_TRUE(status.ok()) << status;
    installed = true;
  }
  // Installing twice on one signal is refused.
  EXPECT_EQ(InstallDumpOnSignal(SIGQUIT, options).code(),
            absl::StatusCode::kAlreadyExists);

  // Catch what the dump writes to stderr.
  fflush(stderr);
  const int saved_stderr = dup(STDERR_FILENO);
  ASSERT_GE(saved_stderr, 0);
  const int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(err_fd, 0) << strerror(errno);
  dup2(err_fd, STDERR_FILENO);
  close(err_fd);
  absl::Cleanup restore_stderr = [saved_stderr] {
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
  };

  ASSERT_EQ(raise(SIGQUIT), 0);
  const bool in_file = AwaitFileContains(file, "\"dt-on-signal\"");
  // The dump goes to stderr first, then to the file.
  const bool in_stderr = AwaitFileContains(err, "\"dt-on-signal\"");
  // A second signal appends a second dump: the process is still serving.
  ASSERT_EQ(raise(SIGQUIT), 0);
  const bool second = AwaitFileContains(file, "taskleak dump of pid", 2);

  std::move(restore_stderr).Invoke();

  EXPECT_TRUE(in_file) << ReadFile(file);
  EXPECT_TRUE(in_stderr) << ReadFile(err);
  EXPECT_TRUE(second) << ReadFile(file);
  const std::string dumped = ReadFile(file);
  EXPECT_TRUE(absl::StartsWith(dumped, "dump-test header line\n")) << dumped;
  EXPECT_THAT(dumped,
              HasSubstr(absl::StrCat("taskleak dump of pid ", getpid())));
  if (!kThreadSanitizer) {
    EXPECT_THAT(dumped, HasSubstr("DumpTestParkForSignal("));
    EXPECT_THAT(dumped, HasSubstr("dump_test.cc:"));
  }
  EXPECT_EQ(CountThreadsNamed("taskleak-dump"), 1);
}

TEST(DumpOnSignalTest, SignalWithAProgramHandlerIsRefusedAndKeepsIt) {
  const int before = CountThreadsNamed("taskleak-dump");
  struct sigaction mine = {};
  mine.sa_handler = DumpTestProgramHandler;
  sigemptyset(&mine.sa_mask);
  struct sigaction old;
  ASSERT_EQ(sigaction(SIGUSR1, &mine, &old), 0);
  const absl::Status status = InstallDumpOnSignal(SIGUSR1);
  struct sigaction now;
  sigaction(SIGUSR1, nullptr, &now);
  sigaction(SIGUSR1, &old, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("already has a handler"));
  EXPECT_EQ(now.sa_handler, DumpTestProgramHandler);

  struct sigaction mine_info = {};
  mine_info.sa_sigaction = DumpTestProgramSigaction;
  mine_info.sa_flags = SA_SIGINFO;
  sigemptyset(&mine_info.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR2, &mine_info, &old), 0);
  const absl::Status info_status = InstallDumpOnSignal(SIGUSR2);
  sigaction(SIGUSR2, nullptr, &now);
  sigaction(SIGUSR2, &old, nullptr);
  EXPECT_EQ(info_status.code(), absl::StatusCode::kFailedPrecondition)
      << info_status;
  EXPECT_EQ(now.sa_sigaction, DumpTestProgramSigaction);
  EXPECT_NE(now.sa_flags & SA_SIGINFO, 0);

  // No dump thread was started for either.
  EXPECT_EQ(CountThreadsNamed("taskleak-dump"), before);
}

TEST(DumpOnSignalTest, InvalidSignalsAreRefused) {
  const int before = CountThreadsNamed("taskleak-dump");
  for (int signo : {0, -1, 65, 1000, SIGKILL, SIGSTOP, 32, 33}) {
    const absl::Status status = InstallDumpOnSignal(signo);
    EXPECT_FALSE(status.ok()) << "signal " << signo;
    EXPECT_THAT(std::string(status.message()),
                HasSubstr(absl::StrCat("signal ", signo)));
  }
  EXPECT_EQ(CountThreadsNamed("taskleak-dump"), before);
  // The default action of SIGKILL cannot have been touched; that of a
  // glibc-internal signal is checked by the failure above.
}

// Bazel records a workspace header as "./pkg/header.h", and glibc its own
// sources as "./nptl/..." too: the module tells the user's frame from
// glibc's, and only glibc's is folded.
TEST(DumpTest, RelativeHeaderInTheProgramIsUserCodeButInLibcIsNot) {
  ProcessDump dump;
  ThreadDump thread;
  thread.info.id.tid = 4242;
  thread.info.name = "parked";
  thread.stack_available = true;
  SymbolizedFrame header;
  header.function = "pkg::Parked::Wait()";
  header.file = "./pkg/header.h";
  header.line = 12;
  header.module = "/home/user/bazel-bin/pkg/parked_test";
  SymbolizedFrame libc;
  libc.function = "start_thread_helper";
  libc.file = "./nptl/pthread_create.c";
  libc.line = 442;
  libc.module = "/lib/x86_64-linux-gnu/libc.so.6";
  SymbolizedFrame wait = libc;  // The innermost frames are always shown.
  wait.function = "futex_wait";
  wait.file = "./nptl/futex-internal.c";
  thread.stack = {wait, header, libc, libc};
  dump.threads.push_back(thread);
  const std::string text = FormatDumpText(dump);
  EXPECT_THAT(text, HasSubstr("pkg::Parked::Wait() at ./pkg/header.h:12"));
  EXPECT_THAT(text, HasSubstr("... 2 frames in libraries")) << text;
  EXPECT_THAT(text, Not(HasSubstr("pthread_create.c"))) << text;
}

}  // namespace
}  // namespace taskleak
