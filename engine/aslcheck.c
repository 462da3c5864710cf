/*
 * Static checker for ASL definitions (see engine/aslcheck.h). Walks the
 * definition once, appending one diagnostic per problem; never stops at the
 * first problem, never evaluates anything.
 */
#include "engine/aslcheck.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"

struct ck {
	struct aslcheck_result *res;
	const struct aslcheck_opts *opts;
	int nerr;
	int oom;
};

__attribute__((format(printf, 4, 5))) static void diag(struct ck *c, const char *ptr,
						       const char *code, const char *fmt, ...)
{
	struct aslcheck_diag *d;
	struct buf m = BUF_INIT;
	va_list ap;

	c->nerr++;
	d = realloc(c->res->diags, (c->res->n + 1) * sizeof(*d));
	if (!d) {
		c->oom = 1;
		return;
	}
	c->res->diags = d;
	va_start(ap, fmt);
	if (buf_vprintf(&m, fmt, ap) < 0)
		c->oom = 1;
	va_end(ap);
	d = &c->res->diags[c->res->n];
	d->pointer = strdup(ptr);
	d->code = strdup(code);
	d->message = buf_detach(&m, NULL);
	if (!d->pointer || !d->code || !d->message) {
		free(d->pointer);
		free(d->code);
		free(d->message);
		c->oom = 1;
		return;
	}
	c->res->n++;
	c->res->nerrors++;
}

int aslcheck_definition(json_t *def, const struct aslcheck_opts *opts,
			struct aslcheck_result *ret)
{
	struct ck c = { ret, opts, 0, 0 };
	json_t *states, *start;

	if (!json_is_object(def)) {
		diag(&c, "", ASLCHECK_SCHEMA, "the definition must be a JSON object");
		goto out;
	}
	start = json_object_get(def, "StartAt");
	states = json_object_get(def, "States");
	if (!start)
		diag(&c, "", ASLCHECK_SCHEMA, "missing required field 'StartAt'");
	else if (!json_is_string(start))
		diag(&c, "/StartAt", ASLCHECK_SCHEMA, "'StartAt' must be a string");
	if (!states)
		diag(&c, "", ASLCHECK_SCHEMA, "missing required field 'States'");
	else if (!json_is_object(states))
		diag(&c, "/States", ASLCHECK_SCHEMA, "'States' must be an object");
	else if (json_is_string(start) && !json_object_get(states, json_string_value(start)))
		diag(&c, "/StartAt", ASLCHECK_MISSING_TARGET,
		     "'StartAt' names state '%s', which does not exist", json_string_value(start));
out:
	if (c.oom)
		return -ENOMEM;
	return c.nerr;
}

void aslcheck_result_release(struct aslcheck_result *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++) {
		free(r->diags[i].pointer);
		free(r->diags[i].code);
		free(r->diags[i].message);
	}
	free(r->diags);
	r->diags = NULL;
	r->n = 0;
	r->nerrors = 0;
}
