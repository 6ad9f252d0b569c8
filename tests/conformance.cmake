# conformance.cmake — the conformance suite (/work/shared/CONFORMANCE.md, groups L, C, D, T), one
# cmocka program per group. Included from the top-level CMakeLists.txt inside the tests section,
# after seglog_add_test() is defined. The crash and fault cases (D02, D05) skip themselves
# (exit 77) unless the library is built with -DSEGLOG_KILL_POINTS=ON / -DSEGLOG_FAULT_INJECTION=ON.
#
# C05 runs 10 s per variant by default; SEGLOG_C05_SECONDS=n in the environment changes that.
seglog_add_test(test_conf_l SOURCES tests/test_conf_l.c LABELS conformance TIMEOUT 300)
# C05's bound on one append's wait is the spec's 1 s in the normal build; under a sanitizer
# (everything 2-10x slower on 2 cores) it is 5 s, and the longest wait is printed either way.
if(SEGLOG_SANITIZE)
  # and the sealers must make at least 10 of the 100 seal+extends asked (25 in the normal build):
  # under ASan a column family takes seconds to create while 400 appenders run (22-37 seen)
  set(_seglog_c_env ENVIRONMENT SEGLOG_C05_MAX_WAIT_MS=5000 SEGLOG_C05_MIN_RECONFIG_PCT=10)
endif()
seglog_add_test(test_conf_c SOURCES tests/test_conf_c.c LABELS conformance TIMEOUT 600
                ${_seglog_c_env})
# Under a sanitizer, D03 damages every 13th byte / bit of the last record instead of every one
# (over 2,000 reopens of a store; the normal build does them all).
if(SEGLOG_SANITIZE)
  set(_seglog_d_env ENVIRONMENT SEGLOG_D03_STRIDE=13)
endif()
seglog_add_test(test_conf_d SOURCES tests/test_conf_d.c LABELS conformance crash TIMEOUT 900
                ${_seglog_d_env})
seglog_add_test(test_conf_t SOURCES tests/test_conf_t.c LABELS conformance TIMEOUT 300)
# C09 (backpressure during reconfiguration) is its own program: a full WAL queue of 200-250 KiB
# records under seal+extend, seal then extend, and trims; SEGLOG_C09_SECONDS (default 4) per case.
seglog_add_test(test_conf_c09 SOURCES tests/test_conf_c09.c LABELS conformance TIMEOUT 600)
