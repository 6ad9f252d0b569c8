/*
 * seglog.c — the library-wide pieces of the public API that belong to no layer: the names of the
 * return codes and the version string. The log-store calls live beside this file as they land.
 */
#include "seglog.h"

#define SEGLOG_STR2(x) #x
#define SEGLOG_STR(x) SEGLOG_STR2(x)

SEGLOG_API const char *seglog_version(void)
{
    return SEGLOG_STR(SEGLOG_VERSION_MAJOR) "." SEGLOG_STR(SEGLOG_VERSION_MINOR) "." SEGLOG_STR(
        SEGLOG_VERSION_PATCH);
}

SEGLOG_API const char *seglog_strerror(int code)
{
    switch (code) {
    case SEGLOG_OK: return "SEGLOG_OK: success";
    case SEGLOG_EINVAL: return "SEGLOG_EINVAL: invalid argument";
    case SEGLOG_EIO: return "SEGLOG_EIO: I/O error";
    case SEGLOG_ECORRUPT: return "SEGLOG_ECORRUPT: data on disk is corrupt";
    case SEGLOG_EPOISONED: return "SEGLOG_EPOISONED: a write or fsync failed; reopen to recover";
    case SEGLOG_EFULL: return "SEGLOG_EFULL: queue full";
    case SEGLOG_ETIMEDOUT: return "SEGLOG_ETIMEDOUT: timed out";
    case SEGLOG_ESHUTDOWN: return "SEGLOG_ESHUTDOWN: closing or closed";
    case SEGLOG_ENOMEM: return "SEGLOG_ENOMEM: out of memory";
    case SEGLOG_EVERSION: return "SEGLOG_EVERSION: unknown on-disk format version";
    case SEGLOG_EBUSY: return "SEGLOG_EBUSY: directory in use by another process";
    case SEGLOG_ESEALED: return "SEGLOG_ESEALED: segment sealed";
    case SEGLOG_ENOTFOUND: return "SEGLOG_ENOTFOUND: not found";
    case SEGLOG_ECONFLICT: return "SEGLOG_ECONFLICT: precondition does not hold";
    case SEGLOG_ETOOLARGE: return "SEGLOG_ETOOLARGE: record too large";
    case SEGLOG_ENOTSUP: return "SEGLOG_ENOTSUP: not supported";
    case SEGLOG_EEXIST: return "SEGLOG_EEXIST: already exists";
    case SEGLOG_EEND: return "SEGLOG_EEND: end of the read range";
    default: return "unknown seglog error code";
    }
}
