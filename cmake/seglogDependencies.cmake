# seglogDependencies.cmake — finds seglog's third-party libraries and wraps each in an imported
# target, so the rest of the build (and, once installed, seglogConfig.cmake) names targets, never
# paths:
#
#   SeglogDeps::uring    liburing   (liburing.h)    only wal/ includes it
#   SeglogDeps::rocksdb  RocksDB    (rocksdb/c.h)   only storage/ includes it
#   Threads::Threads     pthreads
#   SeglogDeps::cmocka   cmocka     (cmocka.h)      tests only; seglog_find_cmocka()
#
# Each is looked up through pkg-config when a .pc file exists (Debian ships one for all three);
# the .pc hints then guide find_library/find_path, which also work without pkg-config. Include
# directories of imported targets are SYSTEM, so our warning set never reaches their headers.
#
# Used by the top-level CMakeLists.txt and installed next to seglogConfig.cmake, because the
# exported static library's link interface names SeglogDeps::uring and SeglogDeps::rocksdb.
include_guard(GLOBAL)

# _seglog_import_library(<target> <pkg-config name> <library name> <header> <out found var>)
function(_seglog_import_library target pc_name lib_name header found_var)
  if(TARGET ${target})
    set(${found_var} TRUE PARENT_SCOPE)
    return()
  endif()
  string(TOUPPER "${lib_name}" _up)
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(_SEGLOG_PC_${_up} QUIET ${pc_name})
  endif()
  find_library(SEGLOG_${_up}_LIBRARY NAMES ${lib_name}
               HINTS ${_SEGLOG_PC_${_up}_LIBRARY_DIRS})
  find_path(SEGLOG_${_up}_INCLUDE_DIR NAMES ${header}
            HINTS ${_SEGLOG_PC_${_up}_INCLUDE_DIRS})
  mark_as_advanced(SEGLOG_${_up}_LIBRARY SEGLOG_${_up}_INCLUDE_DIR)
  if(NOT SEGLOG_${_up}_LIBRARY OR NOT SEGLOG_${_up}_INCLUDE_DIR)
    set(${found_var} FALSE PARENT_SCOPE)
    return()
  endif()
  add_library(${target} UNKNOWN IMPORTED)
  set_target_properties(${target} PROPERTIES
    IMPORTED_LOCATION "${SEGLOG_${_up}_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${SEGLOG_${_up}_INCLUDE_DIR}"
    INTERFACE_COMPILE_OPTIONS "${_SEGLOG_PC_${_up}_CFLAGS_OTHER}")
  if(_SEGLOG_PC_${_up}_VERSION)
    set(_ver " ${_SEGLOG_PC_${_up}_VERSION}")
  endif()
  message(STATUS "seglog: ${lib_name}${_ver}: ${SEGLOG_${_up}_LIBRARY}")
  set(${found_var} TRUE PARENT_SCOPE)
endfunction()

# seglog_find_dependencies([REQUIRED]): defines SeglogDeps::uring, SeglogDeps::rocksdb and
# Threads::Threads; sets SEGLOG_DEPENDENCIES_FOUND (and stops with an error when REQUIRED).
function(seglog_find_dependencies)
  set(THREADS_PREFER_PTHREAD_FLAG ON)
  find_package(Threads QUIET)
  _seglog_import_library(SeglogDeps::uring liburing uring liburing.h _uring)
  _seglog_import_library(SeglogDeps::rocksdb rocksdb rocksdb rocksdb/c.h _rocksdb)
  set(_missing "")
  if(NOT Threads_FOUND)
    list(APPEND _missing "pthreads")
  endif()
  if(NOT _uring)
    list(APPEND _missing "liburing (Debian: liburing-dev)")
  endif()
  if(NOT _rocksdb)
    list(APPEND _missing "RocksDB (Debian: librocksdb-dev)")
  endif()
  if(_missing)
    set(SEGLOG_DEPENDENCIES_FOUND FALSE PARENT_SCOPE)
    set(SEGLOG_DEPENDENCIES_MISSING "${_missing}" PARENT_SCOPE)
    if("REQUIRED" IN_LIST ARGN)
      message(FATAL_ERROR "seglog: missing ${_missing}; `tools/dev setup` installs them")
    endif()
  else()
    set(SEGLOG_DEPENDENCIES_FOUND TRUE PARENT_SCOPE)
  endif()
endfunction()

# seglog_find_cmocka([REQUIRED]): defines SeglogDeps::cmocka; sets SEGLOG_CMOCKA_FOUND.
function(seglog_find_cmocka)
  _seglog_import_library(SeglogDeps::cmocka cmocka cmocka cmocka.h _cmocka)
  set(SEGLOG_CMOCKA_FOUND ${_cmocka} PARENT_SCOPE)
  if(NOT _cmocka AND "REQUIRED" IN_LIST ARGN)
    message(FATAL_ERROR "seglog: cmocka not found (Debian: libcmocka-dev); "
                        "`tools/dev setup` installs it, or pass -DSEGLOG_BUILD_TESTS=OFF")
  endif()
endfunction()
