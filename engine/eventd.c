/*
 * The events daemon glue: config + task runner + router, built in the order
 * the fork of fuse_daemonize() requires (see eventd.h). The one place that
 * assembles them: `stepfs mount -o config=` uses it directly, fs/service.c
 * (watch, serve, workflows) once per configuration generation.
 */
#include "engine/eventd.h"

#include <stdio.h>
#include <stdlib.h>

#include "engine/asl.h"
#include "engine/asl_task.h"
#include "engine/buf.h"
#include "engine/config.h"
#include "engine/metrics.h"
#include "engine/router.h"
#include "engine/taskrun.h"

struct eventd {
	struct config *cfg;
	struct taskrun_config *tcfg;
	/* while running: */
	struct taskrun *tr;
	struct asl_task_ops ops;
	struct router *router;
};

void eventd_stop(struct eventd *d)
{
	if (!d)
		return;
	/* the router first: it stops the loop that drives the runner's tasks */
	router_free(d->router);
	d->router = NULL;
	taskrun_free(d->tr);
	d->tr = NULL;
}

void eventd_free(struct eventd *d)
{
	if (!d)
		return;
	eventd_stop(d);
	taskrun_config_free(d->tcfg);
	config_free(d->cfg);
	free(d);
}

/* Compile every definition now, so a reload never swaps in a broken machine. */
static int check_definitions(const struct config *cfg, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < cfg->nsms; i++) {
		struct asl_machine_opts mo = ASL_MACHINE_OPTS_INIT;
		struct asl_machine *m = NULL;
		char *msg = NULL;

		mo.name = cfg->sms[i].name;
		if (asl_machine_load_file(cfg->sms[i].definition, &mo, &m, &msg) != 0) {
			snprintf(err, errlen, "'%s': %s: state machine '%s' in '%s': %s", cfg->file,
				 cfg->sms[i].pointer, cfg->sms[i].name, cfg->sms[i].definition,
				 msg ? msg : "cannot compile");
			free(msg);
			return -1;
		}
		asl_machine_unref(m);
	}
	return 0;
}

int eventd_load(const char *config_path, struct eventd **ret, char *err, size_t errlen)
{
	struct eventd *d = calloc(1, sizeof(*d));
	char terr[1024];

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (config_load(config_path, &d->cfg, err, errlen) < 0 ||
	    check_definitions(d->cfg, err, errlen) < 0)
		goto fail;
	if (taskrun_config_parse(d->cfg->root, d->cfg->dir, &d->tcfg, terr, sizeof(terr)) < 0) {
		snprintf(err, errlen, "'%s': %s", config_path, terr);
		goto fail;
	}
	*ret = d;
	return 0;
fail:
	eventd_free(d);
	return -1;
}

/* Create the runner and the router (journal opened and locked); @run: start it. */
static int eventd_open(struct eventd *d, const struct eventd_opts *opts, int run, char *err,
		       size_t errlen)
{
	struct router_opts o = ROUTER_OPTS_INIT;

	if (d->router) {
		snprintf(err, errlen, "already running");
		return -1;
	}
	d->tr = taskrun_new(d->tcfg);
	if (!d->tr) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	taskrun_ops(d->tr, &d->ops);
	o.cfg = d->cfg;
	o.tasks = &d->ops;
	o.mountpoint = opts ? opts->mountpoint : NULL;
	o.wait_scale = opts ? opts->wait_scale : 1.0;
	o.s3 = opts ? opts->s3 : NULL;
	if (router_new(&o, &d->router, err, errlen) < 0)
		goto fail;
	if (run && router_start(d->router) < 0) {
		snprintf(err, errlen, "cannot start the engine thread");
		goto fail;
	}
	return 0;
fail:
	eventd_stop(d);
	return -1;
}

int eventd_run(struct eventd *d, const struct eventd_opts *opts, char *err, size_t errlen)
{
	return eventd_open(d, opts, 1, err, errlen);
}

int eventd_check(const char *config_path, char *err, size_t errlen)
{
	struct eventd *d = NULL;
	int r;

	if (eventd_load(config_path, &d, err, errlen) < 0)
		return -1;
	r = eventd_open(d, NULL, 0, err, errlen);
	eventd_free(d);
	return r;
}

int eventd_start(const char *config_path, const char *mountpoint, struct eventd **ret,
		 char *err, size_t errlen)
{
	struct eventd_opts o = EVENTD_OPTS_INIT;
	struct eventd *d = NULL;

	o.mountpoint = mountpoint;
	if (eventd_load(config_path, &d, err, errlen) < 0)
		return -1;
	if (eventd_run(d, &o, err, errlen) < 0) {
		eventd_free(d);
		return -1;
	}
	*ret = d;
	return 0;
}

const struct config *eventd_config(const struct eventd *d)
{
	return d->cfg;
}

struct router *eventd_router(struct eventd *d)
{
	return d->router;
}

void eventd_sink(struct eventd *d, struct commit_sink *ret)
{
	router_sink(d->router, ret);
}

void eventd_stats(struct eventd *d, struct router_stats *ret)
{
	router_stats(d->router, ret);
}

void eventd_metrics(struct eventd *d, struct buf *out)
{
	struct taskrun_durations td;
	char le[32];
	unsigned i;

	router_metrics(d->router, out);
	taskrun_get_durations(d->tr, &td);
	buf_puts(out, "# HELP stepfs_task_duration_seconds Run time of Task state programs "
		      "(start to result).\n# TYPE stepfs_task_duration_seconds histogram\n");
	for (i = 0; i < TASKRUN_NBUCKETS; i++) {
		snprintf(le, sizeof(le), "%g", taskrun_bucket_le(i));
		metrics_sample(out, "stepfs_task_duration_seconds_bucket", "histogram", NULL,
			       (double)td.bucket[i], "le", le, NULL);
	}
	metrics_sample(out, "stepfs_task_duration_seconds_bucket", "histogram", NULL,
		       (double)td.count, "le", "+Inf", NULL);
	metrics_sample(out, "stepfs_task_duration_seconds_sum", "histogram", NULL, td.sum_s, NULL);
	metrics_sample(out, "stepfs_task_duration_seconds_count", "histogram", NULL,
		       (double)td.count, NULL);
}
