/*
 * struct bucketmap: bucket names -> object stores (fs/store.h), served to
 * the ASL engine as its struct asl_s3_ops (engine/asl_s3.h), so that a
 * Distributed Map's ItemReader (s3:getObject, s3:listObjectsV2) and
 * ResultWriter (s3:putObject) reach the mounted bucket and any other
 * configured one by the name the definition uses.
 *
 * Names: `stepfs mount` and `stepfs watch --upload` add their own bucket
 * under bucketmap_default_name() of its URL ("s3://photos/in" -> "photos",
 * a local directory "/srv/data/photos" -> "photos"), or under the config's
 * "Bucket" name when it sets one; the config's "Buckets" object maps more
 * names to bucket URLs ({"archive": "s3://archive", "scratch": "/srv/x"}),
 * opened with the same store options. `stepfs run --config` has only the
 * "Buckets" ones.
 *
 * Every store call runs on a thread of its own (store calls block) and
 * hands its result back to the engine's loop with loop_post(). Objects read
 * (GET) are bounded: a larger one fails with a cause naming the limit
 * (the engine reports States.ItemReaderFailed); listings stop at
 * BUCKETMAP_MAX_LIST_KEYS keys.
 *
 * Thread-safety: add buckets before the ops are used; the ops are called
 * on the loop thread. bucketmap_free() waits for calls still in flight.
 */
#ifndef STEPFS_BUCKETMAP_H
#define STEPFS_BUCKETMAP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct asl_s3_ops;
struct bucketmap;
struct store;

/* a 16 MiB CSV of very short rows is ~500 MB as JSON items (64 MiB measured ~2 GB) */
#define BUCKETMAP_MAX_GET_DEFAULT ((uint64_t)16 << 20)
#define BUCKETMAP_MAX_LIST_KEYS 1000000

/* @max_get_bytes: the largest object an ItemReader may read (0: the default). NULL on ENOMEM. */
struct bucketmap *bucketmap_new(uint64_t max_get_bytes);
/*
 * Stop handing results to the loop and refuse new calls: call it before the
 * loop the ops were used with is freed (a daemon: bucketmap_close(), stop
 * the engine, bucketmap_free()). Any thread. NULL is a no-op.
 */
void bucketmap_close(struct bucketmap *m);
/* Close, wait for calls in flight, close the owned stores, free. NULL is a no-op. */
void bucketmap_free(struct bucketmap *m);

struct config;
/*
 * The map a daemon serves for its configuration @cfg (may be NULL): its own
 * bucket @own_url (may be NULL; opened anew with @store_opts, so the map's
 * lifetime is its own) under cfg's "Bucket" name or bucketmap_default_name(),
 * then cfg's "Buckets" (relative directories resolved against cfg's
 * directory); objects read up to cfg's Limits.ItemReaderMaxMiB. 0 and *ret,
 * or -1 with the reason in @err.
 */
int bucketmap_for_config(const char *own_url, json_t *store_opts, const struct config *cfg,
			 struct bucketmap **ret, char *err, size_t errlen);

/*
 * Serve @s as bucket @name. @own: the map closes it (store_free). 0,
 * -EEXIST if @name is taken (then @s is not taken over), -ENOMEM.
 */
int bucketmap_add(struct bucketmap *m, const char *name, struct store *s, bool own);
/*
 * Open and add every "name": "bucket URL" of @buckets (a config's
 * "Buckets" object; NULL: nothing) with the store options @store_opts
 * (may be NULL); relative directories are resolved against @dir (NULL: as
 * given). 0, or -1 with "Buckets/<name>: <reason>" in @err.
 */
int bucketmap_add_config(struct bucketmap *m, json_t *buckets, json_t *store_opts,
			 const char *dir, char *err, size_t errlen);
/* The ops for asl_engine_set_s3(); valid while @m lives. */
void bucketmap_ops(struct bucketmap *m, struct asl_s3_ops *ret);

/*
 * The bucket name a BUCKET argument is served under: "s3://name[/prefix]"
 * -> "name"; a directory -> its last path component. Into @buf; returns
 * @buf, or NULL if there is none (e.g. "/").
 */
const char *bucketmap_default_name(const char *bucket_url, char *buf, size_t len);

#endif
