# tests/fuzz/fuzz.cmake — libFuzzer targets (ASan + UBSan), built with clang whatever compiler
# builds the rest (libFuzzer is clang's), straight from the few sources each needs:
#   fuzz_wal_frame      wal/wal_format.c: frames, file headers, file names
#   fuzz_wal_recovery   wal_scan_dir over arbitrary WAL directory images
#   fuzz_store_codec    storage/store_codec.c: operation records, segment and log values
# Tests: fuzz_<t>_seeds runs the seed corpus tests/fuzz/corpus/<t>/ once (labels unit, corpus:
# part of every ctest run); fuzz_<t>_60s fuzzes for 60 s from it (labels fuzz, slow: run with
# `ctest -L fuzz`; `tools/dev test` leaves out `slow`). New inputs go to <build>/fuzz-corpus/<t>.
# Without clang and libFuzzer the tests exit 77 (skipped).

find_program(SEGLOG_CLANG NAMES clang clang-14)
set(_fz_ok FALSE)
if(SEGLOG_CLANG)
  # libFuzzer's runtime ships separately (libclang-rt-14-dev on Debian): try a link.
  set(_fz_probe "${CMAKE_BINARY_DIR}/fuzz-probe.c")
  file(WRITE "${_fz_probe}"
       "#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n")
  execute_process(COMMAND "${SEGLOG_CLANG}" -fsanitize=fuzzer,address,undefined "${_fz_probe}"
                          -o "${CMAKE_BINARY_DIR}/fuzz-probe"
                  RESULT_VARIABLE _fz_rc OUTPUT_QUIET ERROR_QUIET)
  if(_fz_rc EQUAL 0)
    set(_fz_ok TRUE)
  endif()
endif()

set(_fz_src "${CMAKE_CURRENT_SOURCE_DIR}")
set(_fz_flags -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined
              -fno-sanitize-recover=undefined -fno-omit-frame-pointer
              -I${_fz_src}/loglet -I${_fz_src}/wal -I${_fz_src}/storage)
set(_fz_sources_wal_frame tests/fuzz/fuzz_wal_frame.c wal/wal_format.c wal/crc32c.c)
set(_fz_sources_wal_recovery tests/fuzz/fuzz_wal_recovery.c wal/wal.c wal/wal_hooks.c
    wal/wal_prepare.c wal/wal_scan.c wal/wal_format.c wal/crc32c.c)
set(_fz_sources_store_codec tests/fuzz/fuzz_store_codec.c storage/store_codec.c wal/wal_format.c
    wal/crc32c.c)
set(_fz_libs_wal_recovery -luring -lpthread)

foreach(_t wal_frame wal_recovery store_codec)
  set(_bin "${CMAKE_BINARY_DIR}/tests/fuzz_${_t}")
  set(_corpus "${_fz_src}/tests/fuzz/corpus/${_t}")
  if(_fz_ok)
    set(_srcs "")
    foreach(_s ${_fz_sources_${_t}})
      list(APPEND _srcs "${_fz_src}/${_s}")
    endforeach()
    add_custom_command(OUTPUT "${_bin}"
      COMMAND "${SEGLOG_CLANG}" ${_fz_flags} ${_srcs} ${_fz_libs_${_t}} -o "${_bin}"
      DEPENDS ${_srcs} "${_fz_src}/tests/fuzz/fuzz_common.h"
      COMMENT "libFuzzer target fuzz_${_t} (clang, ASan+UBSan)"
      VERBATIM)
    add_custom_target(fuzz_${_t} ALL DEPENDS "${_bin}")
    add_test(NAME fuzz_${_t}_seeds COMMAND "${_bin}" -runs=0 "${_corpus}")
    add_test(NAME fuzz_${_t}_60s
      COMMAND bash -c "mkdir -p '${CMAKE_BINARY_DIR}/fuzz-corpus/${_t}' && exec '${_bin}' -max_total_time=60 -print_final_stats=1 -timeout=10 -rss_limit_mb=1024 '${CMAKE_BINARY_DIR}/fuzz-corpus/${_t}' '${_corpus}'")
  else()
    add_test(NAME fuzz_${_t}_seeds COMMAND bash -c "echo 'no clang/libFuzzer: skipped'; exit 77")
    add_test(NAME fuzz_${_t}_60s COMMAND bash -c "echo 'no clang/libFuzzer: skipped'; exit 77")
  endif()
  set_tests_properties(fuzz_${_t}_seeds PROPERTIES LABELS "unit;corpus" SKIP_RETURN_CODE 77
                       TIMEOUT 120 ENVIRONMENT "TMPDIR=/var/tmp")
  set_tests_properties(fuzz_${_t}_60s PROPERTIES LABELS "fuzz;slow" SKIP_RETURN_CODE 77
                       TIMEOUT 180 ENVIRONMENT "TMPDIR=/var/tmp")
endforeach()
