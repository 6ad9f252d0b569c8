# tests/crash/crash.cmake — the crash-recovery and fault-injection suite (label `crash`), included
# by CMakeLists.txt inside if(SEGLOG_BUILD_TESTS). The kill and power-loss drivers need kill points
# and the fault tests need fault injection, both compiled in only on request (no cost otherwise):
# without them these tests are not registered (tools/dev builds have both on).
#
# Short forms run in CI (`tools/dev test`, `ctest -L crash`); the long run is
# `tools/dev crash-long [minutes]` (tests/crash/run-long.sh).

if(SEGLOG_KILL_POINTS AND SEGLOG_FAULT_INJECTION)
  # crash-tool: workload, verifier, WAL tearing, the ext4 shutdown ioctl (tests/crash/crash_tool.c).
  add_executable(crash-tool tests/crash/crash_tool.c)
  seglog_target_defaults(crash-tool)
  target_link_libraries(crash-tool PRIVATE seglog_internal SeglogDeps::rocksdb Threads::Threads)
  target_include_directories(crash-tool PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}/loglet")
  set_target_properties(crash-tool PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/tests")

  set(_crash_dir "${CMAKE_CURRENT_SOURCE_DIR}/tests/crash")
  # kill -9 at random times and at every named kill point, verify after each; with the two
  # backpressure modes (a full WAL queue: bp-random, loglet-chain-wait-room) in each round.
  add_test(NAME crash_kill_short
    COMMAND bash "${_crash_dir}/kill.sh" --tool "$<TARGET_FILE:crash-tool>"
            --work "${CMAKE_BINARY_DIR}/crash-kill" --rounds 2
            --dump "$<TARGET_FILE:seglog-dump>")
  # power cuts on a loop-mounted ext4 image (exit 77 without root or a loop device); 12 cycles
  # and a backpressure cycle after every 4 (15 in all).
  add_test(NAME crash_power_short
    COMMAND bash "${_crash_dir}/power.sh" --tool "$<TARGET_FILE:crash-tool>"
            --work "/var/tmp/crash-power-ci" --cycles 12 --backpressure-every 4
            --dump "$<TARGET_FILE:seglog-dump>")
  # kill: 2 rounds of 14 modes take about 3 min under load; a missed point's retries (up to 3
  # more tries of 25 s each, 8 s for the backpressure point, see kill.sh) must fit too, or CI
  # would fail by chance after all.
  set_tests_properties(crash_kill_short PROPERTIES
    LABELS "crash" SKIP_RETURN_CODE 77 TIMEOUT 720 RUN_SERIAL TRUE)
  set_tests_properties(crash_power_short PROPERTIES
    LABELS "crash" SKIP_RETURN_CODE 77 TIMEOUT 400 RUN_SERIAL TRUE)

  # torn WAL (a killed store's last op cut, zeroed, bit-flipped; the rotation and recycled-file
  # regressions) and corrupt WAL (damage to an acknowledged op), one CTest test each.
  add_executable(test_crash_wal tests/crash/test_crash_wal.c)
  seglog_target_defaults(test_crash_wal)
  target_link_libraries(test_crash_wal PRIVATE seglog_internal SeglogDeps::cmocka)
  set_target_properties(test_crash_wal PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/tests")
  foreach(_group torn corrupt)
    add_test(NAME crash_wal_${_group} COMMAND test_crash_wal ${_group})
    set_tests_properties(crash_wal_${_group} PROPERTIES
      LABELS "crash" SKIP_RETURN_CODE 77 TIMEOUT 300)
  endforeach()
  # power cuts in two WAL windows (an idle marker at a page end with RWF_DSYNC, a recycled file
  # between its header sync and its renames) on a loop-mounted ext4: exit 77 without root, a free
  # loop device or the ext4 shutdown ioctl.
  add_test(NAME crash_wal_power COMMAND test_crash_wal power)
  set_tests_properties(crash_wal_power PROPERTIES
    LABELS "crash" SKIP_RETURN_CODE 77 TIMEOUT 300 RUN_SERIAL TRUE)
  # I/O errors under a store, one CTest test per group so that a group the machine cannot run
  # (exit 77) shows as skipped: WAL fault points (crash_faults_wal), RocksDB's fsyncs failed
  # through libfiu (crash_faults_rocksdb: needs libfiu0), a real ENOSPC on a tmpfs
  # (crash_faults_enospc: needs root).
  add_executable(test_crash_faults tests/crash/test_crash_faults.c)
  seglog_target_defaults(test_crash_faults)
  target_link_libraries(test_crash_faults PRIVATE seglog_internal SeglogDeps::cmocka ${CMAKE_DL_LIBS})
  target_include_directories(test_crash_faults PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}/loglet")
  set_target_properties(test_crash_faults PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/tests")
  foreach(_group wal rocksdb enospc)
    add_test(NAME crash_faults_${_group} COMMAND test_crash_faults ${_group})
    set_tests_properties(crash_faults_${_group} PROPERTIES
      LABELS "crash" SKIP_RETURN_CODE 77 TIMEOUT 300)
    if(SEGLOG_SANITIZE STREQUAL "thread") # as seglog_add_test does
      set_tests_properties(crash_faults_${_group} PROPERTIES ENVIRONMENT
        "TSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/tests/tsan.supp exitcode=66")
    endif()
  endforeach()
endif()
