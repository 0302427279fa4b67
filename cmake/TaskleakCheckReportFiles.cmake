# ctest's check that a leaking test writes every kind of report file where
# the README says: outside Bazel, with no --taskleak_report_dir, beside the
# test executable. Removes old files, runs the test, checks each file.
#
#   cmake -DTEST_EXE=path/to/foo_test -DTEST_NAME=Suite.Test \
#         -P cmake/TaskleakCheckReportFiles.cmake
foreach(var TEST_EXE TEST_NAME)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "TaskleakCheckReportFiles: -D${var}=... is required")
  endif()
endforeach()
get_filename_component(dir "${TEST_EXE}" DIRECTORY)
file(GLOB old "${dir}/taskleak-*")
if(old)
  file(REMOVE ${old})
endif()
# The default report directory, not one inherited from the caller.
unset(ENV{TEST_UNDECLARED_OUTPUTS_DIR})
unset(ENV{TASKLEAK_REPORT_DIR})
execute_process(
  COMMAND "${TEST_EXE}" --taskleak_grace=300ms --taskleak_timeline
  RESULT_VARIABLE status
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out)
if(status EQUAL 0)
  message(FATAL_ERROR "${TEST_EXE} passed, but ${TEST_NAME} leaks:\n${out}")
endif()

set(base "${dir}/taskleak-${TEST_NAME}")
# Each file and a string its kind always holds.
foreach(expected
    "${base}.txt|created by"
    "${base}.json|\"threads\""
    "${base}-threads.svg|<svg"
    "${dir}/taskleak-timeline.json|\"traceEvents\""
    "${dir}/taskleak-summary.txt|${TEST_NAME}")
  string(REPLACE "|" ";" expected "${expected}")
  list(GET expected 0 file)
  list(GET expected 1 holds)
  if(NOT EXISTS "${file}")
    message(FATAL_ERROR "no ${file}; the run said:\n${out}")
  endif()
  file(READ "${file}" contents)
  string(FIND "${contents}" "${holds}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${file} lacks '${holds}'")
  endif()
endforeach()
# The pprof profile is gzip: its magic number.
set(profile "${base}-threads.pb.gz")
if(NOT EXISTS "${profile}")
  message(FATAL_ERROR "no ${profile}; the run said:\n${out}")
endif()
file(READ "${profile}" magic HEX LIMIT 2)
if(NOT magic STREQUAL "1f8b")
  message(FATAL_ERROR "${profile} is not gzip (starts with ${magic})")
endif()
message(STATUS "${TEST_NAME}: report, JSON, profile, flame graph, timeline "
               "and summary written in ${dir}")
