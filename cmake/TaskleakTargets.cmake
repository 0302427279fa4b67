# How taskleak's CMake targets are declared. Each directory's CMakeLists.txt
# lists its sources the way its Bazel BUILD file does; keep them in sync.

# The directories whose headers are public, as taskleak/<dir>/...
set(TASKLEAK_HEADER_DIRS runtime sanitizers leakcheck testing)

set(TASKLEAK_COPTS -Wall -Wextra -Wno-unused-parameter -fno-omit-frame-pointer)

# taskleak_add_library(<name> SOURCES <.cc...> DEPS <targets...>)
# Defines the static library taskleak_<name>, its alias taskleak::<name>
# (the name it is exported under) and puts it in the install set.
function(taskleak_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  set(target taskleak_${name})
  add_library(${target} STATIC ${ARG_SOURCES})
  add_library(taskleak::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES
    EXPORT_NAME ${name}
    POSITION_INDEPENDENT_CODE ON)
  # Both spellings: "taskleak/runtime/..." (public) and "runtime/..." (the
  # one taskleak's own sources used first; kept working).
  target_include_directories(${target} PUBLIC
    "$<BUILD_INTERFACE:${TASKLEAK_BUILD_INCLUDE_DIR}>"
    "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>"
    "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>"
    "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/taskleak>")
  target_compile_options(${target} PRIVATE ${TASKLEAK_COPTS})
  target_link_libraries(${target} PUBLIC ${ARG_DEPS})
  set_property(GLOBAL APPEND PROPERTY TASKLEAK_INSTALLED_TARGETS ${target})
endfunction()

# taskleak_whole(<name>): taskleak::<name>, linked whole into whatever
# executable ends up using it (Bazel's alwayslink + linkstatic), for
# libraries that define symbols nothing names: pthread_create, sanitizer
# hooks.
function(taskleak_whole out name)
  set(${out} "$<LINK_LIBRARY:WHOLE_ARCHIVE,taskleak::${name}>" PARENT_SCOPE)
endfunction()
