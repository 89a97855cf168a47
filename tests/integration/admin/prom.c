/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prom.h"

struct family {
	char name[128];
	char type[16];
	bool help, typed, sampled, closed;
};

struct state {
	struct family *f;
	size_t nf;
	char *cur;	/* family whose samples are being read */
	bool om;	/* OpenMetrics 1.0.0 rules */
	bool eof;	/* "# EOF" seen */
};

static int fail(char *why, size_t len, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(why, len, "line %d: ", line);

	va_start(ap, fmt);
	vsnprintf(why + n, len - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static size_t metric_name_len(const char *s)
{
	size_t i = 0;

	if (!(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return 0;
	while (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':')
		i++;
	return i;
}

static size_t label_name_len(const char *s)
{
	size_t i = 0;

	if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	while (isalnum((unsigned char)s[i]) || s[i] == '_')
		i++;
	return i;
}

static struct family *family(struct state *st, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < st->nf; i++)
		if (strlen(st->f[i].name) == n && strncmp(st->f[i].name, name, n) == 0)
			return &st->f[i];
	st->f = realloc(st->f, (st->nf + 1) * sizeof(*st->f));
	memset(&st->f[st->nf], 0, sizeof(st->f[0]));
	snprintf(st->f[st->nf].name, sizeof(st->f[0].name), "%.*s", (int)n, name);
	return &st->f[st->nf++];
}

static struct family *find_family(struct state *st, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < st->nf; i++)
		if (strlen(st->f[i].name) == n && strncmp(st->f[i].name, name, n) == 0)
			return &st->f[i];
	return NULL;
}

/*
 * The family a sample belongs to: a histogram's _bucket, _sum and _count
 * and, in OpenMetrics, a counter's _total and an info's _info belong to
 * the family TYPE named.
 */
static struct family *sample_family(struct state *st, const char *name, size_t n)
{
	static const struct {
		const char *suffix, *type;
		bool om_only;
	} sfx[] = {
		{ "_bucket", "histogram", false }, { "_sum", "histogram", false },
		{ "_count", "histogram", false }, { "_total", "counter", true },
		{ "_info", "info", true },
	};
	struct family *f;
	size_t i, l;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		l = strlen(sfx[i].suffix);
		if ((sfx[i].om_only && !st->om) || n <= l ||
		    strncmp(name + n - l, sfx[i].suffix, l))
			continue;
		f = find_family(st, name, n - l);
		if (f && strcmp(f->type, sfx[i].type) == 0)
			return f;
	}
	return family(st, name, n);
}

static bool ends_with(const char *s, const char *sfx)
{
	size_t n = strlen(s), l = strlen(sfx);

	return n >= l && strcmp(s + n - l, sfx) == 0;
}

static int parse_value(const char *s, double *ret)
{
	char *end;

	if (strcmp(s, "NaN") == 0) {
		*ret = NAN;
		return 0;
	}
	if (strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0) {
		*ret = s[0] == '-' ? -INFINITY : INFINITY;
		return 0;
	}
	if (!*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*ret = strtod(s, &end);
	if (errno || *end)
		return -EINVAL;
	return 0;
}

static int parse_line(struct state *st, struct prom *p, char *l, int ln, char *why, size_t len)
{
	struct family *f;
	size_t n, i;
	char *lab = NULL, *v, *ts;
	double val;

	if (st->eof)
		return fail(why, len, ln, "a line after # EOF");
	if (st->om && strcmp(l, "# EOF") == 0) {
		st->eof = true;
		return 0;
	}
	if (l[0] == '#') {
		bool help = strncmp(l, "# HELP ", 7) == 0, type = strncmp(l, "# TYPE ", 7) == 0;
		char *rest;

		if (!help && !type)
			return 0;	/* a plain comment */
		n = metric_name_len(l + 7);
		if (!n || l[7 + n] != ' ')
			return fail(why, len, ln, "bad metric name in %.6s", l);
		f = family(st, l + 7, n);
		rest = l + 7 + n + 1;
		if (help) {
			if (f->help)
				return fail(why, len, ln, "second HELP for %s", f->name);
			f->help = true;
			return 0;
		}
		if (f->typed)
			return fail(why, len, ln, "second TYPE for %s", f->name);
		if (f->sampled)
			return fail(why, len, ln, "TYPE for %s after its samples", f->name);
		if (strcmp(rest, "counter") && strcmp(rest, "gauge") && strcmp(rest, "histogram") &&
		    strcmp(rest, "summary") && strcmp(rest, st->om ? "unknown" : "untyped") &&
		    (!st->om || strcmp(rest, "info")))
			return fail(why, len, ln, "unknown type '%s'", rest);
		if (!st->om && strcmp(rest, "counter") == 0 && !ends_with(f->name, "_total"))
			return fail(why, len, ln, "counter %s does not end in _total", f->name);
		/* OpenMetrics names the family; its samples carry _total. */
		if (st->om && strcmp(rest, "counter") == 0 && ends_with(f->name, "_total"))
			return fail(why, len, ln, "OpenMetrics counter family %s ends in _total",
				    f->name);
		/* What promtool check metrics says of asymcache_blocks_total. */
		if (strcmp(rest, "counter") && ends_with(f->name, "_total"))
			return fail(why, len, ln, "%s %s ends in _total, which only counters do",
				    rest, f->name);
		snprintf(f->type, sizeof(f->type), "%s", rest);
		f->typed = true;
		return 0;
	}

	n = metric_name_len(l);
	if (!n)
		return fail(why, len, ln, "bad metric name");
	f = sample_family(st, l, n);
	if (f->closed)
		return fail(why, len, ln, "samples of %s are not contiguous", f->name);
	if (st->cur && strcmp(st->cur, f->name)) {
		struct family *prev = family(st, st->cur, strlen(st->cur));

		prev->closed = true;
		f = sample_family(st, l, n);
	}
	free(st->cur);
	st->cur = strndup(l, n);
	f->sampled = true;
	v = l + n;
	if (*v == '{') {
		char *q = v + 1;

		lab = q;
		while (*q != '}') {
			size_t ln2 = label_name_len(q);

			if (!ln2 || q[ln2] != '=' || q[ln2 + 1] != '"')
				return fail(why, len, ln, "bad label at '%s'", q);
			q += ln2 + 2;
			while (*q != '"') {
				if (!*q || *q == '\n')
					return fail(why, len, ln, "unterminated label value");
				if (*q == '\\') {
					if (q[1] != '\\' && q[1] != '"' && q[1] != 'n')
						return fail(why, len, ln, "bad escape \\%c", q[1]);
					q++;
				}
				q++;
			}
			q++;
			if (*q == ',')
				q++;
			else if (*q != '}')
				return fail(why, len, ln, "expected , or } at '%s'", q);
		}
		*q = '\0';
		v = q + 1;
	}
	if (*v != ' ')
		return fail(why, len, ln, "no space before the value");
	v++;
	ts = strchr(v, ' ');
	if (ts) {
		char *end;

		*ts++ = '\0';
		strtoll(ts, &end, 10);
		if (!*ts || *end)
			return fail(why, len, ln, "bad timestamp '%s'", ts);
	}
	if (parse_value(v, &val) < 0)
		return fail(why, len, ln, "bad value '%s'", v);
	for (i = 0; i < p->n; i++)
		if (strlen(p->s[i].name) == n && strncmp(p->s[i].name, l, n) == 0 &&
		    strcmp(p->s[i].labels, lab ? lab : "") == 0)
			return fail(why, len, ln, "duplicate series %.*s{%s}", (int)n, l,
				    lab ? lab : "");
	p->s = realloc(p->s, (p->n + 1) * sizeof(*p->s));
	p->s[p->n].name = strndup(l, n);
	p->s[p->n].labels = strdup(lab ? lab : "");
	p->s[p->n].value = val;
	p->n++;
	return 0;
}

/*
 * Every histogram series: le increasing, counts cumulative, a +Inf bucket
 * last that equals _count. le must be the series' last label.
 */
static int check_histograms(const struct prom *p, char *why, size_t len)
{
	const char *prev_base = NULL, *prev_rest = NULL;
	double prev_le = -INFINITY, prev_v = 0;
	size_t i, j;

	for (i = 0; i < p->n; i++) {
		const struct prom_sample *s = &p->s[i];
		const char *le = strstr(s->labels, "le=\"");
		size_t base_len = strlen(s->name) - 7, rest_len;
		double lv, cnt = NAN;

		if (!ends_with(s->name, "_bucket"))
			continue;
		if (!le || le[strlen(le) - 1] != '"' ||
		    (le != s->labels && le[-1] != ','))
			return fail(why, len, 0, "%s{%s}: le is not the last label", s->name, s->labels);
		rest_len = le == s->labels ? 0 : (size_t)(le - s->labels - 1);
		if (strncmp(le + 4, "+Inf\"", 5) == 0)
			lv = INFINITY;
		else
			lv = strtod(le + 4, NULL);
		if (prev_base && strncmp(prev_base, s->name, base_len) == 0 &&
		    strlen(prev_rest) >= rest_len && strncmp(prev_rest, s->labels, rest_len) == 0 &&
		    prev_le != INFINITY) {
			if (lv <= prev_le || s->value < prev_v)
				return fail(why, len, 0, "%s{%s}: buckets not increasing", s->name,
					    s->labels);
		} else if (prev_base && prev_le != INFINITY) {
			return fail(why, len, 0, "%s: a series ends without le=\"+Inf\"", prev_base);
		}
		prev_base = s->name;
		prev_rest = s->labels;
		prev_le = lv;
		prev_v = s->value;
		if (lv != INFINITY)
			continue;
		for (j = 0; j < p->n; j++)
			if (strlen(p->s[j].name) == base_len + 6 &&
			    strncmp(p->s[j].name, s->name, base_len) == 0 &&
			    strcmp(p->s[j].name + base_len, "_count") == 0 &&
			    strlen(p->s[j].labels) == rest_len &&
			    strncmp(p->s[j].labels, s->labels, rest_len) == 0)
				cnt = p->s[j].value;
		if (cnt != s->value)
			return fail(why, len, 0, "%s{%s}: +Inf bucket %g, _count %g", s->name,
				    s->labels, s->value, cnt);
	}
	if (prev_base && prev_le != INFINITY)
		return fail(why, len, 0, "%s: the last series ends without le=\"+Inf\"", prev_base);
	return 0;
}

static int parse(const char *text, struct prom *p, bool om, char *why, size_t len)
{
	struct state st = { .om = om };
	char *copy, *line, *next;
	int ln = 0, r = 0;

	memset(p, 0, sizeof(*p));
	if (!*text || text[strlen(text) - 1] != '\n')
		return fail(why, len, 0, "empty, or the last line has no newline");
	copy = strdup(text);
	for (line = copy; *line; line = next) {
		next = strchr(line, '\n');
		*next++ = '\0';
		ln++;
		if (!*line)
			continue;
		r = parse_line(&st, p, line, ln, why, len);
		if (r < 0)
			break;
	}
	free(copy);
	free(st.f);
	free(st.cur);
	if (r >= 0 && om && !st.eof)
		r = fail(why, len, ln, "no # EOF at the end");
	if (r >= 0)
		r = check_histograms(p, why, len);
	if (r < 0)
		prom_free(p);
	return r;
}

int prom_parse(const char *text, struct prom *p, char *why, size_t len)
{
	return parse(text, p, false, why, len);
}

int prom_parse_openmetrics(const char *text, struct prom *p, char *why, size_t len)
{
	return parse(text, p, true, why, len);
}

double prom_value(const struct prom *p, const char *name, const char *labels)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->s[i].name, name) == 0 &&
		    strcmp(p->s[i].labels, labels ? labels : "") == 0)
			return p->s[i].value;
	return NAN;
}

void prom_free(struct prom *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->s[i].name);
		free(p->s[i].labels);
	}
	free(p->s);
	memset(p, 0, sizeof(*p));
}

int prom_promtool(const char *text, char *why, size_t len)
{
	const char *tool = getenv("AC_PROMTOOL");
	char cmd[512], out[] = "/tmp/ac-promtool-XXXXXX";
	FILE *p, *f;
	size_t n;
	int fd, st;

	if (!tool || !*tool)
		tool = system("command -v promtool >/dev/null 2>&1") == 0
			? "promtool" : NULL;
	if (!tool)
		return -ENOENT;
	fd = mkstemp(out);
	if (fd < 0)
		return -errno;
	close(fd);
	snprintf(cmd, sizeof(cmd), "'%s' check metrics >'%s' 2>&1", tool, out);
	p = popen(cmd, "w");
	if (!p) {
		unlink(out);
		return -errno;
	}
	fputs(text, p);
	st = pclose(p);
	why[0] = 0;
	f = fopen(out, "r");
	if (f) {
		n = fread(why, 1, len - 1, f);
		why[n] = 0;
		fclose(f);
	}
	unlink(out);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EINVAL;
}
