/* SPDX-License-Identifier: MIT */
/*
 * asymcached's admin interface on D-Bus (sd-bus), and the names both ends
 * agree on. asymcachectl includes this header for the names only; it has no
 * other daemon dependency.
 *
 * The bus connection is driven from the daemon's io_uring loop: bus_fd()
 * and bus_events() say what to poll, bus_dispatch() runs every queued
 * message, and bus_tick() is called from the loop's periodic timer. No
 * thread of its own, so every handler sees the index between two loop
 * iterations and needs no lock.
 */
#ifndef AC_DAEMON_BUS_H
#define AC_DAEMON_BUS_H

#define AC_BUS_NAME		"org.asymcache.Daemon1"
#define AC_BUS_PATH		"/org/asymcache/Daemon1"
#define AC_BUS_INTERFACE	"org.asymcache.Daemon1"

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
#define AC_BUS_SESSIONS_SIG	"a(tuusuu)"	/* id pid uid name pins writing */
#define AC_BUS_NAMESPACES_SIG	"a(usuuusutuu)"	/* id model layers heads dim dtype tokens bpb cached pinned */

#ifndef AC_BUS_NAMES_ONLY

#include <stdbool.h>
#include <stdint.h>

struct ac_daemon;
struct bus;

/*
 * Connects to the bus named by @address (NULL: $AC_DBUS_ADDRESS, else the
 * system bus, which honours $DBUS_SYSTEM_BUS_ADDRESS), publishes the object
 * and takes the name. Returns 0 or -errno; on error nothing is left open.
 */
int bus_open(struct ac_daemon *d, const char *address, struct bus **ret_bus);
struct bus *bus_close(struct bus *b);

int bus_fd(const struct bus *b);
/* poll(2) events the connection waits for now (POLLIN, maybe POLLOUT). */
int bus_events(struct bus *b);
/* Processes everything that is queued; returns 0 or -errno (fatal). */
int bus_dispatch(struct bus *b);
/*
 * Periodic work: emits PropertiesChanged for counters that moved since the
 * last tick and flushes. Cheap when nothing changed.
 */
int bus_tick(struct bus *b);
/* Tells watchers the policy changed (called after any switch). */
void bus_policy_changed(struct bus *b);

#endif /* AC_BUS_NAMES_ONLY */
#endif /* AC_DAEMON_BUS_H */
