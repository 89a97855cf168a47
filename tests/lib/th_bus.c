/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "th_bus.h"

#define START_MS	10000
#define STOP_MS		10000

static const char conf_head[] =
	"<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
	" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
	"<busconfig>\n"
	"  <type>system</type>\n"
	"  <listen>unix:path=%s</listen>\n"
	"  <auth>EXTERNAL</auth>\n"
	"  <policy context=\"default\">\n"
	"    <allow user=\"*\"/>\n"
	"    <deny own=\"*\"/>\n"
	"    <deny send_type=\"method_call\"/>\n"
	"    <allow send_type=\"signal\"/>\n"
	"    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
	"    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
	"    <allow receive_type=\"method_call\"/>\n"
	"    <allow receive_type=\"method_return\"/>\n"
	"    <allow receive_type=\"error\"/>\n"
	"    <allow receive_type=\"signal\"/>\n"
	"    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus\"/>\n"
	"    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n"
	"    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus.Properties\"/>\n"
	"  </policy>\n"
	"%s"
	"</busconfig>\n";

int th_bus_init(struct th_bus *b, const char *tag, const char *policy)
{
	char conf[128], *text;
	int r;

	memset(b, 0, sizeof(*b));
	r = th_dir_make(b->dir, sizeof(b->dir), tag);
	if (r < 0)
		return r;
	snprintf(b->path, sizeof(b->path), "%s/bus", b->dir);
	snprintf(b->addr, sizeof(b->addr), "unix:path=%s", b->path);
	snprintf(conf, sizeof(conf), "%s/bus.conf", b->dir);
	if (asprintf(&text, conf_head, b->path, policy ? policy : "") < 0)
		return -ENOMEM;
	r = th_write_file(conf, text);
	free(text);
	return r;
}

static void child(const struct th_bus *b)
{
	char arg[160], log[128];
	int fd;

	/* A test killed by its timeout takes its bus along. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(log, sizeof(log), "%s/dbus.log", b->dir);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	snprintf(arg, sizeof(arg), "--config-file=%s/bus.conf", b->dir);
	execlp("dbus-daemon", "dbus-daemon", arg, "--nofork", "--nopidfile",
	       (char *)NULL);
	_exit(127);
}

int th_bus_start(struct th_bus *b)
{
	uint64_t end = th_now_ms() + START_MS;
	struct stat st;
	int status;

	/* A socket left by the last run would look ready at once. */
	unlink(b->path);
	fflush(NULL);
	b->pid = fork();
	if (b->pid < 0) {
		b->pid = 0;
		return -errno;
	}
	if (b->pid == 0)
		child(b);
	while (stat(b->path, &st) < 0) {
		if (waitpid(b->pid, &status, WNOHANG) == b->pid) {
			b->pid = 0;
			return -ECHILD;
		}
		if (th_now_ms() > end) {
			th_bus_stop(b);
			return -ETIMEDOUT;
		}
		usleep(10000);
	}
	return 0;
}

void th_bus_stop(struct th_bus *b)
{
	uint64_t end;
	int status;

	if (b->pid <= 0)
		return;
	kill(b->pid, SIGTERM);
	end = th_now_ms() + STOP_MS;
	while (waitpid(b->pid, &status, WNOHANG) == 0) {
		if (th_now_ms() > end) {
			kill(b->pid, SIGKILL);
			waitpid(b->pid, &status, 0);
			break;
		}
		usleep(10000);
	}
	b->pid = 0;
}

int th_bus_cleanup(struct th_bus *b)
{
	int r = 0;

	th_bus_stop(b);
	if (b->dir[0])
		r = th_dir_remove(b->dir);
	b->dir[0] = '\0';
	return r;
}
