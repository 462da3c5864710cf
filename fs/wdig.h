/*
 * wdig: digests of a file's content computed while it is written
 * sequentially from offset 0, so that an upload need not read the data once
 * more to hash it (fs/fsops.c hands them to the store in store_body.dig).
 *
 * The content is cut into the parts of a multipart layout (fs/parts.h): part
 * i's digests are finished once the writer has moved past its end; running
 * ones cover [parts_off(npart), pos). A file of at most one part is part 0. Any
 * write that does not continue at pos drops everything (*wp becomes NULL):
 * the store then hashes the data itself, as it does without wdig.
 *
 * Which digests: the STORE_DIGEST_* bits the store asks for
 * (store_xfer_opts.digests). SHA-256 and MD5 through OpenSSL EVP (SHA-NI,
 * AVX2 where the CPU has them).
 *
 * Not thread-safe: the caller serialises (fsops: the node's lock). A
 * struct wdig * is owned by whoever holds the pointer; NULL means "no
 * digests known" everywhere.
 */
#ifndef STEPFS_WDIG_H
#define STEPFS_WDIG_H

#include <stddef.h>
#include <stdint.h>

#include "fs/parts.h"
#include "fs/store.h"

struct wdig;

/* The content is empty now: start over with digests @want (0: none, *wp = NULL). */
void wdig_reset(struct wdig **wp, unsigned want);
/* Forget the digests (*wp = NULL). */
void wdig_drop(struct wdig **wp);
/* Release (NULL is fine). */
void wdig_free(struct wdig *w);
/*
 * @len bytes were written at @off, parts laid out by @pl (the same on every
 * call): hashed if @off is where the hashed content ends, else (or @data
 * NULL, or out of memory) the digests are dropped.
 */
void wdig_update(struct wdig **wp, const struct parts *pl, uint64_t off, const void *data,
		 size_t len);
/* Bytes [0, pos) are hashed (0 for NULL). */
uint64_t wdig_pos(const struct wdig *w);
/*
 * The digests of the first @len bytes of part @i if they are known: returns
 * 1 and fills *ret, else 0 (not hashed, dropped, or not exactly that range).
 */
int wdig_part(const struct wdig *w, const struct parts *pl, int i, uint64_t len,
	      struct store_digests *ret);

#endif
