/*
 * `stepfs mount BUCKET MOUNTPOINT [-o opts] [-f] [-d] [-s]`, also run as
 * mount.stepfs / mount.fuse.stepfs by mount(8) for fstab entries
 * ("BUCKET MOUNTPOINT stepfs _netdev,allow_other 0 0"). Parses the options
 * (README "Mounting" lists them), opens the store, builds the struct stepfs
 * and runs the multithreaded FUSE loop, daemonized unless -f.
 */
#include "fs/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>

#include "engine/buf.h"
#include "engine/commit.h"
#include "engine/eventd.h"
#include "engine/log.h"
#include "engine/metrics.h"
#include "engine/sdnotify.h"
#include "engine/asl_s3.h"
#include "fs/bucketmap.h"
#include "fs/stepfs.h"
#include "fs/store.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: stepfs mount BUCKET MOUNTPOINT [-f] [-d] [-s] [-o OPT[,OPT...]]\n"
		"  BUCKET is s3://name[/prefix] or a local directory.\n"
		"  -f  stay in the foreground (use under systemd)   -d  FUSE debug output\n"
		"  -s  single-threaded\n"
		"options (-o):\n"
		"  allow_other, ro, rw, nodev, nosuid       as for any FUSE mount\n"
		"  uid=N gid=N umask=OCTAL                  owner/mode of objects without metadata\n"
		"  spool=DIR spool_max=SIZE                 write spool and its cap (default 8G)\n"
		"  attr_ttl=SECS neg_ttl=SECS cache_entries=N   metadata cache (10, 2, 100000)\n"
		"  part_size=SIZE part_max=SIZE parallel=N  multipart parts: the first two of\n"
		"                                           part_size (8M), each next pair twice\n"
		"                                           as large up to part_max (64M); parts\n"
		"                                           or ranged GETs in flight per file (4)\n"
		"  nostream                                 upload parts only at close, not while\n"
		"                                           the file is written\n"
		"  readahead=SIZE read_mem=SIZE small_file=SIZE  read-ahead window per file (32M),\n"
		"                                           all windows together (256M), objects\n"
		"                                           fetched whole (1M)\n"
		"  exact_attrs                              ls -l HEADs each entry not yet known for\n"
		"                                           its x-amz-meta-* mode/owner/mtime (default\n"
		"                                           for local directories and with\n"
		"                                           allow_other, allow_root or\n"
		"                                           default_permissions)\n"
		"  list_attrs                               ls -l uses the listing's size and time\n"
		"                                           with uid/gid/umask (default otherwise)\n"
		"  endpoint=URL region=R profile=P path_style ca_bundle=FILE   S3 connection\n"
		"  payload_signing=signed|unsigned checksum=auto|md5|none   S3 request integrity\n"
		"  log=FILE                                 log file when running in the background\n"
		"  events_file=FILE                         append one JSON line per commit (tests)\n"
		"  config=FILE                              events: rules, state machines, journal\n"
		"                                           (README \"Events and rules\")\n"
		"  metrics=ADDR                             serve Prometheus metrics on HOST:PORT\n"
		"                                           or a unix socket path\n"
		"  _netdev nofail noauto auto defaults user users exec noexec suid dev x-*  ignored\n"
		"SIZE takes K, M, G suffixes (powers of 1024).\n");
}

static int parse_size(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	case 't': case 'T': v <<= 40; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'B' || *end == 'b')
		end++;
	if (*end)
		return -1;
	*ret = v;
	return 0;
}

static int parse_uint(const char *s, int base, unsigned long *ret)
{
	char *end;

	errno = 0;
	*ret = strtoul(s, &end, base);
	return errno || end == s || *end ? -1 : 0;
}

/* The test sink: one JSON line per commit, appended with one write(2). */
struct file_sink {
	int fd;
	pthread_mutex_t lock;
};

static const char *kind_name(enum commit_kind k)
{
	switch (k) {
	case COMMIT_PUT: return "ObjectCreated:Put";
	case COMMIT_MULTIPART: return "ObjectCreated:CompleteMultipartUpload";
	case COMMIT_COPY: return "ObjectCreated:Copy";
	case COMMIT_DELETE: return "ObjectRemoved:Delete";
	}
	return "unknown";
}

