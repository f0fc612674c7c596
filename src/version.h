/* The version --version prints: the project's version (CMakeLists.txt) and,
 * when the build knew it, the git commit it was built from, as in
 * "0.1.0 (git 1a2b3c4)"; from a tarball, "0.1.0". The definition is written
 * at build time (cmake/git-version.cmake), so that a new commit recompiles
 * that one file. */
#ifndef UNIXCORN_VERSION_FULL_H
#define UNIXCORN_VERSION_FULL_H

extern const char unixcorn_version_full[];

#endif
