/* SPDX-License-Identifier: MIT */
/*
 * A strict parser for the Prometheus text exposition format 0.0.4, as far
 * as asymcachectl stats --prometheus uses it. Stricter than Prometheus in
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

/* 0, or -EINVAL with the line and the reason in @why. */
int prom_parse(const char *text, struct prom *p, char *why, size_t len);
/* The sample's value, NaN when there is no such series. */
double prom_value(const struct prom *p, const char *name, const char *labels);
void prom_free(struct prom *p);

#endif /* AC_TEST_PROM_H */
