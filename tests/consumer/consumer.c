/*
 * consumer.c — a program outside seglog's tree that uses only the installed header and library.
 * tests/consumer/run.sh builds it against an installed seglog (pkg-config, pkg-config --static,
 * find_package) to prove that the install is complete and usable. Exits 0 on success.
 */
#include <seglog.h>
#include <stdio.h>
#include <string.h>

#define CONSUMER_VERSION_MAX 32 /* bytes of "MAJOR.MINOR.PATCH" we expect at most */

int main(void)
{
    char expected[CONSUMER_VERSION_MAX];
    const char *version = seglog_version();
    const char *sealed = seglog_strerror(SEGLOG_ESEALED);

    snprintf(expected, sizeof expected, "%d.%d.%d", SEGLOG_VERSION_MAJOR, SEGLOG_VERSION_MINOR,
             SEGLOG_VERSION_PATCH);
    if (version == NULL || strcmp(version, expected) != 0) {
        fprintf(stderr, "consumer: seglog_version() = \"%s\", header says \"%s\"\n",
                version ? version : "(null)", expected);
        return 1;
    }
    if (sealed == NULL || strstr(sealed, "SEGLOG_ESEALED") == NULL) {
        fprintf(stderr, "consumer: seglog_strerror(SEGLOG_ESEALED) = \"%s\"\n",
                sealed ? sealed : "(null)");
        return 1;
    }
    printf("consumer: seglog %s; %s\n", version, sealed);
    return 0;
}
