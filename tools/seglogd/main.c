/*
 * main.c — seglogd's command line: options, the safe-by-default checks (loopback unless a password
 * is set, limits that relate sensibly), then server_open / server_run / server_close.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

static void usage(FILE *out)
{
    server_options d;
    server_options_init(&d);
    fprintf(out,
            "usage: seglogd [OPTIONS]\n"
            "\n"
            "Serves one seglog store over the Redis protocol (RESP2, RESP3 via HELLO 3).\n"
            "A stream key names a log: XADD/XRANGE/XREVRANGE/XREAD/XLEN/XTRIM/XINFO STREAM, and\n"
            "LOG.CREATE/APPEND/READ/TAIL/SEAL/EXTEND/SEALEXTEND/TRIM/DESCRIBE for seglog itself.\n"
            "An append is answered only once it is durable. See seglogd(1).\n"
            "\n"
            "  --dir DIR            the store's directory (default %s)\n"
            "  --bind ADDR          IPv4/IPv6 address to listen on (default %s)\n"
            "  --port N             TCP port (default %d; 0: any free port, printed at start)\n"
            "  --unixsocket PATH    also listen on a Unix socket\n"
            "  --requirepass PASS   clients must AUTH (also $SEGLOGD_PASSWORD); required to bind\n"
            "                       anything but a loopback address\n"
            "  --metrics-port N     serve Prometheus text at http://ADDR:N/metrics (0: any port)\n"
            "  --maxclients N       connections at once (default %u)\n"
            "  --timeout SECONDS    close clients idle this long, 0 never (default %u)\n"
            "  --max-bulk BYTES     largest argument (default %zu)\n"
            "  --max-request BYTES  largest request (default %zu)\n"
            "  --append-wait-ms N   how long an append waits for a sealed log to be extended\n"
            "                       (default %u)\n"
            "  --max-streams N      stream keys the server creates (default %u)\n"
            "  --port-file PATH     write \"<port> <metrics port>\" there once listening\n"
            "  --wal-groups N       WAL group commits in flight (default: the library's, 4)\n"
            "  --help, --version\n"
            "\n"
            "SIGTERM or SHUTDOWN: stop accepting, finish in-flight appends, close the store.\n",
            d.dir, d.bind_addr, d.port, d.max_clients, d.idle_timeout_s, d.max_bulk_bytes,
            d.max_request_bytes, d.append_wait_ms, d.max_streams);
}

static int num(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || v > max || s[0] == '-') {
        fprintf(stderr, "seglogd: bad number '%s' (0 to %llu)\n", s, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int is_loopback(const char *a)
{
    return strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0;
}

int main(int argc, char **argv)
{
    server_options o;
    server_options_init(&o);
    const char *env_pass = getenv("SEGLOGD_PASSWORD");
    if (env_pass && *env_pass)
        o.requirepass = env_pass;
    enum {
        O_DIR = 256, O_BIND, O_PORT, O_UNIX, O_PASS, O_METRICS, O_MAXCLIENTS, O_TIMEOUT, O_BULK,
        O_REQUEST, O_WAIT, O_STREAMS, O_PORTFILE, O_HELP, O_VERSION, O_WALGROUPS
    };
    static const struct option opts[] = {
        {"dir", required_argument, NULL, O_DIR},
        {"bind", required_argument, NULL, O_BIND},
        {"port", required_argument, NULL, O_PORT},
        {"unixsocket", required_argument, NULL, O_UNIX},
        {"requirepass", required_argument, NULL, O_PASS},
        {"metrics-port", required_argument, NULL, O_METRICS},
        {"maxclients", required_argument, NULL, O_MAXCLIENTS},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"max-bulk", required_argument, NULL, O_BULK},
        {"max-request", required_argument, NULL, O_REQUEST},
        {"append-wait-ms", required_argument, NULL, O_WAIT},
        {"max-streams", required_argument, NULL, O_STREAMS},
        {"port-file", required_argument, NULL, O_PORTFILE},
        {"wal-groups", required_argument, NULL, O_WALGROUPS},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    int ch;
    unsigned long long v;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case O_DIR: o.dir = optarg; break;
        case O_BIND: o.bind_addr = optarg; break;
        case O_UNIX: o.unix_path = optarg; break;
        case O_PASS: o.requirepass = optarg; break;
        case O_PORTFILE: o.port_file = optarg; break;
        case O_PORT:
            if (num(optarg, 65535, &v)) return 2;
            o.port = (int)v;
            break;
        case O_METRICS:
            if (num(optarg, 65535, &v)) return 2;
            o.metrics_port = (int)v;
            break;
        case O_MAXCLIENTS:
            if (num(optarg, 1000000, &v) || v == 0) return 2;
            o.max_clients = (uint32_t)v;
            break;
        case O_TIMEOUT:
            if (num(optarg, 86400u * 365, &v)) return 2;
            o.idle_timeout_s = (uint32_t)v;
            break;
        case O_BULK:
            if (num(optarg, 512ull << 20, &v) || v == 0) return 2;
            o.max_bulk_bytes = (size_t)v;
            break;
        case O_REQUEST:
            if (num(optarg, 1ull << 30, &v) || v == 0) return 2;
            o.max_request_bytes = (size_t)v;
            break;
        case O_WAIT:
            if (num(optarg, 3600000, &v)) return 2;
            o.append_wait_ms = (uint32_t)v;
            break;
        case O_STREAMS:
            if (num(optarg, 1000000, &v) || v == 0) return 2;
            o.max_streams = (uint32_t)v;
            break;
        case O_WALGROUPS:
            if (num(optarg, 64, &v)) return 2;
            o.wal_groups = (uint32_t)v;
            break;
        case O_VERSION: printf("seglogd %s\n", seglog_version()); return 0;
        case 'h':
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "seglogd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (o.requirepass && !*o.requirepass)
        o.requirepass = NULL;
    if (!is_loopback(o.bind_addr) && !o.requirepass) {
        fprintf(stderr, "seglogd: refusing to listen on %s without --requirepass "
                        "(only loopback addresses are served without a password)\n", o.bind_addr);
        return 2;
    }
    if (o.max_request_bytes < o.max_bulk_bytes + 64) {
        fprintf(stderr, "seglogd: --max-request must exceed --max-bulk\n");
        return 2;
    }
    server srv;
    if (server_open(&srv, &o) != 0) {
        server_close(&srv);
        return 1;
    }
    int rc = server_run(&srv);
    server_close(&srv);
    fprintf(stderr, "seglogd: store closed\n");
    return rc == 0 ? 0 : 1;
}
