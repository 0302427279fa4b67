"""Compiler flags shared by every taskleak target."""

TASKLEAK_COPTS = [
    # taskleak's sources need C++17; Bazel 4.2.3's default toolchain says
    # -std=c++0x, and a later flag wins. copts do not propagate to the
    # targets that depend on ours, so consumers need no flag of their own:
    # the public headers compile as C++11 (examples/consumer checks both).
    "-std=c++17",
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
]