static int file_sink_commit(void *arg, const struct commit_event *ev)
{
	struct file_sink *fsk = arg;
	json_t *j;
	char *text;
	size_t n;
	int r = 0;

	j = json_pack("{s:s, s:s, s:s, s:I, s:s?, s:s?, s:s?, s:i, s:f}", "event",
		      kind_name(ev->kind), "key", ev->key, "bucket", ev->bucket ? ev->bucket : "",
		      "size", (json_int_t)ev->size, "etag", ev->etag, "src_key", ev->src_key,
		      "local_path", ev->local_path, "pid", (int)ev->writer_pid, "time",
		      (double)ev->time.tv_sec + ev->time.tv_nsec / 1e9);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return -ENOMEM;
	n = strlen(text);
	text[n] = '\n'; /* replaces the NUL; written with its length */
	pthread_mutex_lock(&fsk->lock);
	if (write(fsk->fd, text, n + 1) != (ssize_t)(n + 1))
		r = -EIO;
	pthread_mutex_unlock(&fsk->lock);
	free(text);
	return r;
}

static void fuse_log_to_ours(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	log_at((int)level, "fuse: %s", line);
}

/* Default spool: per bucket and mount point, stable across restarts. */
static char *default_spool(const char *bucket, const char *mnt)
{
	unsigned char md[32];
	unsigned int mdn = 0;
	char hexs[17], *out = NULL, *base;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int i;

	if (!ctx)
		return NULL;
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, bucket, strlen(bucket) + 1);
	EVP_DigestUpdate(ctx, mnt, strlen(mnt));
	EVP_DigestFinal_ex(ctx, md, &mdn);
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < 8; i++)
		snprintf(hexs + 2 * i, 3, "%02x", md[i]);
	if (geteuid() == 0) {
		base = strdup("/var/cache/stepfs");
	} else if (getenv("XDG_CACHE_HOME")) {
		if (asprintf(&base, "%s/stepfs", getenv("XDG_CACHE_HOME")) < 0)
			base = NULL;
	} else if (asprintf(&base, "%s/.cache/stepfs", getenv("HOME") ? getenv("HOME") : "/tmp") <
		   0) {
		base = NULL;
	}
	if (base && asprintf(&out, "%s/spool-%s", base, hexs) < 0)
		out = NULL;
	free(base);
	return out;
}

struct mount_args {
	struct stepfs_opts o;
	json_t *store_opts;
	struct buf fuse_opts; /* -o string for libfuse */
	char *spool, *log, *events;
	char *config; /* events configuration (engine/config.h) */
	char *metrics; /* metrics=ADDR */
	int foreground, debug, single;
	int attrs;        /* -1: not given; 0: list_attrs; 1: exact_attrs */
	int others;       /* allow_other, allow_root or default_permissions given */
};

static int fuse_opt_append(struct buf *b, const char *opt)
{
	if (b->len && buf_putc(b, ',') < 0)
		return -1;
	return buf_puts(b, opt);
}

