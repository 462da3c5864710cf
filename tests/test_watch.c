/*
 * Unit tests for fs/watch.c with real files, real inotify and a recording
 * sink: each writer pattern must give exactly one report per completed file.
 */
#include "fs/watch.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/commit.h"
#include "tests/harness.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char **keys;
static int nkeys, ndeletes;
/* commit pool checks: a slow or refusing sink, and what it saw in flight */
static int delay_us, fail_left, busy, max_busy, overlap, badname_calls;
static const char *busy_keys[64];

static int rec_commit(void *arg, const struct commit_event *ev)
{
	int i, slot = -1;

	pthread_mutex_lock(&lock);
	if (strchr(ev->key, '\xff')) {
		/* what the journal says of a key that is not UTF-8 */
		badname_calls++;
		pthread_mutex_unlock(&lock);
		return -EILSEQ;
	}
	if (fail_left > 0 && ev->kind != COMMIT_DELETE) {
		fail_left--;
		pthread_mutex_unlock(&lock);
		return -EIO;
	}
	for (i = 0; i < 64; i++) {
		if (busy_keys[i] && strcmp(busy_keys[i], ev->key) == 0)
			overlap++;
		if (!busy_keys[i] && slot < 0)
			slot = i;
	}
	if (slot >= 0)
		busy_keys[slot] = ev->key;
	if (++busy > max_busy)
		max_busy = busy;
	i = delay_us;
	pthread_mutex_unlock(&lock);
	if (i)
		usleep((useconds_t)i);
	pthread_mutex_lock(&lock);
	busy--;
	if (slot >= 0)
		busy_keys[slot] = NULL;
	if (ev->kind == COMMIT_DELETE) {
		ndeletes++;
	} else {
		keys = realloc(keys, sizeof(*keys) * (size_t)(nkeys + 1));
		keys[nkeys++] = strdup(ev->key);
	}
	pthread_mutex_unlock(&lock);
	return 0;
}

static int count(const char *key)
{
	int i, n = 0;

	pthread_mutex_lock(&lock);
	for (i = 0; i < nkeys; i++)
		n += strcmp(keys[i], key) == 0;
	pthread_mutex_unlock(&lock);
	return n;
}

static int total(void)
{
	int n;

	pthread_mutex_lock(&lock);
	n = nkeys;
	pthread_mutex_unlock(&lock);
	return n;
}

/* a counter read under the lock the sink writes it under */
static int locked(const int *v)
{
	int n;

	pthread_mutex_lock(&lock);
	n = *v;
	pthread_mutex_unlock(&lock);
	return n;
}

static void reset(void)
{
	pthread_mutex_lock(&lock);
	while (nkeys)
		free(keys[--nkeys]);
	ndeletes = 0;
	pthread_mutex_unlock(&lock);
}

static void put(const char *dir, const char *rel, const char *data, int flags)
{
	char p[4096];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	fd = open(p, O_WRONLY | O_CREAT | flags, 0644);
	if (fd < 0) {
		perror(p);
		return;
	}
	(void)!write(fd, data, strlen(data));
	close(fd);
}

