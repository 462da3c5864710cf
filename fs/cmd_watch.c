/*
 * stepfs watch: drop-folder mode. The watcher (fs/watch.c) reports each
 * completed file once to the service (config, rules, journal, engine); with
 * --upload each file is first committed to a bucket ("S3 Sync"), and its
 * event raised only once the upload succeeded. The configuration and the
 * definitions it names are watched: a valid edit is swapped in, an invalid
 * one is logged and the running version stays. SIGHUP reloads too.
 */
#include "fs/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/buf.h"
#include "engine/commit.h"
#include "engine/event.h"
#include "engine/log.h"
#include "engine/loop.h"
#include "engine/metrics.h"
#include "engine/router.h"
#include "engine/sdnotify.h"
#include "fs/service.h"
#include "fs/store.h"
#include "fs/watch.h"

static void watch_usage(FILE *f)
{
	fprintf(f,
		"usage: stepfs watch DIR --config FILE [options]\n\n"
		"Watch DIR (recursively) and raise an ObjectCreated:Put event for every file\n"
		"that lands in it, once it is complete; the configuration's notification rules\n"
		"start state machines on them, as for a mount (keys are paths relative to DIR).\n\n"
		"  --config FILE      configuration: state machines, rules, tasks (required)\n"
		"  --bucket NAME      bucket name in events (default: the config's, or DIR's name)\n"
		"  --quiet-ms N       a file must be left alone this long before it counts (200)\n"
		"  --ignore REGEX     skip base names matching this POSIX ERE\n"
		"                     (default: dot files, *~, *.tmp, *.part, *.partial, *.swp, *.crdownload)\n"
		"  --no-deletes       do not raise ObjectRemoved:Delete for removed files\n"
		"  --upload URL       first copy each file to s3://bucket[/prefix] or a local bucket\n"
		"                     directory; the event is raised once the upload succeeded\n"
		"  --endpoint URL     S3 endpoint for --upload (default: AWS); also --region, --path-style\n"
		"  --metrics ADDR     serve Prometheus metrics on HOST:PORT or a unix socket path\n"
		"  --wait-scale F     multiply Wait/Retry delays (tests)\n"
		"  --once             process what is there and what arrives until idle, then exit\n");
}