/* One -o option; returns 0, or -1 after printing an error. */
static int one_option(struct mount_args *a, char *opt)
{
	static const char *const ignored[] = { "defaults", "auto", "noauto", "user", "users",
					       "nouser", "owner", "_netdev", "nofail", "exec",
					       "noexec", "suid", "dev", "sync", "async", "atime",
					       "noatime", "relatime", "nodiratime", "strictatime",
					       "loud", "silent", "rw" };
	char *val = strchr(opt, '=');
	unsigned long u;
	uint64_t sz;
	size_t i;

	if (val)
		*val++ = '\0';
	for (i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		if (strcmp(opt, ignored[i]) == 0)
			return 0;
	if (strncmp(opt, "x-", 2) == 0 || strcmp(opt, "comment") == 0)
		return 0;
	if (strcmp(opt, "default_permissions") == 0) {
		a->others = 1; /* always passed to the kernel; asks for exact modes */
		return 0;
	}
	if (strcmp(opt, "allow_other") == 0 || strcmp(opt, "allow_root") == 0)
		a->others = 1;
	if (strcmp(opt, "allow_other") == 0 || strcmp(opt, "allow_root") == 0 ||
	    strcmp(opt, "nodev") == 0 || strcmp(opt, "nosuid") == 0) {
		return fuse_opt_append(&a->fuse_opts, opt) < 0 ? -1 : 0;
	}
	if (strcmp(opt, "ro") == 0) {
		a->o.ro = 1;
		return fuse_opt_append(&a->fuse_opts, "ro") < 0 ? -1 : 0;
	}
	if (strcmp(opt, "list_attrs") == 0 || strcmp(opt, "exact_attrs") == 0) {
		a->attrs = strcmp(opt, "exact_attrs") == 0;
		return 0;
	}
	if (strcmp(opt, "nostream") == 0) {
		a->o.stream = 0;
		return 0;
	}
	if (strcmp(opt, "path_style") == 0) {
		json_object_set_new(a->store_opts, "path_style", json_true());
		return 0;
	}
	if (!val || !*val) {
		fprintf(stderr, "stepfs mount: unknown option '%s' (or it needs '=VALUE')\n", opt);
		return -1;
	}
	if (strcmp(opt, "uid") == 0 && parse_uint(val, 10, &u) == 0) {
		a->o.uid = (uid_t)u;
	} else if (strcmp(opt, "gid") == 0 && parse_uint(val, 10, &u) == 0) {
		a->o.gid = (gid_t)u;
	} else if (strcmp(opt, "umask") == 0 && parse_uint(val, 8, &u) == 0 && u <= 0777) {
		a->o.umask = (mode_t)u;
	} else if (strcmp(opt, "spool") == 0) {
		free(a->spool);
		a->spool = strdup(val);
	} else if (strcmp(opt, "spool_max") == 0 && parse_size(val, &sz) == 0) {
		a->o.spool_max = sz;
	} else if (strcmp(opt, "attr_ttl") == 0 && parse_uint(val, 10, &u) == 0) {
		a->o.attr_ttl_ms = (int64_t)u * 1000;
	} else if (strcmp(opt, "neg_ttl") == 0 && parse_uint(val, 10, &u) == 0) {
		a->o.neg_ttl_ms = (int64_t)u * 1000;
	} else if (strcmp(opt, "cache_entries") == 0 && parse_uint(val, 10, &u) == 0 && u > 0) {
		a->o.cache_entries = u;
	} else if (strcmp(opt, "part_size") == 0 && parse_size(val, &sz) == 0 &&
		   sz >= (5u << 20) && sz <= ((uint64_t)5 << 30)) {
		a->o.part_size = sz;
	} else if (strcmp(opt, "part_max") == 0 && parse_size(val, &sz) == 0 &&
		   sz >= (5u << 20) && sz <= ((uint64_t)5 << 30)) {
		a->o.part_max = sz;
	} else if (strcmp(opt, "parallel") == 0 && parse_uint(val, 10, &u) == 0 && u >= 1 &&
		   u <= 32) {
		a->o.parallel = (int)u;
	} else if (strcmp(opt, "readahead") == 0 && parse_size(val, &sz) == 0 && sz >= 4096) {
		a->o.readahead_max = sz;
	} else if (strcmp(opt, "read_mem") == 0 && parse_size(val, &sz) == 0) {
		a->o.read_mem = sz;
	} else if (strcmp(opt, "small_file") == 0 && parse_size(val, &sz) == 0) {
		a->o.small_file = sz;
	} else if (strcmp(opt, "endpoint") == 0 || strcmp(opt, "region") == 0 ||
		   strcmp(opt, "profile") == 0 || strcmp(opt, "ca_bundle") == 0 ||
		   strcmp(opt, "payload_signing") == 0 || strcmp(opt, "checksum") == 0) {
		json_object_set_new(a->store_opts, opt, json_string(val));
	} else if (strcmp(opt, "log") == 0) {
		free(a->log);
		a->log = strdup(val);
	} else if (strcmp(opt, "events_file") == 0) {
		free(a->events);
		a->events = strdup(val);
	} else if (strcmp(opt, "config") == 0) {
		free(a->config);
		a->config = strdup(val);
	} else if (strcmp(opt, "metrics") == 0) {
		free(a->metrics);
		a->metrics = strdup(val);
	} else {
		fprintf(stderr, "stepfs mount: bad option '%s=%s'\n", opt, val);
		return -1;
	}
	return 0;
}

static void collect_fs(void *arg, struct buf *out)
{
	struct stepfs_stats st;

	stepfs_get_stats(arg, &st);
	metrics_sample(out, "stepfs_objects_committed_total", "counter",
		       "Objects committed to the bucket, by kind.", (double)st.puts, "kind", "put",
		       NULL);
	metrics_sample(out, "stepfs_objects_committed_total", "counter", NULL,
		       (double)st.multiparts, "kind", "multipart", NULL);
	metrics_sample(out, "stepfs_objects_committed_total", "counter", NULL, (double)st.copies,
		       "kind", "copy", NULL);
	metrics_sample(out, "stepfs_objects_committed_total", "counter", NULL, (double)st.deletes,
		       "kind", "delete", NULL);
	metrics_sample(out, "stepfs_uploaded_bytes_total", "counter",
		       "File data committed (PUT and multipart).", (double)st.bytes_uploaded, NULL);
	metrics_sample(out, "stepfs_downloaded_bytes_total", "counter", "Object data fetched.",
		       (double)st.bytes_downloaded, NULL);
	metrics_sample(out, "stepfs_upload_failures_total", "counter",
		       "Commits that failed (the data stays in the spool and is retried).",
		       (double)st.upload_failures, NULL);
	metrics_sample(out, "stepfs_upload_retries_total", "counter",
		       "Background commit attempts.", (double)st.retries, NULL);
	metrics_sample(out, "stepfs_spool_bytes", "gauge", "Spool space in use.",
		       (double)st.spool_bytes, NULL);
	metrics_sample(out, "stepfs_spool_files", "gauge", "Spool data files.",
		       (double)st.spool_files, NULL);
}

static void collect_events(void *arg, struct buf *out)
{
	eventd_metrics(arg, out);
}

static int parse_options(struct mount_args *a, const char *list)
{
	char *copy = strdup(list), *p, *save = NULL;
	int r = 0;

	if (!copy)
		return -1;
	for (p = strtok_r(copy, ",", &save); p && r == 0; p = strtok_r(NULL, ",", &save))
		r = one_option(a, p);
	free(copy);
	return r;
}

int cmd_mount(int argc, char **argv)
{
	struct mount_args a = { .o = STEPFS_OPTS_INIT };
	struct fuse_args fargs = FUSE_ARGS_INIT(0, NULL);
	struct file_sink fsink = { -1, PTHREAD_MUTEX_INITIALIZER };
	struct commit_sink sink = { file_sink_commit, &fsink };
	struct commit_sink jsink = { NULL, NULL }; /* filled once the engine runs */
	struct eventd *ev = NULL;
	struct bucketmap *bm = NULL;
	struct asl_s3_ops s3ops;
	struct metrics *mx = NULL;
	char everr[1024];
	struct store_error err;
	struct store *store = NULL;
	struct stepfs *fs = NULL;
	struct fuse *f = NULL;
	const char *pos[2] = { NULL, NULL };
	char mnt[PATH_MAX], bucket[PATH_MAX];
	int i, npos = 0, r, rc = 1, mounted = 0;

	a.store_opts = json_object();
	buf_init(&a.fuse_opts, 64 << 10);
	a.o.uid = getuid();
	a.o.gid = getgid();
	a.attrs = -1;
	for (i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
			usage(stdout);
			rc = 0;
			goto out;
		} else if (strcmp(s, "-f") == 0) {
			a.foreground = 1;
		} else if (strcmp(s, "-d") == 0) {
			a.debug = 1;
			a.foreground = 1;
		} else if (strcmp(s, "-s") == 0 && npos < 2) {
			a.single = 1;
		} else if (strcmp(s, "-n") == 0 || strcmp(s, "-v") == 0 || strcmp(s, "-s") == 0) {
			/* mount(8) helper flags: no mtab, verbose, sloppy */
		} else if (strcmp(s, "-t") == 0 && i + 1 < argc) {
			i++; /* file system type from mount(8) */
		} else if (strncmp(s, "-o", 2) == 0) {
			const char *list = s[2] ? s + 2 : (i + 1 < argc ? argv[++i] : NULL);

			if (!list) {
				fprintf(stderr, "stepfs mount: -o needs a value\n");
				rc = 2;
				goto out;
			}
			if (parse_options(&a, list) < 0) {
				rc = 2;
				goto out;
			}
		} else if (s[0] == '-' && s[1]) {
			fprintf(stderr, "stepfs mount: unknown flag '%s'\n", s);
			usage(stderr);
			rc = 2;
			goto out;
		} else if (npos < 2) {
			pos[npos++] = s;
		} else {
			fprintf(stderr, "stepfs mount: unexpected argument '%s'\n", s);
			rc = 2;
			goto out;
		}
	}
	if (npos != 2) {
		usage(stderr);
		rc = 2;
		goto out;
	}
	if (!realpath(pos[1], mnt)) {
		fprintf(stderr, "stepfs mount: mount point '%s': %s\n", pos[1], strerror(errno));
		goto out;
	}
	if (strncmp(pos[0], "s3://", 5) == 0) {
		snprintf(bucket, sizeof(bucket), "%s", pos[0]);
	} else if (!realpath(pos[0], bucket)) {
		fprintf(stderr, "stepfs mount: bucket directory '%s': %s\n", pos[0],
			strerror(errno));
		goto out;
	}
	a.o.bucket = bucket;
	a.o.mountpoint = mnt;
	/*
	 * Exact attributes (a HEAD per listed entry) where they matter or are
	 * cheap: other users' access is decided by the kernel from the modes,
	 * and a local directory's "HEAD" is a stat() and a small read.
	 */
	a.o.exact_attrs = a.attrs >= 0 ? a.attrs : a.others || strncmp(bucket, "s3://", 5) != 0;
	if (!a.spool)
		a.spool = default_spool(bucket, mnt);
	if (!a.spool) {
		fprintf(stderr, "stepfs mount: out of memory\n");
		goto out;
	}
	a.o.spool_dir = a.spool;
	if (a.config && a.events) {
		fprintf(stderr, "stepfs mount: config= and events_file= exclude each other\n");
		goto out;
	}
	/* validate the events configuration now; it starts after the fork below */
	if (a.config && eventd_check(a.config, everr, sizeof(everr)) < 0) {
		fprintf(stderr, "stepfs mount: %s\n", everr);
		goto out;
	}
	if (a.metrics) {
		/* bind once now so a bad address fails the mount; it serves after the fork */
		struct metrics *probe = metrics_new();

		r = probe ? metrics_start(probe, a.metrics, everr, sizeof(everr)) : -ENOMEM;
		metrics_free(probe);
		if (r < 0) {
			fprintf(stderr, "stepfs mount: metrics=%s: %s\n", a.metrics,
				probe ? everr : "out of memory");
			goto out;
		}
	}
	if (a.events) {
		fsink.fd = open(a.events, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fsink.fd < 0) {
			fprintf(stderr, "stepfs mount: events file '%s': %s\n", a.events,
				strerror(errno));
			goto out;
		}
	}
	memset(&err, 0, sizeof(err));
	store = store_open(bucket, a.store_opts, &err);
	if (!store) {
		fprintf(stderr, "stepfs mount: cannot open bucket '%s': %s\n", bucket,
			err.message[0] ? err.message : store_strerror(err.code));
		goto out;
	}
	fs = stepfs_new(&a.o, store, a.config ? &jsink : fsink.fd >= 0 ? &sink : NULL, &r);
	store = NULL; /* owned by fs now, or freed */
	if (!fs) {
		fprintf(stderr, "stepfs mount: cannot set up the mount: %s\n", strerror(-r));
		goto out;
	}
	fuse_set_log_func(fuse_log_to_ours);
	if (fuse_opt_append(&a.fuse_opts, "default_permissions") < 0 ||
	    buf_printf(&a.fuse_opts, ",fsname=%s,subtype=stepfs", bucket) < 0)
		goto out;
	fuse_opt_add_arg(&fargs, "stepfs");
	fuse_opt_add_arg(&fargs, "-o");
	fuse_opt_add_arg(&fargs, a.fuse_opts.data);
	if (a.debug)
		fuse_opt_add_arg(&fargs, "-d");
	f = fuse_new(&fargs, stepfs_fuse_ops(), sizeof(struct fuse_operations), fs);
	if (!f) {
		fprintf(stderr, "stepfs mount: cannot set up FUSE\n");
		goto out;
	}
	if (fuse_mount(f, mnt) != 0) {
		fprintf(stderr, "stepfs mount: cannot mount on '%s'\n", mnt);
		goto out;
	}
	mounted = 1;
	if (fuse_set_signal_handlers(fuse_get_session(f)) != 0)
		goto out;
	if (fuse_daemonize(a.foreground) != 0)
		goto out;
	if (!a.foreground) {
		/* fuse_daemonize() pointed stderr at /dev/null: log to a file */
		char *lp = NULL;
		int lfd;

		if (!a.log && asprintf(&lp, "%s.log", a.spool) < 0)
			lp = NULL;
		lfd = open(a.log ? a.log : lp ? lp : "/dev/null",
			   O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (lfd >= 0) {
			dup2(lfd, STDERR_FILENO);
			close(lfd);
		}
		free(lp);
	}
	if (a.config) {
		struct eventd_opts eo = EVENTD_OPTS_INIT;

		/* Map ItemReader/ResultWriter reach the mounted bucket by its name */
		eo.mountpoint = mnt;
		if (eventd_load(a.config, &ev, everr, sizeof(everr)) < 0 ||
		    bucketmap_for_config(bucket, a.store_opts, eventd_config(ev), &bm, everr,
					 sizeof(everr)) < 0) {
			log_err("%s", everr);
			goto out;
		}
		bucketmap_ops(bm, &s3ops);
		eo.s3 = &s3ops;
		if (eventd_run(ev, &eo, everr, sizeof(everr)) < 0) {
			log_err("%s", everr);
			goto out;
		}
		eventd_sink(ev, &jsink);
	}
	if (a.metrics) {
		/* after the fork, like the engine: the server is a thread */
		mx = metrics_new();
		if (!mx || metrics_add_collector(mx, collect_fs, fs) < 0 ||
		    (ev && metrics_add_collector(mx, collect_events, ev) < 0)) {
			log_err("metrics: out of memory");
			goto out;
		}
		if (metrics_start(mx, a.metrics, everr, sizeof(everr)) < 0) {
			log_err("metrics=%s: %s", a.metrics, everr);
			goto out;
		}
	}
	log_notice("mounted '%s' on '%s' (spool '%s')", bucket, mnt, a.spool);
	sdnotify_send("READY=1\nSTATUS=mounted"); /* Type=notify units (systemd/) */
	if (a.single) {
		r = fuse_loop(f);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();

		fuse_loop_cfg_set_max_threads(cfg, 16);
		fuse_loop_cfg_set_clone_fd(cfg, 0);
		r = fuse_loop_mt(f, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	sdnotify_send("STOPPING=1");
	fuse_remove_signal_handlers(fuse_get_session(f));
	/* libfuse's signal handler stores the signal number as the loop's result */
	rc = r == 0 || r == SIGTERM || r == SIGINT || r == SIGHUP ? 0 : 1;
out:
	if (f) {
		if (mounted)
			fuse_unmount(f);
		fuse_destroy(f);
	}
	fuse_opt_free_args(&fargs);
	metrics_free(mx); /* its collectors read fs and ev */
	stepfs_free(fs);
	bucketmap_close(bm); /* before the engine's loop goes */
	eventd_free(ev); /* after the last commit of the filesystem */
	bucketmap_free(bm);
	store_free(store);
	if (fsink.fd >= 0)
		close(fsink.fd);
	json_decref(a.store_opts);
	buf_release(&a.fuse_opts);
	free(a.spool);
	free(a.log);
	free(a.events);
	free(a.config);
	free(a.metrics);
	return rc;
}
