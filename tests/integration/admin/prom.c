/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The family a sample belongs to (histogram/summary suffixes aside). */
static struct family *sample_family(struct state *st, const char *name, size_t n)
{
	return family(st, name, n);
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
		    strcmp(rest, "summary") && strcmp(rest, "untyped"))
			return fail(why, len, ln, "unknown type '%s'", rest);
		if (strcmp(rest, "counter") == 0 &&
		    (strlen(f->name) < 6 || strcmp(f->name + strlen(f->name) - 6, "_total")))
			return fail(why, len, ln, "counter %s does not end in _total", f->name);
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

int prom_parse(const char *text, struct prom *p, char *why, size_t len)
{
	struct state st = { 0 };
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
	if (r < 0)
		prom_free(p);
	return r;
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
