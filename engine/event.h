/*
 * struct event: one committed mutation of one object, as the journal stores it
 * and as the router turns it into an execution input, in one of the two
 * shapes AWS delivers S3 events in:
 *
 *   - the S3 notification message (`{"Records":[{ "eventVersion":"2.1", ...}]}`,
 *     reference/events.md §1.4), and
 *   - the EventBridge "Object Created" / "Object Deleted" event (§2.2).
 *
 * Keys are URL-encoded exactly as S3 does in both shapes ("red flower.jpg" ->
 * "red+flower.jpg", "=" -> "%3D"; see event_key_encode()). Everything that is
 * not in the commit itself (request ids, the EventBridge id) is derived from
 * (bucket, key, sequencer) by hashing, so rebuilding the input of a replayed
 * event gives the same bytes, which is what makes execution names idempotent.
 *
 * Where the object lives in the mount: when struct event_shape.local_path is
 * set (the default in config files, "IncludeLocalPath": true), the shapes get
 * one extra member that AWS never sends and consumers ignore (the event
 * versioning rules tell consumers to ignore unknown fields):
 *   S3:          Records[0].stepfs = {"localPath": "/mnt/b/in/red flower.jpg"}
 *   EventBridge: detail.stepfs      = {"localPath": "/mnt/b/in/red flower.jpg"}
 * With it off, the input is byte-for-byte what AWS would send.
 *
 * Not thread-safe per object; distinct events may be used from any thread.
 */
#ifndef STEPFS_EVENT_H
#define STEPFS_EVENT_H

#include <jansson.h>
#include <stdint.h>

#include "engine/commit.h"

struct buf;

/* Sequencers are fixed-width upper-case hex, so strcmp() orders them. */
#define EVENT_SEQ_LEN 16

enum event_format {
	EVENT_FORMAT_S3 = 0,       /* {"Records":[...]} eventVersion 2.1 */
	EVENT_FORMAT_EVENTBRIDGE,  /* EventBridge "Object Created"/"Object Deleted" */
};

struct event {
	enum commit_kind kind;
	char *bucket;
	char *key;           /* raw key, not encoded */
	uint64_t size;
	char *etag;          /* NULL for deletes */
	char *version_id;    /* NULL unless versioned */
	int64_t time_ms;     /* Unix epoch milliseconds of the commit */
	char sequencer[EVENT_SEQ_LEN + 1];
	char *local_path;    /* may be NULL */
	char *src_key;       /* COMMIT_COPY source, may be NULL */
	/* loop guard: the execution whose task wrote this object, if any */
	char *cause_arn;     /* may be NULL */
	unsigned chain_depth; /* 0 for writes not made by a task */
};

/* Account, region and rule data an input shape needs. Caller-owned strings. */
struct event_shape {
	enum event_format format;
	const char *region;          /* "us-east-1" if NULL */
	const char *account;         /* "000000000000" if NULL */
	const char *configuration_id; /* S3 shape: s3.configurationId (rule Id) */
	int local_path;              /* add the stepfs.localPath member (see above) */
};

#define EVENT_SHAPE_INIT { EVENT_FORMAT_S3, NULL, NULL, NULL, 1 }

/* "ObjectCreated:Put", ... (the message form, without "s3:"). */
const char *event_name(enum commit_kind kind);
/* "s3:ObjectCreated:Put", ... (the configuration form). */
const char *event_config_name(enum commit_kind kind);

/*
 * 1 if @s is NULL or valid UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF), else 0. S3 keys are UTF-8, and an event (JSON) can
 * carry no other key.
 */
int event_utf8_valid(const char *s);
/*
 * Append @key to @out URL-encoded as S3 writes it into event messages
 * (application/x-www-form-urlencoded): RFC 3986 unreserved characters
 * (A-Z a-z 0-9 - _ . ~) and '/' are kept, space becomes '+', every other byte
 * (including '+', '=', ':', '%' and each byte of UTF-8 sequences) becomes %XX
 * with upper-case hex. Returns 0 or a buf error (-ENOMEM, -E2BIG).
 */
int event_key_encode(const char *key, struct buf *out);
/* Reverse of the above (unquote_plus); returns 0, or -EINVAL on a bad escape. */
int event_key_decode(const char *enc, struct buf *out);

/* Write @seq as EVENT_SEQ_LEN upper-case hex digits plus NUL into @out. */
void event_sequencer_format(uint64_t seq, char out[EVENT_SEQ_LEN + 1]);
/*
 * Compare two sequencers as AWS says to: right-pad the shorter with '0', then
 * compare as strings (hex digits compared case-insensitively). <0, 0, >0.
 */
int event_sequencer_cmp(const char *a, const char *b);

/*
 * Build an event from a producer's commit. @sequencer is the journal's.
 * Returns a new event (free with event_free()), NULL on out-of-memory.
 */
struct event *event_from_commit(const struct commit_event *ce, const char *sequencer);
void event_free(struct event *ev);

/*
 * The journal's own serialisation: a JSON object with every field. Returns a
 * new reference (NULL on out-of-memory). event_from_json() returns a new
 * event, or NULL with a reason in @err (size @errlen) if @j is not one.
 */
json_t *event_to_json(const struct event *ev);
struct event *event_from_json(const json_t *j, char *err, size_t errlen);

/*
 * The execution input in the AWS shape @shape asks for. Returns a new
 * reference, NULL on out-of-memory.
 */
json_t *event_input(const struct event *ev, const struct event_shape *shape);

/*
 * The EventBridge form of @ev without the stepfs member, as EventBridge rules
 * are matched against it. Returns a new reference, NULL on out-of-memory.
 */
json_t *event_eventbridge(const struct event *ev, const char *region, const char *account);

/*
 * Lower-case hex SHA-256 of the NUL-separated strings in @parts (@n of them)
 * into @out (65 bytes). Used for deterministic ids and execution names.
 */
void event_hash(const char *const *parts, size_t n, char out[65]);

#endif
