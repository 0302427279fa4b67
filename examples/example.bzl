"""How examples/BUILD declares a buggy example, and one beside its fix.

Each example is a library `name` (name.cc, name.h) and its tests
(name_test.cc). A bug's test binary must fail: it is a cc_binary, which
examples_test or sanitizer_examples_test runs to check the report it prints.
"""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_library", "cc_test")
load("//bazel:copts.bzl", "TASKLEAK_COPTS")

def _example_library(name, deps):
    cc_library(
        name = name,
        srcs = [name + ".cc"],
        hdrs = [name + ".h"],
        copts = TASKLEAK_COPTS,
        deps = deps,
    )

def buggy_example(name, deps = [], test_deps = []):
    """:name, and :name_test, a test binary that must fail.

    Args:
      name: the library; its sources are name.cc and name.h.
      deps: the library's dependencies.
      test_deps: the test's own, besides the library and //testing:gtest_main.
    """
    _example_library(name, deps)
    cc_binary(
        name = name + "_test",
        testonly = True,
        srcs = [name + "_test.cc"],
        copts = TASKLEAK_COPTS,
        deps = [":" + name] + test_deps + ["//testing:gtest_main"],
    )

def example_pair(name, fixed_test, fixed_suite, fixed_args = [], deps = [], test_deps = []):
    """A buggy example (see buggy_example) and, from the same test source, its
    fixed twin: the cc_test `fixed_test`, which runs only `fixed_suite` and must
    pass.

    Args:
      name: the library; its sources are name.cc, name.h and name_test.cc.
      fixed_test: the twin's test target.
      fixed_suite: the GoogleTest suite of the fixed version's tests.
      fixed_args: further arguments of the twin.
      deps: the library's dependencies.
      test_deps: the tests' own, besides the library and //testing:gtest_main.
    """
    buggy_example(name = name, deps = deps, test_deps = test_deps)
    cc_test(
        name = fixed_test,
        size = "small",
        srcs = [name + "_test.cc"],
        args = ["--gtest_filter=" + fixed_suite + ".*"] + fixed_args,
        copts = TASKLEAK_COPTS,
        deps = [":" + name] + test_deps + ["//testing:gtest_main"],
    )

def fixed_example(name, deps = [], test_deps = []):
    """:name, and :name_test, a cc_test that must pass: a fix kept apart from
    its bug (cancellable_timer fixes detached_timer).

    Args:
      name: the library; its sources are name.cc, name.h and name_test.cc.
      deps: the library's dependencies.
      test_deps: the test's own, besides the library and //testing:gtest_main.
    """
    _example_library(name, deps)
    cc_test(
        name = name + "_test",
        size = "small",
        srcs = [name + "_test.cc"],
        copts = TASKLEAK_COPTS,
        deps = [":" + name] + test_deps + ["//testing:gtest_main"],
    )
