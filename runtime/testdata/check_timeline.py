"""Validates a Chrome trace-event JSON file and prints its slices.

Usage: check_timeline.py TIMELINE.json
Checks what Perfetto and chrome://tracing need: a traceEvents array; every
event has ph, pid, tid; "X" events have ts and dur >= 0; "M" events name a
process or thread; async "b"/"e" events pair up by (cat, id). Prints, one
per line:
  test NAME TS DUR still_running=...
  thread NAME TID TS DUR created_in_test=... still_running=...
  task BEGIN END created_in_test=... still_live=... NAME
(NAME last for tasks: "kind name" has a space).
Exits 1 with the reason on the first violation.
"""
import json
import sys


def fail(why):
    print("invalid timeline: " + why)
    sys.exit(1)


def main():
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    events = doc.get("traceEvents")
    if not isinstance(events, list):
        fail("no traceEvents array")
    open_async = {}
    for e in events:
        for key in ("ph", "pid", "tid"):
            if key not in e:
                fail("event without %s: %r" % (key, e))
        ph = e["ph"]
        if ph == "M":
            if e.get("name") not in ("process_name", "thread_name"):
                fail("unknown metadata %r" % e)
            if not isinstance(e.get("args", {}).get("name"), str):
                fail("metadata without a name: %r" % e)
        elif ph == "X":
            if not isinstance(e.get("ts"), int) or not isinstance(e.get("dur"), int):
                fail("complete event without integer ts/dur: %r" % e)
            if e["dur"] < 0:
                fail("negative duration: %r" % e)
            if e.get("cat") == "test":
                print("test %s %d %d still_running=%s"
                      % (e["name"], e["ts"], e["dur"],
                         e.get("args", {}).get("still running")))
            elif e.get("cat") == "thread":
                a = e.get("args", {})
                print("thread %s %d %d %d created_in_test=%s still_running=%s"
                      % (e["name"], e["tid"], e["ts"], e["dur"],
                         a.get("created in test"), a.get("still running")))
        elif ph in ("b", "e"):
            key = (e.get("cat"), e.get("id"))
            if ph == "b":
                open_async[key] = e
            else:
                b = open_async.pop(key, None)
                if b is None:
                    fail("async end without begin: %r" % e)
                if e["ts"] < b["ts"]:
                    fail("async slice ends before it begins: %r" % e)
                a = b.get("args", {})
                print("task %d %d created_in_test=%s still_live=%s %s"
                      % (b["ts"], e["ts"], a.get("created in test"),
                         a.get("still live"), b["name"]))
        else:
            fail("unexpected phase %r" % e)
    if open_async:
        fail("async begin without end: %r" % list(open_async.values())[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
