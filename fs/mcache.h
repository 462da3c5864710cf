/*
 * mcache: the metadata cache of the FUSE filesystem. Path -> struct stat
 * (or "does not exist"), each entry with a time to live, bounded in entry
 * count (least recently used entries go first).
 *
 * Staleness: a lookup that goes to the network must not cache what it
 * learned if the path was mutated locally meanwhile. So callers sample
 * mcache_wctr() before the remote call and pass it to mcache_put(); the put
 * is refused if the path was invalidated after the sample (after
 * sshfs:cache.c's write counters, but per path, so that unrelated writes do
 * not defeat the cache). Invalidation is always immediate.
 *
 * Thread-safe (one internal mutex, never held across I/O).
 */
#ifndef STEPFS_MCACHE_H
#define STEPFS_MCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct mcache;

enum mcache_kind {
	MCACHE_NONE = 0, /* miss */
	MCACHE_NEG,      /* the path does not exist */
	MCACHE_FULL,     /* complete attributes (from HEAD or a local mutation) */
	MCACHE_LIST,     /* attributes known only from a listing (no x-amz-meta-*) */
};

/*
 * @max_entries bounds memory (about 250 bytes + path per entry); @ttl_ms is
 * the life of positive entries, @neg_ttl_ms of negative ones (0 disables
 * negative caching). Returns NULL on out-of-memory.
 */
struct mcache *mcache_new(size_t max_entries, int64_t ttl_ms, int64_t neg_ttl_ms);
void mcache_free(struct mcache *c);

/* For tests: replace the monotonic clock (milliseconds). */
void mcache_set_clock(struct mcache *c, int64_t (*now_ms)(void *arg), void *arg);

/* Sample the write counter before a remote lookup. */
uint64_t mcache_wctr(struct mcache *c);

/*
 * Cache @st (ignored for MCACHE_NEG) for @path as @kind, unless @path was
 * invalidated after @wctr was sampled. A MCACHE_LIST entry never replaces a
 * live MCACHE_FULL one. Returns 1 if cached, 0 if refused (stale or no memory).
 */
int mcache_put(struct mcache *c, const char *path, const struct stat *st, enum mcache_kind kind,
	       uint64_t wctr);

/* Look @path up; fills *ret_st for positive hits. Returns the kind, MCACHE_NONE on a miss. */
enum mcache_kind mcache_get(struct mcache *c, const char *path, struct stat *ret_st);

/* Forget @path (and make in-flight lookups of it stale). */
void mcache_invalidate(struct mcache *c, const char *path);

/* Forget @dir and every path below it ("/a" covers "/a/b", not "/ab"). */
void mcache_invalidate_tree(struct mcache *c, const char *dir);

/*
 * Directory listings: the complete set of child names of a directory (from
 * one listing page, or known because the directory was created here), so
 * that looking up a name that does not exist costs no request. Kept for the
 * positive TTL; local mutations keep it current through add/remove. At most
 * 64 directories of up to 10000 names each are kept (least recently used go).
 *
 * mcache_dir_put() copies @names (need not be sorted) and is refused if any
 * directory mutation happened after @wctr was sampled with mcache_wctr().
 * With @negative_ttl the listing lives only as long as a negative entry (it
 * answers "no such name" for names made elsewhere meanwhile); each
 * mcache_dir_add() extends that life, so a directory being filled here stays
 * known.
 * mcache_dir_lookup() returns 1 if @name is listed, 0 if the listing is
 * fresh and lacks it, -1 if there is no fresh listing.
 */
void mcache_dir_put(struct mcache *c, const char *dir, char *const *names, size_t n,
		    uint64_t wctr, int negative_ttl);
int mcache_dir_lookup(struct mcache *c, const char *dir, const char *name);
void mcache_dir_add(struct mcache *c, const char *dir, const char *name);
void mcache_dir_remove(struct mcache *c, const char *dir, const char *name);

/* Number of entries held (for tests and statistics). */
size_t mcache_count(struct mcache *c);

#endif