/* A decimal number in 0..@max; 0 or -EINVAL. */
static int parse_uint(const char *s, unsigned long max, unsigned *ret)
{
	unsigned long v;
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

struct upload_sink {
	struct store *store;
	struct commit_sink next;
	struct store_xfer_opts xfer;
};

/* Commit the file to the bucket, then raise its event with the bucket's ETag. */
static int upload_commit(void *arg, const struct commit_event *ev)
{
	struct upload_sink *u = arg;
	struct store_obj obj = { 0 };
	struct store_error se = { 0 };
	struct commit_event out = *ev;
	enum store_err e;
	struct stat st;
	int fd, r;

	/* no event could follow (the journal refuses it): upload nothing either */
	if (!event_utf8_valid(ev->key))
		return -EILSEQ;
	if (ev->kind == COMMIT_DELETE) {
		e = store_delete(u->store, ev->key, &se);
		if (e != STORE_OK && e != STORE_ENOTFOUND) {
			log_err("cannot delete '%s' from the bucket: %s", ev->key, se.message);
			return -store_err_to_errno(e);
		}
		return u->next.commit(u->next.arg, ev);
	}
	fd = open(ev->local_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	e = store_put_file(u->store, ev->key, fd, (uint64_t)st.st_size, NULL, &u->xfer, &obj, &se);
	close(fd);
	if (e != STORE_OK) {
		log_err("cannot upload '%s': %s (kept; retried)", ev->local_path, se.message);
		return -store_err_to_errno(e);
	}
	out.size = obj.size ? obj.size : (uint64_t)st.st_size;
	out.etag = obj.etag[0] ? obj.etag : ev->etag;
	out.kind = strchr(obj.etag, '-') ? COMMIT_MULTIPART : COMMIT_PUT;
	r = u->next.commit(u->next.arg, &out);
	store_obj_release(&obj);
	return r;
}

static void collect_watch(void *arg, struct buf *out)
{
	struct watch_stats st;

	watch_get_stats(arg, &st);
	metrics_sample(out, "stepfs_watch_files_reported_total", "counter",
		       "Files reported as events.", (double)st.reported, NULL);
	metrics_sample(out, "stepfs_watch_duplicates_total", "counter",
		       "Candidates skipped because their fingerprint was already reported.",
		       (double)st.duplicates, NULL);
	metrics_sample(out, "stepfs_watch_rescans_total", "counter", "Full rescans.",
		       (double)st.rescans, NULL);
	metrics_sample(out, "stepfs_watch_overflows_total", "counter", "inotify queue overflows.",
		       (double)st.overflows, NULL);
	metrics_sample(out, "stepfs_watch_recovered_total", "counter",
		       "Files found by a rescan rather than an event.", (double)st.recovered, NULL);
	metrics_sample(out, "stepfs_watch_directories", "gauge", "Directories watched.",
		       (double)st.directories, NULL);
	metrics_sample(out, "stepfs_watch_sink_errors_total", "counter",
		       "Events refused (failed upload, journal error, full queue); each is retried.",
		       (double)st.sink_errors, NULL);
	metrics_sample(out, "stepfs_watch_deferred_total", "counter",
		       "Checks postponed because the file was still open for writing.",
		       (double)st.deferred, NULL);
}

static void collect_router(void *arg, struct buf *out)
{
	service_metrics(arg, out);
}

/* (Re)arm inotify watches on the directories of the config and definitions. */
static void arm_config_watch(int ifd, struct service *svc)
{
	const char **files;
	size_t n = service_watched_files(svc, &files), i;

	for (i = 0; i < n; i++) {
		char *copy = strdup(files[i]);

		if (!copy)
			continue;
		(void)inotify_add_watch(ifd, dirname(copy),
					IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ONLYDIR);
		free(copy);
	}
}

/* Does this inotify batch touch one of the watched files? */
static int config_touched(int ifd, struct service *svc)
{
	char bufv[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	const char **files;
	size_t n = service_watched_files(svc, &files), i;
	ssize_t len;
	int hit = 0;

	while ((len = read(ifd, bufv, sizeof(bufv))) > 0) {
		char *p;

		for (p = bufv; p < bufv + len;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			for (i = 0; ev->len && i < n; i++) {
				const char *base = strrchr(files[i], '/');

				if (base && strcmp(base + 1, ev->name) == 0)
					hit = 1;
			}
			p += sizeof(*ev) + ev->len;
		}
	}
	return hit;
}

static void reload(struct service *svc, int ifd, const char *why)
{
	char err[2048];
	int r = service_reload(svc, err, sizeof(err));

	if (r < 0)
		log_err("configuration not reloaded (%s): %s; the running version stays", why, err);
	else if (r > 0) {
		log_notice("configuration reloaded (%s)", why);
		arm_config_watch(ifd, svc);
	}
}

int cmd_watch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "bucket", required_argument, NULL, 'b' },
		{ "quiet-ms", required_argument, NULL, 'q' },
		{ "ignore", required_argument, NULL, 'i' },
		{ "no-deletes", no_argument, NULL, 'D' },
		{ "upload", required_argument, NULL, 'u' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "region", required_argument, NULL, 'r' },
		{ "path-style", no_argument, NULL, 'P' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "wait-scale", required_argument, NULL, 'w' },
		{ "once", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct service_opts so = SERVICE_OPTS_INIT;
	struct watch_opts wo = WATCH_OPTS_INIT;
	struct upload_sink up = { .xfer = STORE_XFER_OPTS_INIT };
	const char *upload = NULL, *metrics_addr = NULL;
	json_t *store_opts = json_object();
	struct service *svc = NULL;
	struct metrics *mx = NULL;
	struct watch *w = NULL;
	struct commit_sink svc_sink, up_sink;
	char err[2048], *dir = NULL;
	int c, once = 0, rc = 1, sfd = -1, ifd = -1;
	sigset_t sigs;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:b:q:i:Du:e:r:Pm:w:oh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': so.config = optarg; break;
		case 'b': wo.bucket = optarg; break;
		case 'q':
			if (parse_uint(optarg, 3600000, &wo.quiet_ms) < 0) {
				fprintf(stderr, "stepfs watch: --quiet-ms '%s': not a number of"
					" milliseconds (0..3600000)\n", optarg);
				json_decref(store_opts);
				return 2;
			}
			break;
		case 'i': wo.ignore_regex = optarg; break;
		case 'D': wo.report_deletes = 0; break;
		case 'u': upload = optarg; break;
		case 'e': json_object_set_new(store_opts, "endpoint", json_string(optarg)); break;
		case 'r': json_object_set_new(store_opts, "region", json_string(optarg)); break;
		case 'P': json_object_set_new(store_opts, "path_style", json_true()); break;
		case 'm': metrics_addr = optarg; break;
		case 'w': {
			char *end;

			so.wait_scale = strtod(optarg, &end);
			if (end == optarg || *end || !(so.wait_scale >= 0)) {
				fprintf(stderr, "stepfs watch: --wait-scale '%s': not a"
					" non-negative number\n", optarg);
				json_decref(store_opts);
				return 2;
			}
			break;
		}
		case 'o': once = 1; break;
		case 'h': watch_usage(stdout); json_decref(store_opts); return 0;
		default: watch_usage(stderr); json_decref(store_opts); return 2;
		}
	}
	if (optind != argc - 1 || !so.config) {
		watch_usage(stderr);
		json_decref(store_opts);
		return 2;
	}
	dir = realpath(argv[optind], NULL);
	if (!dir) {
		fprintf(stderr, "stepfs watch: cannot watch '%s': %s\n", argv[optind], strerror(errno));
		goto out;
	}
	/* SIGTERM/SIGINT stop, SIGHUP reloads: block them before any thread starts */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);

	so.mountpoint = dir;
	so.bucket = wo.bucket;
	/* Map ItemReader/ResultWriter reach the upload bucket by its name */
	so.store_url = upload;
	so.store_opts = store_opts;
	if (service_start(&so, &svc, err, sizeof(err)) < 0) {
		fprintf(stderr, "stepfs watch: %s\n", err);
		goto out;
	}
	service_sink(svc, &svc_sink);
	wo.sink = &svc_sink;
	if (upload) {
		struct store_error se = { 0 };

		up.store = store_open(upload, store_opts, &se);
		if (!up.store) {
			fprintf(stderr, "stepfs watch: --upload '%s': %s\n", upload, se.message);
			goto out;
		}
		up.next = svc_sink;
		up_sink.commit = upload_commit;
		up_sink.arg = &up;
		wo.sink = &up_sink;
	}
	wo.dir = dir;
	wo.state_db = service_journal(svc);
	w = watch_new(&wo, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "stepfs watch: %s\n", err);
		goto out;
	}
	if (metrics_addr) {
		mx = metrics_new();
		if (!mx || metrics_add_collector(mx, collect_watch, w) < 0 ||
		    metrics_add_collector(mx, collect_router, svc) < 0 ||
		    metrics_start(mx, metrics_addr, err, sizeof(err)) < 0) {
			fprintf(stderr, "stepfs watch: %s\n", mx ? err : "out of memory");
			goto out;
		}
	}
	if (watch_start(w) < 0) {
		fprintf(stderr, "stepfs watch: cannot start the watcher thread\n");
		goto out;
	}
	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ifd >= 0)
		arm_config_watch(ifd, svc);
	log_notice("watching '%s' with '%s'", dir, so.config);
	sdnotify_send("READY=1\nSTATUS=watching");

	for (;;) {
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN }, { .fd = ifd, .events = POLLIN } };
		struct signalfd_siginfo si;

		if (once) {
			usleep(200000);
			if (watch_wait_idle(w, 600000) == 0 && service_wait_idle(svc, 600000) == 0 &&
			    watch_wait_idle(w, 1000) == 0)
				break;
			continue;
		}
		if (poll(p, ifd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP) {
				reload(svc, ifd, "SIGHUP");
				continue;
			}
			log_notice("stopping on signal %u", si.ssi_signo);
			break;
		}
		if (ifd >= 0 && p[1].revents && config_touched(ifd, svc)) {
			usleep(200000); /* let an editor finish writing */
			(void)config_touched(ifd, svc);
			reload(svc, ifd, "file changed");
		}
	}
	sdnotify_send("STOPPING=1");
	rc = 0;
out:
	watch_free(w);
	metrics_free(mx);
	service_free(svc);
	store_free(up.store);
	json_decref(store_opts);
	if (sfd >= 0)
		close(sfd);
	if (ifd >= 0)
		close(ifd);
	free(dir);
	return rc;
}
