"""Compiler flags shared by every taskleak target."""

TASKLEAK_COPTS = [
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
]
