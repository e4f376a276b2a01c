/* slow_listen.c -- an LD_PRELOAD shim for test_ops.py: listen(2) waits
 * 300 ms before it runs, so a socket that is visible between its bind and
 * its listen is visible for that long. Test only; never installed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <sys/socket.h>
#include <time.h>

int listen(int fd, int backlog)
{
    int (*real)(int, int) = (int (*)(int, int))dlsym(RTLD_NEXT, "listen");
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return real ? real(fd, backlog) : -1;
}
