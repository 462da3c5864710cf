/*
 * The events daemon glue: config + task runner + router, built in the order
 * the fork of fuse_daemonize() requires (see eventd.h).
 */
#include "engine/eventd.h"

#include <stdio.h>
#include <stdlib.h>

#include "engine/asl_task.h"
#include "engine/config.h"
#include "engine/router.h"
#include "engine/taskrun.h"

struct eventd {
	struct config *cfg;
	struct taskrun_config *tcfg;
	struct taskrun *tr;
	struct asl_task_ops ops;
	struct router *router;
};

void eventd_free(struct eventd *d)
{
	if (!d)
		return;
	/* the router first: it stops the loop that drives the runner's tasks */
	router_free(d->router);
	taskrun_free(d->tr);
	taskrun_config_free(d->tcfg);
	config_free(d->cfg);
	free(d);
}

static int eventd_build(const char *path, const char *mountpoint, int run, struct eventd **ret,
			char *err, size_t errlen)
{
	struct router_opts o = ROUTER_OPTS_INIT;
	struct eventd *d = calloc(1, sizeof(*d));
	char terr[1024];

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (config_load(path, &d->cfg, err, errlen) < 0)
		goto fail;
	if (taskrun_config_parse(d->cfg->root, d->cfg->dir, &d->tcfg, terr, sizeof(terr)) < 0) {
		snprintf(err, errlen, "'%s': %s", path, terr);
		goto fail;
	}
	d->tr = taskrun_new(d->tcfg);
	if (!d->tr) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	taskrun_ops(d->tr, &d->ops);
	o.cfg = d->cfg;
	o.tasks = &d->ops;
	o.mountpoint = mountpoint;
	if (router_new(&o, &d->router, err, errlen) < 0)
		goto fail;
	if (run && router_start(d->router) < 0) {
		snprintf(err, errlen, "cannot start the engine thread");
		goto fail;
	}
	*ret = d;
	return 0;
fail:
	eventd_free(d);
	return -1;
}

int eventd_check(const char *config_path, char *err, size_t errlen)
{
	struct eventd *d = NULL;

	if (eventd_build(config_path, NULL, 0, &d, err, errlen) < 0)
		return -1;
	eventd_free(d);
	return 0;
}

int eventd_start(const char *config_path, const char *mountpoint, struct eventd **ret,
		 char *err, size_t errlen)
{
	return eventd_build(config_path, mountpoint, 1, ret, err, errlen);
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
	router_metrics(d->router, out);
}
