/*
 * helper_s3cli: a small client over the store API (fs/store.h) that the
 * integration scripts tests/it/s3_*.sh and tests/bench/s3.sh drive against a
 * real server. One operation per run:
 *
 *   helper_s3cli [-o OPTIONS_JSON] URL COMMAND ARGS...
 *     head KEY                      → JSON {size, etag, content_type, meta, mtime}
 *     put KEY FILE [PUTOPTS]        single PUT from a file
 *     putfile KEY FILE [PUTOPTS] [--part-size N] [--parallel N]   store_put_file
 *     get KEY FILE [--part-size N] [--parallel N]                 store_get_file
 *     getone KEY FILE               one GET (get_to_fd)
 *     range KEY OFF LEN FILE        get_range into FILE
 *     list [--prefix P] [--delimiter D] [--start-after S] [--max-keys N] [--all]
 *                                   → one JSON line per key/prefix, then {"pages": N}
 *     copy SRC DST [PUTOPTS]        (with --meta: metadata replaced)
 *     del KEY / delmany KEY...
 *     mpu-create KEY [PUTOPTS]      → upload id
 *     mpu-part KEY ID N FILE        → ETag
 *     mpu-complete KEY ID N:ETAG:SIZE...
 *     mpu-abort KEY ID
 *     mpu-list [PREFIX]             → JSON lines {key, upload_id}
 *     presign KEY [SECONDS]         → URL
 *     fdcheck KEY                   HEAD KEY, then count open sockets and those
 *                                   without FD_CLOEXEC → "sockets=N no_cloexec=M"
 *   PUTOPTS: --meta NAME=VALUE (repeatable) --content-type T --if-match ETAG --if-none-match
 *
 * Exit status: 0 ok, 2 usage, 10 + enum store_err on a store error (after
 * printing "error: <message>" on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fs/s3.h"
#include "fs/store.h"

static int usage(void)
{
	fprintf(stderr, "usage: helper_s3cli [-o JSON] URL COMMAND ARGS... (see the source)\n");
	return 2;
}

static int fail(enum store_err rc, const struct store_error *e)
{
	fprintf(stderr, "error: %s [%s]\n", e->message[0] ? e->message : store_strerror(rc),
		store_strerror(rc));
	return 10 + (int)rc;
}

struct putopts {
	struct store_put_opts po;
	json_t *meta;
	struct store_xfer_opts xo;
	int have_xo;
};

/* Parse trailing options; returns the index of the first non-option or -1. */
static int parse_putopts(int argc, char **argv, int i, struct putopts *p)
{
	struct store_xfer_opts xi = STORE_XFER_OPTS_INIT;

	p->xo = xi;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--meta") == 0 && i + 1 < argc) {
			char *eq = strchr(argv[++i], '=');

			if (!eq)
				return -1;
			if (!p->meta)
				p->meta = json_object();
			*eq = '\0';
			json_object_set_new(p->meta, argv[i], json_string(eq + 1));
			p->po.meta = p->meta;
		} else if (strcmp(argv[i], "--content-type") == 0 && i + 1 < argc) {
			p->po.content_type = argv[++i];
		} else if (strcmp(argv[i], "--if-match") == 0 && i + 1 < argc) {
			p->po.if_match = argv[++i];
		} else if (strcmp(argv[i], "--if-none-match") == 0) {
			p->po.if_none_match_star = 1;
		} else if (strcmp(argv[i], "--part-size") == 0 && i + 1 < argc) {
			p->xo.part_size = strtoull(argv[++i], NULL, 0);
			p->have_xo = 1;
		} else if (strcmp(argv[i], "--parallel") == 0 && i + 1 < argc) {
			p->xo.parallel = atoi(argv[++i]);
			p->have_xo = 1;
		} else {
			return -1;
		}
	}
	return i;
}

static void print_obj(const struct store_obj *o)
{
	json_t *j = json_pack("{s:I, s:s, s:s, s:I}", "size", (json_int_t)o->size, "etag", o->etag,
			      "content_type", o->content_type, "mtime",
			      (json_int_t)o->last_modified.tv_sec);
	char *s;

	json_object_set_new(j, "meta", o->meta ? json_incref(o->meta) : json_object());
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	printf("%s\n", s);
	free(s);
	json_decref(j);
}

