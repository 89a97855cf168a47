/* SPDX-License-Identifier: MIT */
/*
 * Packets on the daemon's socket as a client sends and receives them,
 * below any library: for the suites that speak protocol v1 by hand.
 */
#ifndef AC_TEST_TH_SOCK_H
#define AC_TEST_TH_SOCK_H

#include <stddef.h>
#include <sys/types.h>

/* A SOCK_SEQPACKET connection to @path; fd or -errno. */
int th_connect(const char *path);
/* One packet; 0 or -errno (-EPIPE once the daemon closed). */
int th_send(int fd, const void *buf, size_t len);
/*
 * One packet into @buf: its length, 0 on EOF, -ETIMEDOUT after
 * @timeout_ms (< 0: wait for ever), other -errno. A descriptor passed with
 * it goes to *@ret_fd (-1: none), or is closed when @ret_fd is NULL.
 */
ssize_t th_recv(int fd, void *buf, size_t cap, int timeout_ms, int *ret_fd);

#endif /* AC_TEST_TH_SOCK_H */
