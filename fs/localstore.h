/*
 * localstore: a struct store whose bucket is a plain local directory.
 *
 * Key "a/b/c" is the file ROOT/a/b/c; a directory marker key "a/b/" is the
 * directory ROOT/a/b together with a metadata record saying the marker
 * exists. Directories without a marker are implicit, as S3 prefixes are:
 * they vanish (are removed) when their last key is deleted. An empty
 * directory without a record (made by hand in ROOT) is the marker itself,
 * with the directory's mode and mtime and no other metadata, so every
 * directory in ROOT shows up in listings. Once keys were put into it and
 * deleted again, it is pruned like any implicit directory (nothing tells it
 * apart from one the store made).
 *
 * Beside the data, ROOT/.stepfs-meta/ (never listed, never a valid key) holds
 *   m/<sha256(key)>   one JSON record per key: etag, size and mtime of the
 *                     data file it describes, content type, x-amz-meta-*;
 *                     a record that does not match the data file (changed
 *                     behind our back) is ignored and the ETag recomputed
 *   tmp/              temp files, renamed into place (atomic commits)
 *   mpu/<id>/         multipart staging: "info" (key, metadata) and parts
 * Commits are temp file + fsync + rename + fsync of the directory.
 *
 * ETags are S3's: the MD5 hex of the body for a single PUT or copy, and
 * md5(concatenated binary part MD5s) + "-N" for a multipart upload. Listing
 * order is byte order of the keys, with prefix, delimiter, start-after,
 * continuation tokens and max-keys as ListObjectsV2 has them.
 *
 * Limits of a directory as a bucket: a key cannot be both an object and a
 * prefix ("a" and "a/b"), key components are at most 255 bytes and may not be
 * "." or ".."; such keys fail with STORE_ENOTSUP or STORE_EINVAL naming the key.
 *
 * Thread-safe: any call may run concurrently with any other.
 */
#ifndef STEPFS_LOCALSTORE_H
#define STEPFS_LOCALSTORE_H

#include "fs/store.h"

/*
 * Open the directory @root (which must exist) as a bucket; creates
 * ROOT/.stepfs-meta/ if missing. Returns a new store (free with store_free()),
 * or NULL with @err filled (missing directory, no permission, out of memory).
 */
struct store *localstore_open(const char *root, struct store_error *err);

#endif
