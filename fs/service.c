/*
 * The daemon behind an event source. A "generation" is one configuration
 * with its task runner and router; the sink forwards commits to the current
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

#include "engine/asl.h"
#include "engine/asl_task.h"
#include "engine/commit.h"
#include "engine/config.h"
#include "engine/log.h"
#include "engine/router.h"
#include "engine/taskrun.h"

#define SERVICE_DRAIN_MS 10000

struct generation {
	struct config *cfg;
	struct taskrun_config *tcfg;
	struct taskrun *tr;
	struct asl_task_ops ops;
	struct router *router;
	struct commit_sink sink;
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
	router_free(g->router);
	taskrun_free(g->tr);
	taskrun_config_free(g->tcfg);
	config_free(g->cfg);
	free(g);
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

static int generation_new(struct service *s, struct config *cfg, struct generation **ret,
			  char *err, size_t errlen)
{
	struct router_opts ro = ROUTER_OPTS_INIT;
	struct generation *g = calloc(1, sizeof(*g));
	char msg[1024];

	if (!g) {
		config_free(cfg);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	g->cfg = cfg;
	if (taskrun_config_parse(cfg->root, cfg->dir, &g->tcfg, msg, sizeof(msg)) < 0) {
		snprintf(err, errlen, "'%s': %s", cfg->file, msg);
		goto fail;
	}
	g->tr = taskrun_new(g->tcfg);
	if (!g->tr) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	taskrun_ops(g->tr, &g->ops);
	ro.cfg = cfg;
	ro.tasks = &g->ops;
	ro.mountpoint = s->mountpoint;
	ro.wait_scale = s->opts.wait_scale;
	if (router_new(&ro, &g->router, err, errlen) < 0)
		goto fail;
	router_sink(g->router, &g->sink);
	if (router_start(g->router) < 0) {
		snprintf(err, errlen, "cannot start the engine thread");
		goto fail;
	}
	*ret = g;
	return 0;
fail:
	generation_free(g);
	return -1;
}

static int load_config(struct service *s, struct config **ret, char *err, size_t errlen)
{
	struct config *cfg = NULL;

	if (config_load(s->config, &cfg, err, errlen) < 0)
		return -1;
	if (check_definitions(cfg, err, errlen) < 0) {
		config_free(cfg);
		return -1;
	}
	*ret = cfg;
	return 0;
}

static void remember_files(struct service *s)
{
	const struct config *cfg = s->gen->cfg;
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
	struct config *cfg;

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
	if (load_config(s, &cfg, err, errlen) < 0 || generation_new(s, cfg, &s->gen, err, errlen) < 0) {
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
	struct config *cfg = NULL, *old_cfg;
	struct generation *g = NULL;
	char err2[1024];

	if (load_config(s, &cfg, err, errlen) < 0)
		return -1;
	pthread_rwlock_wrlock(&s->lock);
	if (s->gen && router_wait_idle(s->gen->router, SERVICE_DRAIN_MS) < 0)
		log_warn("reload of '%s': executions still running after %u s are restarted by the"
			 " new configuration", s->config, SERVICE_DRAIN_MS / 1000);
	/*
	 * Keep the running configuration (not the file, which holds the new
	 * one) to fall back to; the router borrows it, so free the router first.
	 */
	old_cfg = s->gen ? s->gen->cfg : NULL;
	if (s->gen)
		s->gen->cfg = NULL;
	generation_free(s->gen);
	s->gen = NULL;
	if (generation_new(s, cfg, &g, err, errlen) == 0) {
		s->gen = g;
		config_free(old_cfg);
		remember_files(s);
		pthread_rwlock_unlock(&s->lock);
		return 1;
	}
	log_err("reload of '%s' failed after stopping the old engine: %s; restarting it", s->config,
		err);
	if (!old_cfg || generation_new(s, old_cfg, &s->gen, err2, sizeof(err2)) < 0) {
		log_err("cannot restart the previous configuration: %s; events are refused until"
			" a reload succeeds", old_cfg ? err2 : "none");
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
	return s->gen ? s->gen->cfg->journal : NULL;
}

int service_wait_idle(struct service *s, unsigned timeout_ms)
{
	int r;

	pthread_rwlock_rdlock(&s->lock);
	r = s->gen ? router_wait_idle(s->gen->router, timeout_ms) : 0;
	pthread_rwlock_unlock(&s->lock);
	return r;
}

void service_stats(struct service *s, struct router_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	pthread_rwlock_rdlock(&s->lock);
	if (s->gen)
		router_stats(s->gen->router, ret);
	pthread_rwlock_unlock(&s->lock);
}

void service_metrics(struct service *s, struct buf *out)
{
	pthread_rwlock_rdlock(&s->lock);
	if (s->gen)
		router_metrics(s->gen->router, out);
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