/* wait until at least @n reports or ~3 s, then let the quiet period pass */
static void settle(struct watch *w, int n)
{
	int i;

	for (i = 0; i < 300 && total() < n; i++)
		usleep(10000);
	usleep(150000);
	watch_wait_idle(w, 3000);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static struct commit_sink sink = { rec_commit, NULL };

int main(void)
{
	char dir[] = "/tmp/stepfs-watch-XXXXXX", db[256], p[4200], q[4200];
	struct watch_opts o = WATCH_OPTS_INIT;
	struct watch_stats st;
	struct watch *w;
	char err[512];
	FILE *qfile;
	long oldq = -1;
	int fd, i;

	if (!mkdtemp(dir))
		return 1;
	snprintf(db, sizeof(db), "%s.db", dir);
	put(dir, "before.txt", "x", O_TRUNC);
	o.dir = dir;
	o.sink = &sink;
	o.quiet_ms = 50;
	o.state_db = db;

	w = watch_new(&o, err, sizeof(err));
	CHECK(w != NULL);
	CHECK_INT_EQ(watch_start(w), 0);
	settle(w, 1);
	CHECK_INT_EQ(count("before.txt"), 1);

	/* cp-like: create, write, close */
	put(dir, "cp.csv", "a,b\n", O_TRUNC);
	/* write elsewhere-named temp, then rename into place */
	put(dir, ".incoming.tmp", "data", O_TRUNC);
	snprintf(p, sizeof(p), "%s/.incoming.tmp", dir);
	snprintf(q, sizeof(q), "%s/moved.csv", dir);
	CHECK_INT_EQ(rename(p, q), 0);
	/* hard link: only IN_CREATE */
	snprintf(p, sizeof(p), "%s/cp.csv", dir);
	snprintf(q, sizeof(q), "%s/linked.csv", dir);
	settle(w, 3);
	CHECK_INT_EQ(link(p, q), 0);
	/* append twice quickly */
	put(dir, "twice.log", "one\n", O_TRUNC);
	put(dir, "twice.log", "two\n", O_APPEND);
	/* mkdir -p and write at once */
	snprintf(p, sizeof(p), "%s/a", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/a/b", dir);
	mkdir(p, 0755);
	put(dir, "a/b/f", "x", O_TRUNC);
	settle(w, 6);
	CHECK_INT_EQ(count("cp.csv"), 1);
	CHECK_INT_EQ(count("moved.csv"), 1);
	CHECK_INT_EQ(count(".incoming.tmp"), 0);
	CHECK_INT_EQ(count("linked.csv"), 1);
	CHECK_INT_EQ(count("twice.log"), 1);
	CHECK_INT_EQ(count("a/b/f"), 1);

	/* a writer that keeps the file open past the quiet period is waited for */
	snprintf(p, sizeof(p), "%s/slow.bin", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	(void)!write(fd, "part1", 5);
	usleep(300000);
	CHECK_INT_EQ(count("slow.bin"), 0);
	(void)!write(fd, "part2", 5);
	close(fd);
	settle(w, 8);
	CHECK_INT_EQ(count("slow.bin"), 1);
	watch_get_stats(w, &st);
	CHECK(st.deferred >= 1);

	/* deletion of a reported file */
	snprintf(p, sizeof(p), "%s/cp.csv", dir);
	unlink(p);
	usleep(200000);
	CHECK_INT_EQ(locked(&ndeletes), 1);
	watch_free(w);

	/* restart: nothing already reported is reported again; new files are */
	reset();
	put(dir, "while-down.txt", "y", O_TRUNC);
	w = watch_new(&o, err, sizeof(err));
	CHECK(w != NULL);
	CHECK_INT_EQ(watch_start(w), 0);
	settle(w, 1);
	CHECK_INT_EQ(count("while-down.txt"), 1);
	CHECK_INT_EQ(total(), 1);
	watch_get_stats(w, &st);
	CHECK(st.duplicates >= 6);
	CHECK_INT_EQ(st.recovered, 1);

	/*
	 * A burst of new files in a new directory, with the inotify queue made
	 * tiny (root only) so that it overflows: each file exactly once anyway.
	 */
	watch_free(w);
	qfile = fopen("/proc/sys/fs/inotify/max_queued_events", "r+");
	if (qfile) {
		if (fscanf(qfile, "%ld", &oldq) != 1)
			oldq = -1;
		/* a run killed mid-test (or a concurrent one) may have left it low */
		if (oldq > 0 && oldq <= 1024)
			oldq = 16384;
		rewind(qfile);
		fprintf(qfile, "64\n");
		fclose(qfile);
	}
	w = watch_new(&o, err, sizeof(err));
	CHECK(w != NULL);
	CHECK_INT_EQ(watch_start(w), 0);
	usleep(100000);
	reset();
	snprintf(p, sizeof(p), "%s/burst", dir);
	mkdir(p, 0755);
	/*
	 * Hold the watcher thread so the queue surely overflows: the delete of a
	 * file whose put is still in the (slow) sink waits for that put.
	 */
	pthread_mutex_lock(&lock);
	delay_us = 1000000;
	pthread_mutex_unlock(&lock);
	put(dir, "burst/hold", "h", O_TRUNC);
	usleep(250000);
	snprintf(p, sizeof(p), "%s/burst/hold", dir);
	unlink(p);
	usleep(100000);
	for (i = 0; i < 2000; i++) {
		char rel[64];

		snprintf(rel, sizeof(rel), "burst/f%04d", i);
		put(dir, rel, "z", O_TRUNC);
	}
	pthread_mutex_lock(&lock);
	delay_us = 0;
	pthread_mutex_unlock(&lock);
	for (i = 0; i < 1000 && total() < 2001; i++)
		usleep(10000);
	settle(w, 2001);
	CHECK_INT_EQ(total(), 2001);
	CHECK_INT_EQ(count("burst/hold"), 1);
	CHECK_INT_EQ(locked(&ndeletes), 1);
	CHECK_INT_EQ(count("burst/f0000"), 1);
	CHECK_INT_EQ(count("burst/f1999"), 1);
	watch_get_stats(w, &st);
	if (oldq > 0) {
		CHECK(st.overflows >= 1);
		printf("burst: %llu overflows, %llu rescans, %llu recovered\n",
		       (unsigned long long)st.overflows, (unsigned long long)st.rescans,
		       (unsigned long long)st.recovered);
		qfile = fopen("/proc/sys/fs/inotify/max_queued_events", "w");
		if (qfile) {
			fprintf(qfile, "%ld\n", oldq);
			fclose(qfile);
		}
	}
	watch_free(w);

	/*
	 * Commit pool: a slow sink gets several files at once, never the same
	 * path twice at once; a rewrite during its commit is reported after it;
	 * a refused event is retried until accepted, and reported once.
	 */
	reset();
	w = watch_new(&o, err, sizeof(err));
	CHECK(w != NULL);
	CHECK_INT_EQ(watch_start(w), 0);
	usleep(100000);
	snprintf(p, sizeof(p), "%s/pool", dir);
	mkdir(p, 0755);
	pthread_mutex_lock(&lock);
	delay_us = 20000;
	pthread_mutex_unlock(&lock);
	for (i = 0; i < 40; i++) {
		char rel[64];

		snprintf(rel, sizeof(rel), "pool/p%02d", i);
		put(dir, rel, "p", O_TRUNC);
	}
	settle(w, 40);
	CHECK_INT_EQ(total(), 40);
	CHECK(locked(&max_busy) > 1);
	printf("pool: at most %d sink calls at once\n", locked(&max_busy));
	reset();
	pthread_mutex_lock(&lock);
	delay_us = 400000;
	pthread_mutex_unlock(&lock);
	put(dir, "pool/same", "v1", O_TRUNC);
	usleep(200000); /* quiet period over: v1 is in the sink now */
	put(dir, "pool/same", "v2, longer", O_TRUNC);
	for (i = 0; i < 300 && count("pool/same") < 2; i++)
		usleep(10000);
	settle(w, 2);
	CHECK_INT_EQ(count("pool/same"), 2);
	CHECK_INT_EQ(locked(&overlap), 0);
	reset();
	pthread_mutex_lock(&lock);
	delay_us = 0;
	fail_left = 2;
	pthread_mutex_unlock(&lock);
	put(dir, "pool/refused", "r", O_TRUNC);
	for (i = 0; i < 300 && count("pool/refused") < 1; i++)
		usleep(10000);
	settle(w, 1);
	CHECK_INT_EQ(count("pool/refused"), 1);
	CHECK_INT_EQ(locked(&fail_left), 0);
	watch_get_stats(w, &st);
	CHECK(st.sink_errors >= 2);
	/* a name that is not UTF-8 is refused once, not retried for ever */
	put(dir, "pool/latin1-caf\xff.csv", "l", O_TRUNC);
	for (i = 0; i < 300 && locked(&badname_calls) < 1; i++)
		usleep(10000);
	usleep(800000); /* three back-off periods (50 + 200, 400, 800 ms) */
	watch_wait_idle(w, 3000);
	CHECK_INT_EQ(locked(&badname_calls), 1);
	watch_free(w);

	/* bad input is named */
	o.dir = "/nonexistent/stepfs";
	CHECK(watch_new(&o, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "/nonexistent/stepfs") != NULL);
	o.dir = dir;
	o.ignore_regex = "(";
	CHECK(watch_new(&o, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "ignore pattern") != NULL);

	reset();
	free(keys);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	unlink(db);
	snprintf(p, sizeof(p), "%s-wal", db);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", db);
	unlink(p);
	return TEST_DONE();
}
