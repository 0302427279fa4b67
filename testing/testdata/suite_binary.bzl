"""A test program linked with taskleak's gtest_main, and its plain twin."""

load("@rules_cc//cc:defs.bzl", "cc_binary")
load("//bazel:copts.bzl", "TASKLEAK_COPTS")

def suite_binary(name, src, deps = [], plain_twin = None):
    """`name`: `src` with //testing:gtest_main, for testing/'s tests to run.

    Args:
      name: the program's name.
      src: its one source file.
      deps: what it needs besides a main.
      plain_twin: if set, the name of the same program with GoogleTest's
        own gtest_main, to compare against.
    """
    cc_binary(
        name = name,
        testonly = True,
        srcs = [src],
        copts = TASKLEAK_COPTS,
        visibility = ["//testing:__pkg__"],
        deps = ["//testing:gtest_main"] + deps,
    )
    if plain_twin:
        cc_binary(
            name = plain_twin,
            testonly = True,
            srcs = [src],
            copts = TASKLEAK_COPTS,
            visibility = ["//testing:__pkg__"],
            deps = deps + ["@com_google_googletest//:gtest_main"],
        )
