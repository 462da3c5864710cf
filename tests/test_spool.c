/* Unit tests for fs/spool.c: cap accounting, manifests, rescan after a restart. */
#include "fs/spool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/harness.h"

struct seen {
	int n;
	char key[64];
	uint64_t id;
	off_t size;
};

static int on_file(void *arg, uint64_t id, int fd, json_t *m)
{
	struct seen *s = arg;
	struct stat st;

	s->n++;
	s->id = id;
	snprintf(s->key, sizeof(s->key), "%s", json_string_value(json_object_get(m, "key")));
	s->size = fstat(fd, &st) == 0 ? st.st_size : -1;
	close(fd);
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/stepfs-spool-XXXXXX", sub[64], path[128];
	struct spool *sp;
	struct seen s = { 0 };
	uint64_t a, b, c;
	json_t *m;
	int fa, fb, fc, err = 0;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(sub, sizeof(sub), "%s/x/spool", dir);
	sp = spool_open(sub, 100, &err);
	CHECK(sp != NULL);
	if (!sp)
		return TEST_DONE();

	/* the cap */
	CHECK_INT_EQ(spool_reserve(sp, 60), 0);
	CHECK_INT_EQ(spool_reserve(sp, 50), -ENOSPC);
	CHECK_INT_EQ(spool_used(sp), 60);
	CHECK_INT_EQ(spool_reserve(sp, -60), 0);
	CHECK_INT_EQ(spool_used(sp), 0);

	/* files: one with a manifest, one without, one removed */
	fa = spool_create(sp, &a);
	fb = spool_create(sp, &b);
	fc = spool_create(sp, &c);
	CHECK(fa >= 0 && fb >= 0 && fc >= 0);
	CHECK(a != b && b != c);
	CHECK(write(fa, "hello", 5) == 5);
	CHECK(write(fb, "xx", 2) == 2);
	m = json_pack("{s:s}", "key", "dir/file one");
	CHECK_INT_EQ(spool_write_manifest(sp, a, m, 1), 0);
	CHECK_INT_EQ(spool_write_manifest(sp, c, m, 0), 0);
	json_decref(m);
	CHECK_INT_EQ(spool_sync(sp, a, fa), 0);
	spool_remove(sp, c);
	close(fa);
	close(fb);
	close(fc);
	spool_free(sp);

	/* a restart finds the file with a manifest and drops the other */
	sp = spool_open(sub, 100, &err);
	CHECK(sp != NULL);
	if (!sp)
		return TEST_DONE();
	CHECK_INT_EQ(spool_scan(sp, on_file, &s), 1);
	CHECK_INT_EQ(s.n, 1);
	CHECK_STR_EQ(s.key, "dir/file one");
	CHECK_INT_EQ(s.id, a);
	CHECK_INT_EQ(s.size, 5);
	CHECK_INT_EQ(spool_used(sp), 5);
	snprintf(path, sizeof(path), "%s/%llu.data", sub, (unsigned long long)b);
	CHECK(access(path, F_OK) < 0);
	/* new ids never reuse old names */
	fa = spool_create(sp, &b);
	CHECK(fa >= 0 && b > a);
	close(fa);
	spool_remove(sp, b);
	spool_remove(sp, a);
	spool_free(sp);
	snprintf(path, sizeof(path), "%s/x/spool", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/x", dir);
	rmdir(path);
	CHECK_INT_EQ(rmdir(dir), 0);
	return TEST_DONE();
}
