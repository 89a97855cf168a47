/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* IEC units: pools are sized in powers of two, so GiB reads exactly. */
char *fmt_bytes(char buf[static CTL_FMT_MAX], uint64_t bytes)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	int i = -1;

	if (bytes < 1024) {
		snprintf(buf, CTL_FMT_MAX, "%" PRIu64 " B", bytes);
		return buf;
	}
	while (v >= 1024.0 && i < 4) {
		v /= 1024.0;
		i++;
	}
	snprintf(buf, CTL_FMT_MAX, v < 10.0 ? "%.2f %s" : v < 100.0 ? "%.1f %s" : "%.0f %s",
		 v, units[i]);
	return buf;
}

char *fmt_pct(char buf[static CTL_FMT_MAX], double num, double den)
{
	if (den <= 0.0)
		snprintf(buf, CTL_FMT_MAX, "-");
	else
		snprintf(buf, CTL_FMT_MAX, "%.1f %%", 100.0 * num / den);
	return buf;
}

char *fmt_duration(char buf[static CTL_FMT_MAX], uint64_t usec)
{
	uint64_t s = usec / 1000000;

	if (usec < 1000)
		snprintf(buf, CTL_FMT_MAX, "%" PRIu64 " us", usec);
	else if (usec < 1000000)
		snprintf(buf, CTL_FMT_MAX, "%.1f ms", usec / 1000.0);
	else if (s < 60)
		snprintf(buf, CTL_FMT_MAX, "%.1f s", usec / 1e6);
	else if (s < 3600)
		snprintf(buf, CTL_FMT_MAX, "%" PRIu64 "m %02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, CTL_FMT_MAX, "%" PRIu64 "h %02" PRIu64 "m", s / 3600,
			 s / 60 % 60);
	else
		snprintf(buf, CTL_FMT_MAX, "%" PRIu64 "d %02" PRIu64 "h", s / 86400,
			 s / 3600 % 24);
	return buf;
}

char *fmt_u64(char buf[static CTL_FMT_MAX], uint64_t v)
{
	snprintf(buf, CTL_FMT_MAX, "%" PRIu64, v);
	return buf;
}

char *fmt_rate(char buf[static CTL_FMT_MAX], double per_sec)
{
	if (per_sec >= 1e6)
		snprintf(buf, CTL_FMT_MAX, "%.2f M/s", per_sec / 1e6);
	else if (per_sec >= 1e3)
		snprintf(buf, CTL_FMT_MAX, "%.2f k/s", per_sec / 1e3);
	else
		snprintf(buf, CTL_FMT_MAX, "%.1f /s", per_sec);
	return buf;
}

const char *uid_name(uint32_t uid, char buf[static CTL_FMT_MAX])
{
	struct passwd *pw = getpwuid(uid);

	if (pw && strlen(pw->pw_name) < CTL_FMT_MAX)
		snprintf(buf, CTL_FMT_MAX, "%s", pw->pw_name);
	else
		snprintf(buf, CTL_FMT_MAX, "%" PRIu32, uid);
	return buf;
}

int parse_u32(const char *s, uint32_t *ret)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	if (v > UINT32_MAX)
		return -ERANGE;
	*ret = (uint32_t)v;
	return 0;
}

int parse_seconds(const char *s, uint64_t *ret_usec)
{
	char *end;
	double v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v <= 0.0 || v > 86400.0)
		return -EINVAL;
	*ret_usec = (uint64_t)(v * 1e6);
	return 0;
}

struct table {
	size_t ncols;
	size_t nrows;		/* including the header row */
	size_t cap;
	char **cells;
};

struct table *table_new(size_t ncols, ...)
{
	struct table *t;
	va_list ap;
	size_t i;

	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ncols = ncols;
	t->cap = 8;
	t->cells = calloc(t->cap * ncols, sizeof(char *));
	if (!t->cells)
		return table_free(t);
	va_start(ap, ncols);
	for (i = 0; i < ncols; i++) {
		t->cells[i] = strdup(va_arg(ap, const char *));
		if (!t->cells[i]) {
			va_end(ap);
			return table_free(t);
		}
	}
	va_end(ap);
	t->nrows = 1;
	return t;
}

int table_row(struct table *t, ...)
{
	va_list ap;
	size_t i;

	if (t->nrows == t->cap) {
		char **n = reallocarray(t->cells, t->cap * 2 * t->ncols, sizeof(char *));

		if (!n)
			return -ENOMEM;
		memset(n + t->cap * t->ncols, 0, t->cap * t->ncols * sizeof(char *));
		t->cells = n;
		t->cap *= 2;
	}
	va_start(ap, t);
	for (i = 0; i < t->ncols; i++) {
		const char *v = va_arg(ap, const char *);
		char **cell = &t->cells[t->nrows * t->ncols + i];

		*cell = strdup(v ? v : "-");
		if (!*cell) {
			va_end(ap);
			while (i--)
				free(t->cells[t->nrows * t->ncols + i]);
			return -ENOMEM;
		}
	}
	va_end(ap);
	t->nrows++;
	return 0;
}

void table_print(const struct table *t, FILE *f)
{
	size_t width[16] = { 0 };
	size_t r, i;

	for (r = 0; r < t->nrows; r++)
		for (i = 0; i < t->ncols && i < 16; i++) {
			const char *v = t->cells[r * t->ncols + i];
			size_t len = strlen(v + (r == 0 && v[0] == '>'));

			if (len > width[i])
				width[i] = len;
		}
	for (r = 0; r < t->nrows; r++) {
		for (i = 0; i < t->ncols && i < 16; i++) {
			const char *h = t->cells[i];
			const char *v = t->cells[r * t->ncols + i];
			bool right = h[0] == '>';
			bool last = i + 1 == t->ncols;

			if (r == 0 && right)
				v++;
			if (right)
				fprintf(f, "%*s", (int)width[i], v);
			else if (last)
				fputs(v, f);
			else
				fprintf(f, "%-*s", (int)width[i], v);
			fputs(last ? "\n" : "  ", f);
		}
	}
}

struct table *table_free(struct table *t)
{
	size_t i;

	if (!t)
		return NULL;
	if (t->cells)
		for (i = 0; i < t->cap * t->ncols; i++)
			free(t->cells[i]);
	free(t->cells);
	free(t);
	return NULL;
}
