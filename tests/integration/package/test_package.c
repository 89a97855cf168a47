/* SPDX-License-Identifier: MIT */
/*
 * Builds the real packages from a copy of the source tree, unpacks them
 * into a temporary root and checks what an install would put on a machine:
 * the files, the maintainer scripts, and that the installed binaries run.
 * Host-only builds (no CUDA) and no test suite inside, to stay within a few
 * minutes on two cores.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#define VERSION "0.1.0"

static char work[64];

static void cleanup(void)
{
	char cmd[128];

	if (work[0] && !getenv("AC_KEEP_TEST_DIRS")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", work);
	}
}

TestSuite(package, .fini = cleanup, .timeout = 600);

static bool have(const char *prog)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

/* Runs a shell command; returns its exit status, output in @out if asked. */
static int sh(char **out, const char *fmt, ...)
{
	char cmd[4096], chunk[4096];
	size_t len = 0;
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	cr_assert(p, "popen: %s", strerror(errno));
	if (out) {
		*out = calloc(1, 1);
		while (fgets(chunk, sizeof(chunk), p)) {
			*out = realloc(*out, len + strlen(chunk) + 1);
			memcpy(*out + len, chunk, strlen(chunk) + 1);
			len += strlen(chunk);
		}
	} else {
		while (fgets(chunk, sizeof(chunk), p))
			;
	}
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void expect_file(const char *root, const char *path)
{
	char full[512];
	struct stat st;

	snprintf(full, sizeof(full), "%s/%s", root, path);
	cr_expect_eq(stat(full, &st), 0, "missing from the package: /%s", path);
}

/* A copy of the tree as a release tarball would have it: no builds, no git. */
static void copy_tree(const char *dst)
{
	const char *src = getenv("AC_SOURCE_ROOT");

	cr_assert(src, "AC_SOURCE_ROOT is not set (run through meson test)");
	cr_assert_eq(sh(NULL, "mkdir -p '%s' && tar -C '%s' --exclude=./.git "
			"--exclude='./build*' --exclude=./debian -cf - . | tar -C '%s' -xf -",
			dst, src, dst), 0, "copying the tree failed");
}

static void make_workdir(void)
{
	snprintf(work, sizeof(work), "/tmp/ac-pkg-XXXXXX");
	cr_assert(mkdtemp(work), "mkdtemp: %s", strerror(errno));
}

Test(package, deb_builds_installs_and_runs)
{
	char src[128], root[128], *out = NULL;
	int rc;

	if (!have("dpkg-buildpackage"))
		cr_skip_test("dpkg-buildpackage is not installed (package dpkg-dev)");
	make_workdir();
	snprintf(src, sizeof(src), "%s/asymcache-" VERSION, work);
	snprintf(root, sizeof(root), "%s/root", work);
	copy_tree(src);
	cr_assert_eq(sh(NULL, "cp -r '%s/packaging/debian' '%s/debian'", src, src), 0);

	rc = sh(NULL, "cd '%s' && ASYMCACHE_CUDA=disabled DEB_BUILD_OPTIONS='nocheck parallel=2' "
		"dpkg-buildpackage -b -uc -us > '%s/build.log' 2>&1", src, work);
	if (rc != 0) {
		sh(&out, "tail -40 '%s/build.log'", work);
		cr_assert_fail("dpkg-buildpackage failed (%d):\n%s", rc, out);
	}

	cr_assert_eq(sh(NULL, "mkdir -p '%s' && for d in '%s'/*.deb; do dpkg -x \"$d\" '%s' || exit 1; done",
			root, work, root), 0);
	cr_assert_eq(sh(&out, "ls '%s'/*.deb | xargs -n1 basename | sed 's/_.*//' | grep -v dbgsym | sort | tr '\\n' ' '",
			work), 0);
	cr_expect_str_eq(out, "asymcache-examples asymcached libasymcache-dev libasymcache0 ");
	free(out);
	/* The daemon's package: no demo or engine, the calibration tool. */
	cr_assert_eq(sh(&out, "dpkg-deb -c %s/asymcached_" VERSION "_*.deb", work), 0);
	cr_expect(strstr(out, "./usr/bin/asymcache-calibrate\n"), "%s", out);
	cr_expect_null(strstr(out, "asymcache-demo"), "%s", out);
	cr_expect_null(strstr(out, "asymcache-engine"), "%s", out);
	free(out);
	cr_assert_eq(sh(&out, "dpkg-deb -c %s/asymcache-examples_" VERSION "_*.deb", work), 0);
	cr_expect(strstr(out, "./usr/bin/asymcache-demo\n"), "%s", out);
	cr_expect(strstr(out, "./usr/bin/asymcache-engine\n"), "%s", out);
	cr_expect(strstr(out, "./usr/share/man/man1/asymcache-demo.1.gz\n"), "%s", out);
	cr_expect(strstr(out, "./usr/share/man/man1/asymcache-engine.1.gz\n"), "%s", out);
	free(out);

	/* asymcached */
	expect_file(root, "usr/sbin/asymcached");
	expect_file(root, "usr/bin/asymcachectl");
	expect_file(root, "lib/systemd/system/asymcached.service");
	expect_file(root, "usr/lib/sysusers.d/asymcache.conf");
	expect_file(root, "usr/lib/tmpfiles.d/asymcache.conf");
	expect_file(root, "usr/share/dbus-1/system.d/org.asymcache.Daemon1.conf");
	expect_file(root, "usr/share/dbus-1/system-services/org.asymcache.Daemon1.service");
	expect_file(root, "etc/asymcache/asymcached.conf");
	expect_file(root, "usr/share/man/man8/asymcached.8.gz");
	expect_file(root, "usr/share/man/man1/asymcachectl.1.gz");
	expect_file(root, "usr/share/man/man5/asymcached.conf.5.gz");
	expect_file(root, "usr/share/man/man1/asymcache-calibrate.1.gz");
	expect_file(root, "usr/share/bash-completion/completions/asymcachectl");
	/* libasymcache0 and -dev */
	cr_expect_eq(sh(NULL, "ls '%s'/usr/lib/*/libasymcache.so.0 >/dev/null", root), 0);
	cr_expect_eq(sh(NULL, "ls '%s'/usr/lib/*/pkgconfig/asymcache.pc >/dev/null", root), 0);
	expect_file(root, "usr/include/asymcache/asymcache.h");

	/* The unit points at the installed binary and is Type=notify. */
	cr_expect_eq(sh(NULL, "grep -qx 'ExecStart=/usr/sbin/asymcached --config=/etc/asymcache/asymcached.conf' "
			"'%s/lib/systemd/system/asymcached.service'", root), 0);
	cr_expect_eq(sh(NULL, "grep -qx 'Type=notify' '%s/lib/systemd/system/asymcached.service'",
			root), 0);
	/* sysusers creates the user and both groups. */
	cr_expect_eq(sh(NULL, "grep -q '^u asymcache ' '%s/usr/lib/sysusers.d/asymcache.conf' && "
			"grep -q '^g asymcache-admin ' '%s/usr/lib/sysusers.d/asymcache.conf'",
			root, root), 0);

	/* Maintainer side: conffile, user creation, service enabling. */
	cr_expect_eq(sh(&out, "dpkg-deb -I %s/asymcached_" VERSION "_*.deb conffiles", work), 0);
	cr_expect(strstr(out, "/etc/asymcache/asymcached.conf"), "conffiles: %s", out);
	free(out);
	cr_expect_eq(sh(&out, "dpkg-deb -I %s/asymcached_" VERSION "_*.deb postinst", work), 0);
	cr_expect(strstr(out, "systemd-sysusers asymcache.conf"), "postinst: %s", out);
	cr_expect(strstr(out, "asymcached.service"), "postinst enables the unit: %s", out);
	free(out);
	cr_expect_eq(sh(&out, "dpkg-deb -f %s/asymcached_" VERSION "_*.deb Depends", work), 0);
	cr_expect(strstr(out, "libsystemd0"), "Depends: %s", out);
	cr_expect(strstr(out, "liburing2"), "Depends: %s", out);
	/* postinst falls back to adduser where systemd-sysusers is missing. */
	cr_expect(strstr(out, "adduser"), "Depends: %s", out);
	/* The unit's ExecReload= runs /bin/kill, which a minimal root lacks. */
	cr_expect(strstr(out, "procps"), "Depends: %s", out);
	free(out);
	/* ... and that fallback makes the account sysusers.conf describes. */
	cr_expect_eq(sh(&out, "sed -n 's/^u asymcache - \\(\"[^\"]*\"\\) - -$/\\1/p' "
			"'%s/usr/lib/sysusers.d/asymcache.conf'", root), 0);
	cr_assert(out && *out, "no 'u asymcache - \"COMMENT\" - -' line in sysusers.conf");
	out[strcspn(out, "\n")] = '\0';
	{
		char *post = NULL;

		cr_expect_eq(sh(&post, "dpkg-deb -I %s/asymcached_" VERSION "_*.deb postinst",
				work), 0);
		cr_expect(strstr(post, out), "postinst's adduser lacks --gecos %s", out);
		cr_expect(strstr(post, "--home / "), "postinst's adduser: home is not /");
		cr_expect(strstr(post, "--ingroup asymcache "), "postinst's adduser: group");
		free(post);
	}
	free(out);

	/* The installed binaries run. */
	cr_expect_eq(sh(&out, "'%s/usr/sbin/asymcached' --version", root), 0);
	cr_expect(strncmp(out, "asymcached " VERSION, strlen("asymcached " VERSION)) == 0, "%s", out);
	free(out);
	cr_expect_eq(sh(&out, "'%s/usr/bin/asymcachectl' --version", root), 0);
	cr_expect_str_eq(out, "asymcachectl " VERSION "\n");
	free(out);

	/* -dev: a program builds from the installed header and .pc, and runs. */
	cr_assert_eq(sh(NULL, "printf '#include <asymcache/asymcache.h>\\n#include <stdio.h>\\n"
			"int main(void) { printf(\"%%%%s %%%%s\\\\n\", ac_version(), ac_strerror(-2)); "
			"return 0; }\\n' > '%s/dev.c'", work), 0);
	rc = sh(&out, "cd '%s' && pc=$(ls -d root/usr/lib/*/pkgconfig) && "
		"PKG_CONFIG_PATH=$PWD/$pc PKG_CONFIG_SYSROOT_DIR=$PWD/root "
		"cc dev.c -o dev $(PKG_CONFIG_PATH=$PWD/$pc PKG_CONFIG_SYSROOT_DIR=$PWD/root "
		"pkg-config --cflags --libs asymcache) 2>&1 && "
		"LD_LIBRARY_PATH=$(dirname $PWD/$pc) ./dev", work);
	cr_expect_eq(rc, 0, "building against libasymcache-dev: %s", out);
	cr_expect(out && strncmp(out, VERSION " ", strlen(VERSION " ")) == 0,
		  "ac_version() of the installed library: %s", out);
	free(out);
}

Test(package, rpm_builds_with_the_same_contents)
{
	char src[128], top[128], *out = NULL;
	int rc;

	if (!have("rpmbuild"))
		cr_skip_test("rpmbuild is not installed (package rpm)");
	make_workdir();
	snprintf(top, sizeof(top), "%s/rpmbuild", work);
	snprintf(src, sizeof(src), "%s/asymcache-" VERSION, work);
	copy_tree(src);
	cr_assert_eq(sh(NULL, "mkdir -p '%s/SOURCES' && tar -C '%s' -czf '%s/SOURCES/asymcache-" VERSION
			".tar.gz' asymcache-" VERSION, top, work, top), 0);
	/*
	 * --nodeps: on a Debian builder the rpm database is empty, so the
	 * BuildRequires cannot be checked; the Debian packages provide them.
	 */
	rc = sh(NULL, "rpmbuild -bb --nodeps --define '_topdir %s' --define 'cuda disabled' "
		"--define '_smp_mflags -j2' '%s/packaging/rpm/asymcache.spec' > '%s/rpm.log' 2>&1",
		top, src, work);
	if (rc != 0) {
		sh(&out, "tail -40 '%s/rpm.log'", work);
		cr_assert_fail("rpmbuild failed (%d):\n%s", rc, out);
	}
	cr_assert_eq(sh(&out, "rpm -qlp %s/RPMS/*/asymcached-" VERSION "-*.rpm 2>/dev/null", top), 0);
	cr_expect(strstr(out, "/usr/sbin/asymcached\n"), "%s", out);
	cr_expect(strstr(out, "/usr/bin/asymcachectl\n"), "%s", out);
	cr_expect(strstr(out, "/usr/share/dbus-1/system.d/org.asymcache.Daemon1.conf\n"), "%s", out);
	cr_expect(strstr(out, "/usr/lib/sysusers.d/asymcache.conf\n"), "%s", out);
	cr_expect(strstr(out, "asymcached.service\n"), "%s", out);
	cr_expect(strstr(out, "/etc/asymcache/asymcached.conf\n"), "%s", out);
	free(out);
	cr_assert_eq(sh(&out, "rpm -qlp %s/RPMS/*/libasymcache-devel-" VERSION "-*.rpm 2>/dev/null",
			top), 0);
	cr_expect(strstr(out, "/usr/include/asymcache/asymcache.h\n"), "%s", out);
	cr_expect(strstr(out, "asymcache.pc\n"), "%s", out);
	free(out);
	cr_assert_eq(sh(&out, "rpm -qp --scripts %s/RPMS/*/asymcached-" VERSION "-*.rpm 2>/dev/null",
			top), 0);
	cr_expect(strstr(out, "systemd-sysusers asymcache.conf"), "%s", out);
	free(out);
	cr_assert_eq(sh(&out, "rpm -qpR %s/RPMS/*/asymcached-" VERSION "-*.rpm 2>/dev/null",
			top), 0);
	cr_expect(strstr(out, "/usr/bin/kill\n"), "ExecReload= runs kill: %s", out);
	free(out);
	cr_assert_eq(sh(&out, "rpm -qp --scripts %s/RPMS/*/libasymcache-" VERSION "-*.rpm 2>/dev/null",
			top), 0);
	cr_expect(strstr(out, "postinstall program: /sbin/ldconfig"), "%s", out);
	cr_expect(strstr(out, "postuninstall program: /sbin/ldconfig"), "%s", out);
	free(out);
	cr_assert_eq(sh(&out, "rpm -qlp %s/RPMS/*/asymcache-examples-" VERSION "-*.rpm 2>/dev/null",
			top), 0);
	cr_expect(strstr(out, "/usr/bin/asymcache-demo\n"), "%s", out);
	cr_expect(strstr(out, "/usr/bin/asymcache-engine\n"), "%s", out);
	free(out);
	cr_assert_eq(sh(&out, "rpm -qlp %s/RPMS/*/asymcached-" VERSION "-*.rpm 2>/dev/null", top), 0);
	cr_expect(strstr(out, "/usr/bin/asymcache-calibrate\n"), "%s", out);
	cr_expect_null(strstr(out, "asymcache-demo"), "%s", out);
	free(out);
	/* The packaged binary runs. */
	cr_assert_eq(sh(NULL, "mkdir -p '%s/root' && cd '%s/root' && "
			"rpm2archive - < $(ls %s/RPMS/*/asymcached-" VERSION "-*.rpm) | tar -xzf -",
			work, work, top), 0);
	cr_expect_eq(sh(&out, "'%s/root/usr/sbin/asymcached' --version", work), 0);
	cr_expect(strncmp(out, "asymcached " VERSION, strlen("asymcached " VERSION)) == 0, "%s", out);
	free(out);
}
