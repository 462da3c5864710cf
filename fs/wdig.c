/*
 * Digests computed while a file is written: see fs/wdig.h.
 */
#include "fs/wdig.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* Parts of P bytes (see the header); fsops keeps one per node, under its lock. */
struct wdig {
	uint64_t pos;                /* [0, pos) hashed */
	EVP_MD_CTX *sha, *md5;       /* running digests of part npart, or NULL */
	struct store_digests *part;  /* finished parts [0, npart) */
	int npart, apart;
};

void wdig_free(struct wdig *w)
{
	if (!w)
		return;
	EVP_MD_CTX_free(w->sha);
	EVP_MD_CTX_free(w->md5);
	free(w->part);
	free(w);
}

static int wdig_init_ctx(struct wdig *w)
{
	return (!w->sha || EVP_DigestInit_ex(w->sha, EVP_sha256(), NULL)) &&
	       (!w->md5 || EVP_DigestInit_ex(w->md5, EVP_md5(), NULL));
}

void wdig_reset(struct wdig **wp, unsigned want)
{
	struct wdig *w = *wp;

	if (!want) {
		wdig_free(w);
		*wp = NULL;
		return;
	}
	if (!w) {
		w = calloc(1, sizeof(*w));
		if (!w)
			return;
		if (want & STORE_DIGEST_SHA256)
			w->sha = EVP_MD_CTX_new();
		if (want & STORE_DIGEST_MD5)
			w->md5 = EVP_MD_CTX_new();
		if (((want & STORE_DIGEST_SHA256) && !w->sha) ||
		    ((want & STORE_DIGEST_MD5) && !w->md5)) {
			wdig_free(w);
			return;
		}
	}
	w->pos = 0;
	w->npart = 0;
	if (!wdig_init_ctx(w)) {
		wdig_free(w);
		w = NULL;
	}
	*wp = w;
}

void wdig_drop(struct wdig **wp)
{
	wdig_free(*wp);
	*wp = NULL;
}

static int wdig_final(EVP_MD_CTX *sha, EVP_MD_CTX *md5, struct store_digests *d)
{
	unsigned int n;

	memset(d, 0, sizeof(*d));
	if (sha) {
		if (!EVP_DigestFinal_ex(sha, d->sha256, &n))
			return 0;
		d->have |= STORE_DIGEST_SHA256;
	}
	if (md5) {
		if (!EVP_DigestFinal_ex(md5, d->md5, &n))
			return 0;
		d->have |= STORE_DIGEST_MD5;
	}
	return 1;
}

void wdig_update(struct wdig **wp, const struct parts *pl, uint64_t off, const void *data,
		 size_t len)
{
	struct wdig *w = *wp;
	const unsigned char *p = data;

	if (!w || len == 0)
		return;
	if (off != w->pos || !data) {
		wdig_drop(wp);
		return;
	}
	while (len) {
		uint64_t room = parts_off(pl, (uint64_t)w->npart + 1) - w->pos;
		size_t take = len < room ? len : (size_t)room;

		if ((w->sha && !EVP_DigestUpdate(w->sha, p, take)) ||
		    (w->md5 && !EVP_DigestUpdate(w->md5, p, take)))
			goto fail;
		w->pos += take;
		p += take;
		len -= take;
		if (take == room) { /* part npart is complete */
			if (w->npart == w->apart) {
				int na = w->apart ? 2 * w->apart : 16;
				struct store_digests *np = realloc(w->part, (size_t)na * sizeof(*np));

				if (!np)
					goto fail;
				w->part = np;
				w->apart = na;
			}
			if (!wdig_final(w->sha, w->md5, &w->part[w->npart]) || !wdig_init_ctx(w))
				goto fail;
			w->npart++;
		}
	}
	return;
fail:
	wdig_drop(wp);
}

/*
 * The digests of part @i's first @len bytes if they are known: 1 and *ret
 * filled, else 0. (The whole content of a file of at most one part is part 0.)
 */
int wdig_part(const struct wdig *w, const struct parts *pl, int i, uint64_t len,
	      struct store_digests *ret)
{
	EVP_MD_CTX *sha = NULL, *md5 = NULL;
	int ok;

	if (!w || i < 0 || len > parts_len(pl, (uint64_t)i))
		return 0;
	if (i < w->npart && len == parts_len(pl, (uint64_t)i)) {
		*ret = w->part[i];
		return 1;
	}
	if (i != w->npart || w->pos != parts_off(pl, (uint64_t)i) + len || (len == 0 && i > 0))
		return 0;
	/* the running digests, finished on copies */
	if (w->sha && (!(sha = EVP_MD_CTX_new()) || !EVP_MD_CTX_copy_ex(sha, w->sha)))
		goto fail;
	if (w->md5 && (!(md5 = EVP_MD_CTX_new()) || !EVP_MD_CTX_copy_ex(md5, w->md5)))
		goto fail;
	ok = wdig_final(sha, md5, ret);
	EVP_MD_CTX_free(sha);
	EVP_MD_CTX_free(md5);
	return ok;
fail:
	EVP_MD_CTX_free(sha);
	EVP_MD_CTX_free(md5);
	return 0;
}

uint64_t wdig_pos(const struct wdig *w)
{
	return w ? w->pos : 0;
}
