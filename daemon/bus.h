/* SPDX-License-Identifier: MIT */
/*
 * asymcached's admin interface on D-Bus (sd-bus), and the names both ends
 * agree on. asymcachectl includes this header for the names only; it has no
 * other daemon dependency.
 *
 * The bus connection is driven from the daemon's io_uring loop through its
 * watch, timer and prepare hooks. No thread of its own, so every handler
 * sees the index between two loop iterations and needs no lock.
 */
#ifndef AC_DAEMON_BUS_H
#define AC_DAEMON_BUS_H

#define AC_BUS_NAME		"org.asymcache.Daemon1"
#define AC_BUS_PATH		"/org/asymcache/Daemon1"
#define AC_BUS_INTERFACE	"org.asymcache.Daemon1"
/*
 * Pool N's object is AC_BUS_POOL_PATH "/N" (N from 0), interface
 * AC_BUS_POOL_INTERFACE: its blocks, counters, retention and EvictBlocks,
 * the same members the daemon's object has for pool 0.
 */
#define AC_BUS_POOL_PATH	AC_BUS_PATH "/pool"
#define AC_BUS_POOL_INTERFACE	"org.asymcache.Pool1"

/* Errors of our own; anything else is an errno mapped by sd-bus. */
#define AC_BUS_ERROR_NOT_PERMITTED	"org.asymcache.Daemon1.Error.NotPermitted"
#define AC_BUS_ERROR_NO_SUCH_NAMESPACE	"org.asymcache.Daemon1.Error.NoSuchNamespace"
#define AC_BUS_ERROR_NO_SUCH_POLICY	"org.asymcache.Daemon1.Error.NoSuchPolicy"
#define AC_BUS_ERROR_NEEDS_RESTART	"org.asymcache.Daemon1.Error.NeedsRestart"
#define AC_BUS_ERROR_INVALID_CONFIG	"org.asymcache.Daemon1.Error.InvalidConfig"

/* Environment variable naming a private bus, for tests and containers. */
#define AC_BUS_ADDRESS_ENV	"AC_DBUS_ADDRESS"

/* Signatures of the structured properties and method replies. */
#define AC_BUS_POOLS_SIG	"a(usituu)"	/* id backend device bytes block_bytes nblocks */
#define AC_BUS_SESSION_SIG	"(tuusuuu)"	/* id pid uid name pins writing retained */
#define AC_BUS_SESSIONS_SIG	"a" AC_BUS_SESSION_SIG
/*
 * id model layers heads dim dtype tokens bpb cached pinned cost-file
 * cost-mismatch evictions window-query-tokens window-hit-tokens
 */
#define AC_BUS_NAMESPACE_SIG	"(usuuusutuussttt)"
#define AC_BUS_NAMESPACES_SIG	"a" AC_BUS_NAMESPACE_SIG
/*
 * ListSessions and ListNamespaces give every row the caller may see in
 * one reply; the ...Page methods give at most a page (AC_BUS_PAGE_MAX)
 * and the cursor of the next, 0 after the last.
 */
#define AC_BUS_PAGE_MAX		1024u

#ifndef AC_BUS_NAMES_ONLY

struct daemon;
struct bus;

/*
 * Connects to the bus (d->cfg.dbus_address, else $AC_DBUS_ADDRESS, else
 * the system bus, which honours $DBUS_SYSTEM_BUS_ADDRESS), publishes the
 * object, takes the name and hooks the connection into the daemon's loop:
 * a watch on the bus fd and a one-second timer for PropertiesChanged, the
 * STATUS line and reconnecting after the bus went away.
 * A bus that cannot be reached now is retried from the timer: the cache
 * serves clients whether or not the admin interface is up. Returns 0, or
 * -errno (out of memory, no timer) with nothing left registered.
 */
int bus_open(struct daemon *d, struct bus **ret_bus);
/* Releases the name and the connection. Accepts NULL; returns NULL. */
struct bus *bus_close(struct bus *b);

#endif /* AC_BUS_NAMES_ONLY */
#endif /* AC_DAEMON_BUS_H */
