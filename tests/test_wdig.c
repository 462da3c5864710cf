/*
 * Unit tests for fs/wdig.c: digests kept while a file is written equal a
 * full pass over the same bytes (whole file and every part, writes of odd
 * sizes straddling part boundaries, parts of one size and growing ones); a
 * write elsewhere, or a gap, drops them.
 */
#include "fs/wdig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "tests/harness.h"

#define P 4096u

static const struct parts FIX = { P, 0 };

static void full(const unsigned char *d, size_t n, struct store_digests *ret)
{
	unsigned int l;

	memset(ret, 0, sizeof(*ret));
	EVP_Digest(d, n, ret->sha256, &l, EVP_sha256(), NULL);
	EVP_Digest(d, n, ret->md5, &l, EVP_md5(), NULL);
	ret->have = STORE_DIGEST_SHA256 | STORE_DIGEST_MD5;
}

/* write @n bytes of @d into @w in pieces of @step, then compare part by part */
static void check_sequential(const struct parts *pl, const unsigned char *d, size_t n, size_t step,
			     unsigned want)
{
	struct wdig *w = NULL;
	struct store_digests got, exp;
	size_t off, i, nparts = (size_t)parts_count(pl, n), last = 0;

	wdig_reset(&w, want);
	CHECK(w != NULL);
	for (off = 0; off < n; off += step)
		wdig_update(&w, pl, off, d + off, off + step > n ? n - off : step);
	CHECK_INT_EQ(wdig_pos(w), n);
	for (i = 0; i < nparts; i++) {
		size_t po = (size_t)parts_off(pl, i), len = (size_t)parts_len(pl, i);

		if (n - po < len)
			len = n - po;
		last = len;
		CHECK(wdig_part(w, pl, (int)i, len, &got));
		full(d + po, len, &exp);
		CHECK_INT_EQ(got.have, want);
		if (want & STORE_DIGEST_SHA256)
			CHECK(memcmp(got.sha256, exp.sha256, 32) == 0);
		if (want & STORE_DIGEST_MD5)
			CHECK(memcmp(got.md5, exp.md5, 16) == 0);
	}
	/* asking twice gives the same (the running digest is finished on a copy) */
	if (n && last < parts_len(pl, nparts - 1)) {
		struct store_digests again;

		CHECK(wdig_part(w, pl, (int)(nparts - 1), last, &again));
		CHECK(memcmp(&again, &got, sizeof(got)) == 0);
	}
	/* not a range it knows */
	CHECK(!wdig_part(w, pl, (int)nparts + 1, 1, &got));
	if (n > 1) /* the last part with a wrong length */
		CHECK(!wdig_part(w, pl, (int)(nparts - 1), last - 1, &got));
	wdig_free(w);
}

int main(void)
{
	size_t n = 5 * P + 123, i;
	unsigned char *d = malloc(n);
	struct wdig *w = NULL;
	struct store_digests got, exp;

	for (i = 0; i < n; i++)
		d[i] = (unsigned char)(i * 2654435761u >> 13);

	/* sequential: odd pieces that straddle part ends, exact parts, one byte at a time */
	check_sequential(&FIX, d, n, 1000, STORE_DIGEST_SHA256 | STORE_DIGEST_MD5);
	check_sequential(&FIX, d, n, P, STORE_DIGEST_SHA256);
	check_sequential(&FIX, d, 3 * P, 3 * P, STORE_DIGEST_MD5);
	check_sequential(&FIX, d, 777, 1, STORE_DIGEST_SHA256 | STORE_DIGEST_MD5);
	/* growing parts (P, P, 2P, 2P, 4P, ...): 1, 1, 2, 2 of P and a last one */
	{
		struct parts grow;
		size_t gn = 9 * P + 500;
		unsigned char *g = malloc(gn);

		CHECK(g != NULL);
		for (i = 0; g && i < gn; i++)
			g[i] = (unsigned char)(i * 40503u >> 7);
		parts_init(&grow, P, 4 * P);
		CHECK_INT_EQ(5, (long long)parts_count(&grow, gn));
		if (g) {
			check_sequential(&grow, g, gn, 1000, STORE_DIGEST_SHA256 | STORE_DIGEST_MD5);
			check_sequential(&grow, g, gn, 2 * P, STORE_DIGEST_MD5);
			check_sequential(&grow, g, 6 * P, 3 * P, STORE_DIGEST_SHA256);
		}
		free(g);
	}

	/* the empty file */
	wdig_reset(&w, STORE_DIGEST_SHA256 | STORE_DIGEST_MD5);
	CHECK(wdig_part(w, &FIX, 0, 0, &got));
	full(d, 0, &exp);
	CHECK(memcmp(got.sha256, exp.sha256, 32) == 0 && memcmp(got.md5, exp.md5, 16) == 0);

	/* random write: a rewrite of earlier bytes drops everything (fallback) */
	wdig_update(&w, &FIX, 0, d, 2 * P + 10);
	wdig_update(&w, &FIX, 100, d + 100, 10);
	CHECK(w == NULL);
	CHECK(!wdig_part(w, &FIX, 0, P, &got));
	CHECK_INT_EQ(wdig_pos(w), 0);

	/* a gap (write past the end) drops them too */
	wdig_reset(&w, STORE_DIGEST_SHA256);
	wdig_update(&w, &FIX, 0, d, 10);
	wdig_update(&w, &FIX, 20, d + 20, 10);
	CHECK(w == NULL);

	/* data that is not in memory cannot be hashed: dropped */
	wdig_reset(&w, STORE_DIGEST_SHA256);
	wdig_update(&w, &FIX, 0, NULL, 10);
	CHECK(w == NULL);

	/* reset after a drop (O_TRUNC, truncate to 0) starts over and is exact again */
	wdig_reset(&w, STORE_DIGEST_SHA256 | STORE_DIGEST_MD5);
	wdig_update(&w, &FIX, 0, d + 7, 50);
	wdig_reset(&w, STORE_DIGEST_SHA256 | STORE_DIGEST_MD5);
	wdig_update(&w, &FIX, 0, d, 300);
	CHECK(wdig_part(w, &FIX, 0, 300, &got));
	full(d, 300, &exp);
	CHECK(memcmp(got.sha256, exp.sha256, 32) == 0 && memcmp(got.md5, exp.md5, 16) == 0);
	wdig_drop(&w);
	CHECK(w == NULL);

	/* a store that wants no digests gets no state */
	wdig_reset(&w, 0);
	CHECK(w == NULL);
	free(d);
	return TEST_DONE();
}
