"""Where taskleak's external repositories come from, online or offline.

Online (the default) each dependency is a pinned, checksummed download, just
like http_archive. With `--config=offline` (which sets TASKLEAK_OFFLINE=1
through --repo_env) nothing is downloaded: the repository is linked from a
copy already on the machine (Debian's packages) or from stand-ins kept in
bazel/offline/. A repository rule is needed because --override_repository
only takes absolute paths and so cannot point into the workspace.

Pins come from the Bazel Central Registry's source.json files; the versions
match what Debian 12 ships, so both paths build the same code.
"""

def _link_dir_entries(ctx, path):
    for entry in ctx.path(path).readdir():
        ctx.symlink(entry, entry.basename)

def _taskleak_dep_impl(ctx):
    if ctx.os.environ.get("TASKLEAK_OFFLINE", "") == "1":
        if ctx.attr.local_path:
            if not ctx.path(ctx.attr.local_path).exists:
                fail("--config=offline needs %s from the Debian package %s; " %
                     (ctx.attr.local_path, ctx.attr.local_package) +
                     "run ci/setup")
            _link_dir_entries(ctx, ctx.attr.local_path)
        for src, dest in ctx.attr.local_files.items():
            ctx.symlink(src, dest)
        for package in ctx.attr.local_packages:
            ctx.file(package + "/BUILD" if package else "BUILD", "")
        return
    ctx.download_and_extract(
        url = ctx.attr.urls,
        sha256 = ctx.attr.sha256,
        stripPrefix = ctx.attr.strip_prefix,
    )

taskleak_dep = repository_rule(
    implementation = _taskleak_dep_impl,
    environ = ["TASKLEAK_OFFLINE"],
    attrs = {
        "urls": attr.string_list(doc = "Online: where the pinned archive is."),
        "sha256": attr.string(doc = "Online: the archive's checksum."),
        "strip_prefix": attr.string(doc = "Online: top directory to drop."),
        "local_path": attr.string(
            doc = "Offline: absolute directory whose entries make the repo.",
        ),
        "local_package": attr.string(
            doc = "Offline: the Debian package that provides local_path.",
        ),
        "local_files": attr.label_keyed_string_dict(
            doc = "Offline: files from this repository, label -> path.",
        ),
        "local_packages": attr.string_list(
            doc = "Offline: directories that get an empty BUILD file.",
        ),
    },
)

# The Abseil packages the offline stand-in provides (bazel/offline/absl_*).
_ABSL_PACKAGES = [
    "algorithm",
    "base",
    "cleanup",
    "container",
    "debugging",
    "functional",
    "hash",
    "memory",
    "status",
    "strings",
    "synchronization",
    "time",
    "types",
    "utility",
]

def _offline(name):
    return Label("//bazel/offline:" + name)

def _maybe(name, **kwargs):
    if name not in native.existing_rules():
        taskleak_dep(name = name, **kwargs)

def taskleak_bazel_repositories():
    """Bazel's own helper repositories, so offline builds never fetch them.

    Call first in the WORKSPACE, before anything else loads @rules_cc. Only
    offline builds need it: online, Bazel's own defaults serve as well.
    """
    _maybe(
        "rules_cc",
        local_files = {_offline("rules_cc_defs.bzl"): "cc/defs.bzl"},
        local_packages = ["", "cc"],
        sha256 = "4dccbfd22c0def164c8f47458bd50e0c7148f3d92002cdb459c2a96a68498241",
        urls = ["https://github.com/bazelbuild/rules_cc/releases/download/0.0.1/rules_cc-0.0.1.tar.gz"],
    )

    # Bazel 4.2's default rules_java and coverage tools.
    _maybe(
        "rules_java",
        local_package = "bazel-rules-java",
        local_path = "/usr/share/bazel/rules/java",
        sha256 = "bc81f1ba47ef5cc68ad32225c3d0e70b8c6f6077663835438da8d5733f917598",
        strip_prefix = "rules_java-7cf3cefd652008d0a64a419c34c13bdca6c8f178",
        urls = ["https://github.com/bazelbuild/rules_java/archive/7cf3cefd652008d0a64a419c34c13bdca6c8f178.zip"],
    )
    _maybe(
        "remote_coverage_tools",
        local_files = {
            _offline("remote_coverage_tools.BUILD"): "BUILD",
            _offline("coverage_unavailable.sh"): "unavailable.sh",
        },
        sha256 = "cd14f1cb4559e4723e63b7e7b06d09fcc3bd7ba58d03f354cdff1439bd936a7d",
        urls = ["https://mirror.bazel.build/bazel_coverage_output_generator/releases/coverage_output_generator-v2.5.zip"],
    )

def _local_files_impl(ctx):
    # Only the listed files: Debian's tree also has BUILD.bazel files of its
    # own, which would split it into packages.
    for f in ctx.attr.files:
        ctx.symlink(ctx.attr.path + "/" + f, f)
    ctx.symlink(ctx.attr.build_file, "BUILD")

local_files = repository_rule(
    implementation = _local_files_impl,
    local = True,
    attrs = {
        "path": attr.string(doc = "Absolute directory to read from."),
        "files": attr.string_list(doc = "Paths under it to link."),
        "build_file": attr.label(doc = "The repository's BUILD file."),
    },
)

def taskleak_dependencies():
    """GoogleTest, Abseil and Google Benchmark, unless already declared."""
    # GoogleTest's own test programs, read from Debian's sources where
    # installed; only ci/googletest_suites builds them.
    if "googletest_suites" not in native.existing_rules():
        local_files(
            name = "googletest_suites",
            path = "/usr/src/googletest",
            files = [
                "googletest/src/gtest-internal-inl.h",
                "googletest/test/googletest-port-test.cc",
                "googletest/test/gtest_stress_test.cc",
                "googlemock/test/gmock_stress_test.cc",
            ],
            build_file = "//bazel:googletest_suites.BUILD",
        )
    _maybe(
        "com_google_googletest",
        local_files = {_offline("googletest.BUILD"): "BUILD"},
        local_package = "googletest",
        local_path = "/usr/src/googletest",
        sha256 = "81964fe578e9bd7c94dfdb09c8e4d6e6759e19967e397dbea48d1c10e45d0df2",
        strip_prefix = "googletest-release-1.12.1",
        urls = ["https://github.com/google/googletest/archive/refs/tags/release-1.12.1.tar.gz"],
    )
    _maybe(
        "com_google_absl",
        local_files = {
            _offline("absl_%s.BUILD" % p): "absl/%s/BUILD" % p
            for p in _ABSL_PACKAGES
        },
        local_packages = [""],
        sha256 = "91ac87d30cc6d79f9ab974c51874a704de9c2647c40f6932597329a282217ba8",
        strip_prefix = "abseil-cpp-20220623.1",
        urls = ["https://github.com/abseil/abseil-cpp/archive/refs/tags/20220623.1.tar.gz"],
    )
    _maybe(
        "com_github_google_benchmark",
        local_files = {_offline("benchmark.BUILD"): "BUILD"},
        sha256 = "6bc180a57d23d4d9515519f92b0c83d61b05b5bab188961f36ac7b06b0d9e9ce",
        strip_prefix = "benchmark-1.8.3",
        urls = ["https://github.com/google/benchmark/archive/refs/tags/v1.8.3.tar.gz"],
    )
