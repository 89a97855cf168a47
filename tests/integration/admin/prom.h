/* SPDX-License-Identifier: MIT */
/*
 * A strict parser for the Prometheus text exposition format 0.0.4 and
 * OpenMetrics 1.0.0, as far as asymcachectl stats --prometheus and the
 * daemon's /metrics use them. Stricter than Prometheus in
 * one way on purpose: a counter family's name must end in _total (the
 * OpenMetrics rule), so the file also reads right to OpenMetrics tools.
 */
#ifndef AC_TEST_PROM_H
#define AC_TEST_PROM_H

#include <stddef.h>

struct prom_sample {
	char *name;
	char *labels;	/* as written between the braces, "" when none */
	double value;
};

struct prom {
	struct prom_sample *s;
	size_t n;
};

/*
 * 0, or -EINVAL with the line and the reason in @why. Besides the syntax:
 * only counters end in _total (promtool's rule), and every histogram
 * series has increasing le (its last label), cumulative counts and a
 * +Inf bucket equal to its _count.
 */
int prom_parse(const char *text, struct prom *p, char *why, size_t len);
/*
 * The same for OpenMetrics 1.0.0: counter families are named without
 * _total (their samples carry it), info families, "# EOF" last.
 */
int prom_parse_openmetrics(const char *text, struct prom *p, char *why, size_t len);
/*
 * Prometheus's own check: `promtool check metrics` on @text (the text
 * format), where promtool is on PATH or $AC_PROMTOOL names it. 0 when it
 * passes, -EINVAL with its output in @why when not, -ENOENT without
 * promtool (bootstrap does not install the prometheus server for it).
 */
int prom_promtool(const char *text, char *why, size_t len);
/* The sample's value, NaN when there is no such series. */
double prom_value(const struct prom *p, const char *name, const char *labels);
void prom_free(struct prom *p);

#endif /* AC_TEST_PROM_H */
