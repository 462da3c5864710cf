/*
 * The daemon behind an event source. A "generation" is one configuration
 * with its task runner and router (a struct eventd, engine/eventd.h, which
 * assembles them); the sink forwards commits to the current
 * generation under a read lock, and a reload replaces the generation under
 * the write lock. The journal allows one router at a time (daemon lock), so
 * the old router is freed before the new one is created; if creating the new
 * one fails anyway (say, its journal cannot be opened), the old configuration,
 * kept in memory, is started again.
 *
 * Before the swap, new commits are held (write lock) and the old router is
 * given up to SERVICE_DRAIN_MS to finish what it runs: an Express execution
 * cut off by the swap is restarted from its first state by the new router, so
 * its tasks would run twice. Only longer executions are cut off.
 */
#include "fs/service.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/asl_s3.h"
#include "engine/commit.h"
#include "engine/config.h"
#include "engine/eventd.h"
#include "engine/log.h"
#include "engine/router.h"
#include "fs/bucketmap.h"

#define SERVICE_DRAIN_MS 10000

struct generation {
	struct eventd *ev;
	struct commit_sink sink;
	struct bucketmap *bm; /* Map ItemReader/ResultWriter buckets of this configuration */
	struct asl_s3_ops s3;
};

struct service {
	struct service_opts opts;
	char *config;
	char *mountpoint;
	char *bucket;
	pthread_rwlock_t lock; /* protects gen: read for commits, write for reload */
	struct generation *gen;
	const char **files; /* config + definitions of the current generation */
	size_t nfiles;
};

static void generation_free(struct generation *g)
{
	if (!g)
		return;
	bucketmap_close(g->bm); /* before the router's loop goes */
	eventd_free(g->ev);
	bucketmap_free(g->bm);
	free(g);
}

