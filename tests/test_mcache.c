/* Unit tests for fs/mcache.c: TTLs, negative entries, write-counter staleness, eviction. */
#include "fs/mcache.h"

#include <string.h>

#include "tests/harness.h"

static int64_t fake_now(void *arg)
{
	return *(int64_t *)arg;
}

int main(void)
{
	struct mcache *c = mcache_new(3, 1000, 100);
	struct stat st, out;
	int64_t now = 0;
	uint64_t w, w2;

	CHECK(c != NULL);
	mcache_set_clock(c, fake_now, &now);
	memset(&st, 0, sizeof(st));
	st.st_size = 42;

	/* put/get and the positive TTL */
	w = mcache_wctr(c);
	CHECK_INT_EQ(mcache_put(c, "/a", &st, MCACHE_FULL, w), 1);
	CHECK_INT_EQ(mcache_get(c, "/a", &out), MCACHE_FULL);
	CHECK_INT_EQ(out.st_size, 42);
	now = 999;
	CHECK_INT_EQ(mcache_get(c, "/a", &out), MCACHE_FULL);
	now = 1000;
	CHECK_INT_EQ(mcache_get(c, "/a", &out), MCACHE_NONE);

	/* negative entries have their own TTL */
	w = mcache_wctr(c);
	CHECK_INT_EQ(mcache_put(c, "/neg", NULL, MCACHE_NEG, w), 1);
	CHECK_INT_EQ(mcache_get(c, "/neg", NULL), MCACHE_NEG);
	now += 100;
	CHECK_INT_EQ(mcache_get(c, "/neg", NULL), MCACHE_NONE);

	/* a lookup that raced with a local mutation is not cached */
	w = mcache_wctr(c);
	mcache_invalidate(c, "/b");
	CHECK_INT_EQ(mcache_put(c, "/b", &st, MCACHE_FULL, w), 0);
	CHECK_INT_EQ(mcache_get(c, "/b", &out), MCACHE_NONE);
	w2 = mcache_wctr(c);
	CHECK_INT_EQ(mcache_put(c, "/b", &st, MCACHE_FULL, w2), 1);
	/* ... but an unrelated path is unaffected */
	w = mcache_wctr(c);
	mcache_invalidate(c, "/other");
	CHECK_INT_EQ(mcache_put(c, "/c", &st, MCACHE_FULL, w), 1);

	/* a listing never downgrades full attributes */
	st.st_size = 7;
	CHECK_INT_EQ(mcache_put(c, "/c", &st, MCACHE_LIST, mcache_wctr(c)), 0);
	CHECK_INT_EQ(mcache_get(c, "/c", &out), MCACHE_FULL);
	CHECK_INT_EQ(out.st_size, 42);

	/* bounded: at most 3 entries; evicted tombstones keep stale puts out */
	CHECK(mcache_count(c) <= 3);
	w = mcache_wctr(c);
	mcache_invalidate(c, "/x");
	mcache_put(c, "/p1", &st, MCACHE_FULL, mcache_wctr(c));
	mcache_put(c, "/p2", &st, MCACHE_FULL, mcache_wctr(c));
	mcache_put(c, "/p3", &st, MCACHE_FULL, mcache_wctr(c));
	CHECK(mcache_count(c) <= 3);
	CHECK_INT_EQ(mcache_put(c, "/x", &st, MCACHE_FULL, w), 0);

	/* tree invalidation covers children, not siblings with the same prefix */
	mcache_free(c);
	c = mcache_new(100, 1000, 100);
	mcache_put(c, "/d", &st, MCACHE_FULL, mcache_wctr(c));
	mcache_put(c, "/d/e", &st, MCACHE_FULL, mcache_wctr(c));
	mcache_put(c, "/dx", &st, MCACHE_FULL, mcache_wctr(c));
	mcache_invalidate_tree(c, "/d");
	CHECK_INT_EQ(mcache_get(c, "/d", NULL), MCACHE_NONE);
	CHECK_INT_EQ(mcache_get(c, "/d/e", NULL), MCACHE_NONE);
	CHECK_INT_EQ(mcache_get(c, "/dx", NULL), MCACHE_FULL);

	/* directory listings: absent names cost nothing; local changes keep them current */
	{
		char *names[] = { (char *)"b", (char *)"a" };
		uint64_t w0 = mcache_wctr(c);

		CHECK_INT_EQ(mcache_dir_lookup(c, "/d", "a"), -1);
		mcache_dir_put(c, "/d", names, 2, w0, 0);
		CHECK_INT_EQ(mcache_dir_lookup(c, "/d", "a"), 1);
		CHECK_INT_EQ(mcache_dir_lookup(c, "/d", "zz"), 0);
		mcache_dir_add(c, "/d", "zz");
		CHECK_INT_EQ(mcache_dir_lookup(c, "/d", "zz"), 1);
		mcache_dir_remove(c, "/d", "a");
		CHECK_INT_EQ(mcache_dir_lookup(c, "/d", "a"), 0);
		/* a listing that raced with a change is not kept */
		w0 = mcache_wctr(c);
		mcache_dir_add(c, "/other", "x");
		mcache_dir_put(c, "/e", names, 2, w0, 0);
		CHECK_INT_EQ(mcache_dir_lookup(c, "/e", "a"), -1);
		/* tree invalidation drops listings below */
		mcache_invalidate_tree(c, "/d");
		CHECK_INT_EQ(mcache_dir_lookup(c, "/d", "b"), -1);
	}
	mcache_free(c);
	mcache_free(NULL);
	return TEST_DONE();
}
