/*
 * seglog.h — the whole public API of seglog, a persistent on-disk store of many logs, each a chain
 * of segments ("loglets") that are appended to, sealed at an exact tail, extended, trimmed and read.
 *
 * This header is what users embed and what tools/ build on. It shows no RocksDB or liburing type.
 * Conventions (see README.md):
 *   - Fallible calls return int: SEGLOG_OK (0) or a negative SEGLOG_E... code from seglog's own
 *     range (-1000 and below), never a raw errno.
 *   - Details of a failure go into a caller-owned seglog_error: the code, the module that raised it,
 *     the OS errno if one was involved, and one line naming the numbers that matter (log id, LSN,
 *     file, offset). Filling it never allocates. Every `seglog_error *err` parameter may be NULL.
 *
 * The log-store calls (open a store, create logs, append, read, seal, extend, trim, describe) land
 * with the log store; today the header carries the error model shared by every layer.
 */
#ifndef SEGLOG_H
#define SEGLOG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SEGLOG_BUILDING) && defined(__GNUC__)
#define SEGLOG_API __attribute__((visibility("default")))
#else
#define SEGLOG_API
#endif

/* Version of the library (not of the on-disk format, which each file header names). */
#define SEGLOG_VERSION_MAJOR 0
#define SEGLOG_VERSION_MINOR 1
#define SEGLOG_VERSION_PATCH 0

/* Return codes. A caller acts differently on each; anything else is SEGLOG_EIO. */
enum {
    SEGLOG_OK = 0,
    SEGLOG_EINVAL = -1001,    /* a bad argument: size, range, option; nothing was done */
    SEGLOG_EIO = -1002,       /* an I/O call failed; seglog_error.os_errno says which errno */
    SEGLOG_ECORRUPT = -1003,  /* bytes on disk fail a check; the message names file and offset */
    SEGLOG_EPOISONED = -1004, /* an earlier write or fsync failed; writes refused until reopen */
    SEGLOG_EFULL = -1005,     /* a bounded queue stayed full for the whole allowed wait */
    SEGLOG_ETIMEDOUT = -1006, /* a bounded wait ran out; the message says what was awaited */
    SEGLOG_ESHUTDOWN = -1007, /* the object is closing or closed */
    SEGLOG_ENOMEM = -1008,    /* an allocation failed */
    SEGLOG_EVERSION = -1009,  /* on-disk data written by an unknown format version */
    SEGLOG_EBUSY = -1010,     /* another process holds the directory */
    SEGLOG_ESEALED = -1011,   /* the segment is sealed (log store) */
    SEGLOG_ENOTFOUND = -1012, /* no such log, segment or record */
    SEGLOG_ECONFLICT = -1013, /* a version or base-LSN precondition did not hold */
    SEGLOG_ETOOLARGE = -1014, /* a record exceeds the configured size limit */
    SEGLOG_ENOTSUP = -1015,   /* not supported by this build or this machine */
};

#define SEGLOG_ERROR_MESSAGE_MAX 256 /* bytes, including the terminating NUL */

/* Details of the last failure of one call. Caller-owned; fixed size; no allocation. */
typedef struct seglog_error {
    int code;                               /* SEGLOG_E... (same as the call's return value) */
    int os_errno;                           /* the errno behind it, or 0 */
    const char *module;                     /* "wal", "storage", "loglet", ...: static string */
    char message[SEGLOG_ERROR_MESSAGE_MAX]; /* one line, NUL-terminated */
} seglog_error;

/* A static, NUL-terminated name for a return code ("SEGLOG_ESEALED: segment sealed"). */
SEGLOG_API const char *seglog_strerror(int code);

/* The library's version as "MAJOR.MINOR.PATCH"; a static string. */
SEGLOG_API const char *seglog_version(void);

#ifdef __cplusplus
}
#endif

#endif /* SEGLOG_H */
