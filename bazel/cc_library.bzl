"""taskleak's cc_library: rules_cc's, with the "taskleak/" include prefix.

Every header of a library built with it can be included as
"taskleak/<its path in the repository>", the public spelling:

    #include "taskleak/testing/gtest_listener.h"

in this repository and when it is an external repository (@taskleak under
WORKSPACE, a bazel_dep under bzlmod). The old spelling ("testing/...")
keeps working because the repository root stays on the include path.
"""

load("@rules_cc//cc:defs.bzl", _cc_library = "cc_library")

TASKLEAK_INCLUDE_PREFIX = "taskleak"

def _is_header(src):
    return src.endswith(".h")

def cc_library(name, srcs = [], hdrs = [], **kwargs):
    """cc_library with include_prefix = "taskleak/<package>".

    include_prefix replaces the package path (strip_include_prefix defaults
    to it), so the package goes back in: runtime/internal/x.h becomes
    taskleak/runtime/internal/x.h. Bazel gives the prefix only to `hdrs`, so
    headers listed in `srcs` (a library's private internal/ headers) move to
    `hdrs`: they stay private to the package through visibility, and
    reachable by the new spelling.
    """
    _cc_library(
        name = name,
        srcs = [s for s in srcs if not _is_header(s)],
        hdrs = hdrs + [s for s in srcs if _is_header(s)],
        include_prefix = TASKLEAK_INCLUDE_PREFIX + "/" + native.package_name(),
        **kwargs
    )
