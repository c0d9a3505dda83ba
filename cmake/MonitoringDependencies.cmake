# Every dependency is a Debian 12 package (see scripts/install-deps.sh). This file is also
# installed and included by monitoringConfig.cmake, so consumers find the same dependencies.
include(CMakeFindDependencyMacro)
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_dependency(Threads)
find_dependency(Boost 1.74 CONFIG)
find_dependency(CURL)
find_dependency(PkgConfig)
if(NOT TARGET PkgConfig::LIBDEFLATE)
  pkg_check_modules(LIBDEFLATE REQUIRED IMPORTED_TARGET libdeflate)
endif()
find_dependency(PostgreSQL)
# Debian's hiredis ships a CMake file without an imported target; its pkg-config file is reliable.
if(NOT TARGET PkgConfig::HIREDIS)
  pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
endif()
