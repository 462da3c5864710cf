/*
 * libFuzzer target for the notification rules and event shapes: the input is
 * a JSON document {"nc": NotificationConfiguration, "eb": EventBridgeRules,
 * "key": object key, "event": any JSON}. Parses both rule forms (as a config
 * file would), matches an event for the key in both shapes, matches every
 * EventBridge pattern it can check against "event", and round-trips the key
 * through the URL encoding. Must never crash or leak, and the encoding must
 * round-trip.
 */
#include "engine/buf.h"
#include "engine/event.h"
#include "engine/rules.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_hit(void *arg, const struct rules_target *t)
{
	(*(size_t *)arg) += strlen(t->id) + strlen(t->state_machine);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = json_loadb((const char *)data, size, 0, NULL);
	struct rules *r = rules_new();
	struct rules_err err;
	struct commit_event ce;
	struct event *ev = NULL;
	struct event_shape sh = EVENT_SHAPE_INIT;
	struct buf enc = BUF_INIT, dec = BUF_INIT;
	const char *key;
	json_t *nc, *eb, *in;
	size_t hits = 0;
	int k;

	if (!doc || !r)
		goto out;
	nc = json_object_get(doc, "nc");
	eb = json_object_get(doc, "eb");
	if (nc && rules_add_notification(r, nc, "/nc", &err) == 0 && eb)
		(void)rules_add_eventbridge(r, eb, "/eb", &err);
	key = json_string_value(json_object_get(doc, "key"));
	if (!key)
		key = "in/red flower=1.csv";
	if (event_key_encode(key, &enc) == 0 && event_key_decode(enc.data, &dec) == 0 &&
	    strcmp(dec.data, key) != 0)
		abort(); /* the encoding must round-trip */
	for (k = COMMIT_PUT; k <= COMMIT_DELETE; k++) {
		memset(&ce, 0, sizeof(ce));
		ce.kind = (enum commit_kind)k;
		ce.bucket = "b";
		ce.key = key;
		ce.etag = "e";
		ce.local_path = "/mnt/x";
		ev = event_from_commit(&ce, "0000000000000001");
		if (!ev)
			continue;
		(void)rules_match(r, ev, "us-east-1", "000000000000", fuzz_hit, &hits);
		sh.format = k & 1 ? EVENT_FORMAT_EVENTBRIDGE : EVENT_FORMAT_S3;
		in = event_input(ev, &sh);
		json_decref(in);
		event_free(ev);
	}
	/* a pattern that passes the check must be matchable against anything */
	if (json_is_object(json_object_get(doc, "pattern")) &&
	    rules_pattern_check(json_object_get(doc, "pattern"), "", &err) == 0)
		(void)rules_pattern_match(json_object_get(doc, "pattern"), json_object_get(doc, "event"));
	{
		struct buf d2 = BUF_INIT;

		(void)event_key_decode(key, &d2); /* arbitrary escapes */
		buf_release(&d2);
	}
out:
	buf_release(&enc);
	buf_release(&dec);
	rules_free(r);
	json_decref(doc);
	return 0;
}