static int open_in(const char *path, uint64_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "error: cannot open '%s': %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

static int open_out(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		fprintf(stderr, "error: cannot create '%s': %s\n", path, strerror(errno));
	return fd;
}

static int run(struct store *s, int argc, char **argv)
{
	struct store_error e;
	struct store_obj o;
	struct putopts p;
	const char *cmd = argv[0];
	enum store_err rc = STORE_OK;
	uint64_t size;
	int fd, status = 0;

	memset(&e, 0, sizeof(e));
	memset(&o, 0, sizeof(o));
	memset(&p, 0, sizeof(p));

	if (strcmp(cmd, "head") == 0 && argc == 2) {
		rc = store_head(s, argv[1], &o, &e);
		if (rc == STORE_OK)
			print_obj(&o);
	} else if ((strcmp(cmd, "put") == 0 || strcmp(cmd, "putfile") == 0) && argc >= 3) {
		if (parse_putopts(argc, argv, 3, &p) < 0)
			return usage();
		fd = open_in(argv[2], &size);
		if (fd < 0)
			return 1;
		if (strcmp(cmd, "put") == 0) {
			struct store_body b = STORE_BODY_FD(fd, 0, size);

			rc = store_put(s, argv[1], &b, &p.po, &o, &e);
		} else {
			rc = store_put_file(s, argv[1], fd, size, &p.po, p.have_xo ? &p.xo : NULL,
					    &o, &e);
		}
		close(fd);
		if (rc == STORE_OK)
			printf("%s\n", o.etag);
	} else if ((strcmp(cmd, "get") == 0 || strcmp(cmd, "getone") == 0) && argc >= 3) {
		if (parse_putopts(argc, argv, 3, &p) < 0)
			return usage();
		fd = open_out(argv[2]);
		if (fd < 0)
			return 1;
		if (strcmp(cmd, "get") == 0)
			rc = store_get_file(s, argv[1], fd, p.have_xo ? &p.xo : NULL, &o, &e);
		else
			rc = s->ops->get_to_fd(s, argv[1], fd, &o, &e);
		if (rc == STORE_OK && ftruncate(fd, (off_t)o.size) < 0)
			status = 1;
		close(fd);
	} else if (strcmp(cmd, "range") == 0 && argc == 5) {
		uint64_t off = strtoull(argv[2], NULL, 10), len = strtoull(argv[3], NULL, 10);
		char *buf = malloc(len ? len : 1);
		size_t got = 0;

		if (!buf)
			return 1;
		rc = store_get_range(s, argv[1], off, len, buf, &got, &e);
		if (rc == STORE_OK) {
			FILE *f = fopen(argv[4], "wb");

			if (!f || fwrite(buf, 1, got, f) != got)
				status = 1;
			if (f)
				fclose(f);
		}
		free(buf);
	} else if (strcmp(cmd, "list") == 0) {
		struct store_list_opts lo = STORE_LIST_OPTS_INIT;
		struct store_list l;
		char *tok = NULL;
		int all = 0, pages = 0, i;
		size_t k;

		for (i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--prefix") == 0 && i + 1 < argc)
				lo.prefix = argv[++i];
			else if (strcmp(argv[i], "--delimiter") == 0 && i + 1 < argc)
				lo.delimiter = argv[++i];
			else if (strcmp(argv[i], "--start-after") == 0 && i + 1 < argc)
				lo.start_after = argv[++i];
			else if (strcmp(argv[i], "--max-keys") == 0 && i + 1 < argc)
				lo.max_keys = atoi(argv[++i]);
			else if (strcmp(argv[i], "--all") == 0)
				all = 1;
			else
				return usage();
		}
		do {
			memset(&l, 0, sizeof(l));
			lo.token = tok;
			rc = store_list_page(s, &lo, &l, &e);
			if (rc != STORE_OK)
				break;
			pages++;
			for (k = 0; k < l.n; k++) {
				json_t *j = json_pack("{s:s, s:I, s:s}", "key", l.entries[k].key,
						      "size", (json_int_t)l.entries[k].obj.size,
						      "etag", l.entries[k].obj.etag);
				char *sj = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);

				printf("%s\n", sj);
				free(sj);
				json_decref(j);
			}
			for (k = 0; k < l.nprefixes; k++) {
				json_t *j = json_pack("{s:s}", "prefix", l.prefixes[k]);
				char *sj = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);

				printf("%s\n", sj);
				free(sj);
				json_decref(j);
			}
			free(tok);
			tok = l.next_token ? strdup(l.next_token) : NULL;
			store_list_release(&l);
		} while (all && tok);
		free(tok);
		if (rc == STORE_OK)
			printf("{\"pages\":%d}\n", pages);
	} else if (strcmp(cmd, "copy") == 0 && argc >= 3) {
		if (parse_putopts(argc, argv, 3, &p) < 0)
			return usage();
		rc = store_copy(s, argv[1], argv[2], &p.po, &o, &e);
		if (rc == STORE_OK)
			printf("%s\n", o.etag);
	} else if (strcmp(cmd, "del") == 0 && argc == 2) {
		rc = store_delete(s, argv[1], &e);
	} else if (strcmp(cmd, "delmany") == 0 && argc >= 2) {
		rc = store_delete_many(s, (const char *const *)argv + 1, (size_t)argc - 1, &e);
	} else if (strcmp(cmd, "mpu-create") == 0 && argc >= 2) {
		char *id = NULL;

		if (parse_putopts(argc, argv, 2, &p) < 0)
			return usage();
		rc = s->ops->mpu_create(s, argv[1], &p.po, &id, &e);
		if (rc == STORE_OK)
			printf("%s\n", id);
		free(id);
	} else if (strcmp(cmd, "mpu-part") == 0 && argc == 5) {
		struct store_part part;
		struct store_body b;

		fd = open_in(argv[4], &size);
		if (fd < 0)
			return 1;
		b = (struct store_body)STORE_BODY_FD(fd, 0, size);
		rc = s->ops->mpu_put_part(s, argv[1], argv[2], atoi(argv[3]), &b, &part, &e);
		close(fd);
		if (rc == STORE_OK)
			printf("%d:%s:%" PRIu64 "\n", part.number, part.etag, part.size);
	} else if (strcmp(cmd, "mpu-complete") == 0 && argc >= 4) {
		size_t n = (size_t)argc - 3, i;
		struct store_part *parts = calloc(n, sizeof(*parts));

		for (i = 0; parts && i < n; i++) {
			char *a = argv[3 + i], *c1 = strchr(a, ':'), *c2 = c1 ? strrchr(a, ':') : NULL;

			if (!c1 || c2 == c1) {
				free(parts);
				return usage();
			}
			parts[i].number = atoi(a);
			snprintf(parts[i].etag, sizeof(parts[i].etag), "%.*s", (int)(c2 - c1 - 1),
				 c1 + 1);
			parts[i].size = strtoull(c2 + 1, NULL, 10);
		}
		if (!parts)
			return 1;
		rc = s->ops->mpu_complete(s, argv[1], argv[2], parts, n, &o, &e);
		free(parts);
		if (rc == STORE_OK)
			printf("%s\n", o.etag);
	} else if (strcmp(cmd, "mpu-abort") == 0 && argc == 3) {
		rc = s->ops->mpu_abort(s, argv[1], argv[2], &e);
	} else if (strcmp(cmd, "mpu-list") == 0 && argc <= 2) {
		struct store_upload *u = NULL;
		size_t n = 0, i;

		rc = s->ops->mpu_list(s, argc == 2 ? argv[1] : "", &u, &n, &e);
		for (i = 0; rc == STORE_OK && i < n; i++) {
			json_t *j = json_pack("{s:s, s:s}", "key", u[i].key, "upload_id",
					      u[i].upload_id);
			char *sj = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);

			printf("%s\n", sj);
			free(sj);
			json_decref(j);
		}
		for (i = 0; i < n; i++) {
			free(u[i].key);
			free(u[i].upload_id);
		}
		free(u);
	} else if (strcmp(cmd, "presign") == 0 && argc >= 2) {
		char *url = s3_presign_get(s, argv[1], argc > 2 ? atol(argv[2]) : 300, &e);

		if (!url)
			rc = e.code ? e.code : STORE_EINVAL;
		else
			printf("%s\n", url);
		free(url);
	} else if (strcmp(cmd, "fdcheck") == 0 && argc == 2) {
		/* the keep-alive connection stays open in the pool after the HEAD */
		rc = store_head(s, argv[1], &o, &e);
		if (rc == STORE_OK) {
			DIR *d = opendir("/proc/self/fd");
			struct dirent *de;
			int socks = 0, leaky = 0;

			while (d && (de = readdir(d))) {
				char path[300], target[64];
				ssize_t n;
				int fdn = atoi(de->d_name);

				if (de->d_name[0] == '.' || fdn == dirfd(d))
					continue;
				snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
				n = readlink(path, target, sizeof(target) - 1);
				if (n <= 0)
					continue;
				target[n] = '\0';
				if (strncmp(target, "socket:", 7) != 0)
					continue;
				socks++;
				if (!(fcntl(fdn, F_GETFD) & FD_CLOEXEC))
					leaky++;
			}
			if (d)
				closedir(d);
			printf("sockets=%d no_cloexec=%d\n", socks, leaky);
		}
	} else {
		return usage();
	}
	store_obj_release(&o);
	json_decref(p.meta);
	if (rc != STORE_OK)
		return fail(rc, &e);
	return status;
}

int main(int argc, char **argv)
{
	json_t *opts = NULL;
	json_error_t jerr;
	struct store_error e;
	struct store *s;
	int i = 1, status;

	if (argc > 2 && strcmp(argv[1], "-o") == 0) {
		opts = json_loads(argv[2], 0, &jerr);
		if (!opts) {
			fprintf(stderr, "error: -o: %s\n", jerr.text);
			return 2;
		}
		i = 3;
	}
	if (argc - i < 2)
		return usage();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	json_object_seed(0);
	memset(&e, 0, sizeof(e));
	s = store_open(argv[i], opts, &e);
	if (!s) {
		status = fail(e.code, &e);
		goto out;
	}
	status = run(s, argc - i - 1, argv + i + 1);
	store_free(s);
out:
	json_decref(opts);
	curl_global_cleanup();
	return status;
}
