/* An LD_PRELOAD shim for tools/compare: gives each outgoing IPv4 TCP connection to a
 * 127.0.0.0/8 address its own loopback source address, 127.a.b.c, before connecting.
 *
 * Why: the load generator opens all its connections from 127.0.0.1, and Transmission
 * keeps one peer per IP address (a second connection from the same address is closed
 * after its handshake) and for a while refuses an address that just disconnected. Real
 * leechers come from distinct addresses, so compare spreads them; every seeder gets the
 * same treatment. The connections themselves are ordinary loopback TCP.
 *
 * Environment: COMPARE_SRC_OFFSET (default 0) numbers the first connection; connection n
 * gets 127.(2 + n / 64516 % 250).(1 + n / 254 % 254).(1 + n % 254), so a run that starts
 * at a fresh offset never reuses an address an earlier run used. A socket already bound
 * (port or address set) is left alone.
 *
 * Build: cc -shared -fPIC -O2 -o spread_source.so spread_source.c -ldl
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

static atomic_ulong next_connection;
static atomic_int started;

static unsigned long take_number(void)
{
    if (atomic_exchange(&started, 1) == 0) {
        const char *offset = getenv("COMPARE_SRC_OFFSET");
        if (offset != NULL)
            atomic_store(&next_connection, strtoul(offset, NULL, 10));
    }
    return atomic_fetch_add(&next_connection, 1);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    static connect_fn real_connect;
    if (real_connect == NULL)
        real_connect = (connect_fn)dlsym(RTLD_NEXT, "connect");
    if (real_connect == NULL) {
        errno = ENOSYS;
        return -1;
    }
    if (addr != NULL && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *to = (const struct sockaddr_in *)addr;
        int type = 0;
        socklen_t type_len = sizeof(type);
        struct sockaddr_in bound;
        socklen_t bound_len = sizeof(bound);
        memset(&bound, 0, sizeof(bound));
        if ((ntohl(to->sin_addr.s_addr) >> 24) == 127 &&
            getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0 && type == SOCK_STREAM &&
            getsockname(fd, (struct sockaddr *)&bound, &bound_len) == 0 &&
            bound.sin_port == 0 && bound.sin_addr.s_addr == htonl(INADDR_ANY)) {
            unsigned long n = take_number();
            struct sockaddr_in from;
            memset(&from, 0, sizeof(from));
            from.sin_family = AF_INET;
            from.sin_addr.s_addr = htonl((127u << 24) | ((2 + n / 64516 % 250) << 16) |
                                         ((1 + n / 254 % 254) << 8) | (1 + n % 254));
            /* Failure to bind is not fatal: the kernel then picks 127.0.0.1 as usual. */
            (void)bind(fd, (const struct sockaddr *)&from, sizeof(from));
        }
    }
    return real_connect(fd, addr, len);
}