/* Start the loaded @ev (taken: freed on failure unless @keep). */
static int generation_new(struct service *s, struct eventd *ev, int keep, struct generation **ret,
			  char *err, size_t errlen)
{
	struct eventd_opts eo = EVENTD_OPTS_INIT;
	struct generation *g = calloc(1, sizeof(*g));

	if (!g) {
		if (!keep)
			eventd_free(ev);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	eo.mountpoint = s->mountpoint;
	eo.wait_scale = s->opts.wait_scale;
	if (bucketmap_for_config(s->opts.store_url, s->opts.store_opts, eventd_config(ev), &g->bm,
				 err, errlen) < 0) {
		if (!keep)
			eventd_free(ev);
		free(g);
		return -1;
	}
	bucketmap_ops(g->bm, &g->s3);
	eo.s3 = &g->s3;
	if (eventd_run(ev, &eo, err, errlen) < 0) {
		if (!keep)
			eventd_free(ev);
		bucketmap_free(g->bm);
		free(g);
		return -1;
	}
	g->ev = ev;
	eventd_sink(ev, &g->sink);
	*ret = g;
	return 0;
}

static void remember_files(struct service *s)
{
	const struct config *cfg = eventd_config(s->gen->ev);
	size_t i;

	free(s->files);
	s->nfiles = 0;
	s->files = calloc(cfg->nsms + 1, sizeof(*s->files));
	if (!s->files)
		return;
	s->files[s->nfiles++] = s->config;
	for (i = 0; i < cfg->nsms; i++)
		s->files[s->nfiles++] = cfg->sms[i].definition;
}

static int service_commit(void *arg, const struct commit_event *ev)
{
	struct service *s = arg;
	struct commit_event copy = *ev;
	int r;

	if (!copy.bucket || !*copy.bucket)
		copy.bucket = s->bucket;
	pthread_rwlock_rdlock(&s->lock);
	r = s->gen ? s->gen->sink.commit(s->gen->sink.arg, &copy) : -ESHUTDOWN;
	pthread_rwlock_unlock(&s->lock);
	return r;
}

int service_start(const struct service_opts *opts, struct service **ret, char *err,
		  size_t errlen)
{
	struct service *s;
	struct eventd *ev = NULL;

	if (!opts->config) {
		snprintf(err, errlen, "no configuration file given (--config FILE)");
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->opts = *opts;
	s->config = realpath(opts->config, NULL);
	if (!s->config) {
		snprintf(err, errlen, "cannot read configuration '%s': %s", opts->config,
			 strerror(errno));
		free(s);
		return -1;
	}
	s->mountpoint = opts->mountpoint ? strdup(opts->mountpoint) : NULL;
	s->bucket = strdup(opts->bucket ? opts->bucket : "local");
	{
		pthread_rwlockattr_t a;

		/* a steady stream of commits must not starve a reload */
		pthread_rwlockattr_init(&a);
		pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&s->lock, &a);
		pthread_rwlockattr_destroy(&a);
	}
	if (eventd_load(s->config, &ev, err, errlen) < 0 ||
	    generation_new(s, ev, 0, &s->gen, err, errlen) < 0) {
		service_free(s);
		return -1;
	}
	remember_files(s);
	*ret = s;
	return 0;
}

void service_sink(struct service *s, struct commit_sink *ret)
{
	ret->commit = service_commit;
	ret->arg = s;
}

int service_reload(struct service *s, char *err, size_t errlen)
{
	struct eventd *ev = NULL, *old;
	struct generation *g = NULL;
	char err2[1024];

	if (eventd_load(s->config, &ev, err, errlen) < 0)
		return -1;
	pthread_rwlock_wrlock(&s->lock);
	if (s->gen && router_wait_idle(eventd_router(s->gen->ev), SERVICE_DRAIN_MS) < 0)
		log_warn("reload of '%s': executions still running after %u s are restarted by the"
			 " new configuration", s->config, SERVICE_DRAIN_MS / 1000);
	/*
	 * The journal allows one router: stop the old one, but keep its
	 * configuration (not the file, which holds the new one) to fall back to.
	 */
	old = s->gen ? s->gen->ev : NULL;
	if (s->gen)
		bucketmap_close(s->gen->bm); /* before the router's loop goes */
	eventd_stop(old);
	if (s->gen)
		bucketmap_free(s->gen->bm);
	free(s->gen);
	s->gen = NULL;
	if (generation_new(s, ev, 0, &g, err, errlen) == 0) {
		s->gen = g;
		eventd_free(old);
		remember_files(s);
		pthread_rwlock_unlock(&s->lock);
		return 1;
	}
	log_err("reload of '%s' failed after stopping the old engine: %s; restarting it", s->config,
		err);
	if (!old || generation_new(s, old, 1, &s->gen, err2, sizeof(err2)) < 0) {
		log_err("cannot restart the previous configuration: %s; events are refused until"
			" a reload succeeds", old ? err2 : "none");
		eventd_free(old);
		/* the definitions' names went with it: watch the config file only */
		s->nfiles = s->files ? 1 : 0;
	}
	pthread_rwlock_unlock(&s->lock);
	return -1;
}

size_t service_watched_files(struct service *s, const char ***ret)
{
	*ret = s->files;
	return s->nfiles;
}

const char *service_journal(struct service *s)
{
	return s->gen ? eventd_config(s->gen->ev)->journal : NULL;
}

int service_wait_idle(struct service *s, unsigned timeout_ms)
{
	int r;

	pthread_rwlock_rdlock(&s->lock);
	r = s->gen ? router_wait_idle(eventd_router(s->gen->ev), timeout_ms) : 0;
	pthread_rwlock_unlock(&s->lock);
	return r;
}

void service_stats(struct service *s, struct router_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	pthread_rwlock_rdlock(&s->lock);
	if (s->gen)
		eventd_stats(s->gen->ev, ret);
	pthread_rwlock_unlock(&s->lock);
}

void service_metrics(struct service *s, struct buf *out)
{
	pthread_rwlock_rdlock(&s->lock);
	if (s->gen)
		eventd_metrics(s->gen->ev, out);
	pthread_rwlock_unlock(&s->lock);
}

void service_free(struct service *s)
{
	if (!s)
		return;
	generation_free(s->gen);
	pthread_rwlock_destroy(&s->lock);
	free(s->files);
	free(s->config);
	free(s->mountpoint);
	free(s->bucket);
	free(s);
}
