# Writes OUTPUT, a C file defining unixcorn_version_full (src/version.h): VERSION,
# followed by the git commit of SOURCE_DIR when it is a checkout of its own,
# e.g. "0.1.0 (git 1a2b3c4)", or "0.1.0 (git 1a2b3c4-dirty)" with uncommitted
# changes. From a tarball, or without git, it is VERSION alone.
#
# Run at every build (cmake -P, from CMakeLists.txt), because a commit changes
# nothing that CMake watches. OUTPUT is rewritten only when its text changes,
# so an unchanged commit recompiles nothing.
#   cmake -DVERSION=0.1.0 -DSOURCE_DIR=... -DOUTPUT=... [-DGIT=/usr/bin/git] -P git-version.cmake
cmake_minimum_required(VERSION 3.18) # the policies of CMakeLists.txt
set(text "${VERSION}")
if(GIT)
  execute_process(COMMAND "${GIT}" -C "${SOURCE_DIR}" rev-parse --show-toplevel
    OUTPUT_VARIABLE top OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE rc ERROR_QUIET)
  # Only SOURCE_DIR's own repository: a tarball unpacked inside some other
  # checkout must not claim that checkout's commit.
  get_filename_component(top "${top}" REALPATH)
  get_filename_component(src "${SOURCE_DIR}" REALPATH)
  if(rc EQUAL 0 AND top STREQUAL src)
    # --exclude=*: the abbreviated commit even where a tag would match;
    # --dirty refreshes the index first, so a touched file is not a change.
    execute_process(COMMAND "${GIT}" -C "${SOURCE_DIR}" describe --always --abbrev=7
                            --dirty --exclude=*
      OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE rc ERROR_QUIET)
    if(rc EQUAL 0 AND commit MATCHES "^[0-9a-f]+(-dirty)?$")
      set(text "${VERSION} (git ${commit})")
    endif()
  endif()
endif()
# file(CONFIGURE) leaves an unchanged file alone, so its timestamp too.
file(CONFIGURE OUTPUT "${OUTPUT}" @ONLY CONTENT
"/* Written by cmake/git-version.cmake at build time. */
#include \"version.h\"

const char unixcorn_version_full[] = \"@text@\";
")
