# Finds taskleak's dependencies; used by the build and by the installed
# taskleakConfig.cmake. Targets that already exist win, so a project that
# builds GoogleTest or Abseil itself (FetchContent, add_subdirectory) before
# taskleak gets taskleak built against its copy.

# Abseil.
if(NOT TARGET absl::strings)
  find_package(absl CONFIG QUIET)
  if(NOT absl_FOUND)
    message(FATAL_ERROR
      "taskleak needs Abseil and found none. Install it (Debian/Ubuntu: "
      "apt-get install libabsl-dev), point absl_DIR at its lib/cmake/absl, "
      "or make abseil-cpp's targets available before taskleak.")
  endif()
endif()

# GoogleTest.
if(NOT TARGET GTest::gtest)
  find_package(GTest QUIET)
  if(NOT TARGET GTest::gtest)
    message(FATAL_ERROR
      "taskleak needs GoogleTest and found none. Install it (Debian/Ubuntu: "
      "apt-get install libgtest-dev), set GTest_DIR, or make googletest's "
      "targets (GTest::gtest) available before taskleak, e.g. with "
      "FetchContent_MakeAvailable(googletest).")
  endif()
endif()

find_package(Threads REQUIRED)

# libunwind and elfutils' libdw: only their headers. taskleak loads both
# libraries at run time (dlopen), so nothing links them.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(TASKLEAK_LIBUNWIND QUIET libunwind)
  pkg_check_modules(TASKLEAK_LIBDW QUIET libdw)
endif()
find_path(TASKLEAK_LIBUNWIND_INCLUDE_DIR libunwind.h
          HINTS ${TASKLEAK_LIBUNWIND_INCLUDE_DIRS})
find_path(TASKLEAK_LIBDW_INCLUDE_DIR elfutils/libdwfl.h
          HINTS ${TASKLEAK_LIBDW_INCLUDE_DIRS})
if(NOT TASKLEAK_LIBUNWIND_INCLUDE_DIR)
  message(FATAL_ERROR
    "taskleak needs libunwind's headers (libunwind.h) and found none. "
    "Install them (Debian/Ubuntu: apt-get install libunwind-dev) or set "
    "TASKLEAK_LIBUNWIND_INCLUDE_DIR.")
endif()
if(NOT TASKLEAK_LIBDW_INCLUDE_DIR)
  message(FATAL_ERROR
    "taskleak needs elfutils' libdw headers (elfutils/libdwfl.h) and found "
    "none. Install them (Debian/Ubuntu: apt-get install libdw-dev) or set "
    "TASKLEAK_LIBDW_INCLUDE_DIR.")
endif()
if(NOT TARGET taskleak_system_headers)
  add_library(taskleak_system_headers INTERFACE IMPORTED)
  set_target_properties(taskleak_system_headers PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES
      "${TASKLEAK_LIBUNWIND_INCLUDE_DIR};${TASKLEAK_LIBDW_INCLUDE_DIR}")
endif()
