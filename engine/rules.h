/*
 * struct rules: which state machines an event starts, in the two forms AWS
 * users know.
 *
 * 1. The S3 NotificationConfiguration JSON, exactly as `aws s3api
 *    put-bucket-notification-configuration --notification-configuration`
 *    takes it, with one more destination list for local state machines:
 *
 *      {"StateMachineConfigurations": [
 *         {"Id": "thumbs",                          (optional, as in S3)
 *          "StateMachine": "thumbnail",             (a name from the config,
 *                                                    or arn:aws:states:…:stateMachine:NAME)
 *          "Events": ["s3:ObjectCreated:*"],
 *          "Filter": {"Key": {"FilterRules": [
 *              {"Name": "prefix", "Value": "images/"},
 *              {"Name": "suffix", "Value": ".jpg"}]}},
 *          "EventFormat": "S3" | "EventBridge"}],  (optional, default "S3")
 *       "EventBridgeConfiguration": {}}             (enables EventBridge rules)
 *
 *    S3's semantics hold exactly: at most one prefix and one suffix rule
 *    (Name matched case-insensitively, as AWS accepts "Prefix"), ANDed,
 *    case-sensitive, plain strings (no globbing), compared with the key
 *    URL-encoded as it appears in the event (so a prefix "a=b/" never matches;
 *    write "a%3Db/", as on AWS), event names with the trailing ":*" wildcard,
 *    and configurations whose event types intersect and whose prefixes and
 *    suffixes both overlap are rejected with S3's error text. Hence each event
 *    matches at most one configuration per event family, as on AWS.
 *    QueueConfigurations, TopicConfigurations and LambdaFunctionConfigurations
 *    are rejected: they name AWS destinations this host cannot deliver to.
 *
 * 2. EventBridge rules (the fan-out form; several may match one event), each
 *    matched against the EventBridge "Object Created"/"Object Deleted" event:
 *
 *      [{"Name": "r1", "State": "ENABLED"|"DISABLED",
 *        "EventPattern": {...} or the same as a JSON string,
 *        "Targets": [{"Id": "t1", "StateMachine": "name"}]}]
 *
 *    Pattern operators: exact values, prefix, suffix (both also with
 *    equals-ignore-case), equals-ignore-case, wildcard, anything-but (value,
 *    list, prefix, suffix, equals-ignore-case, wildcard), numeric, exists,
 *    cidr and $or. The execution input is the entire EventBridge event.
 *
 * A parsed struct rules is immutable; matching may run on any thread.
 */
#ifndef STEPFS_RULES_H
#define STEPFS_RULES_H

#include <jansson.h>
#include <stddef.h>

#include "engine/event.h"

struct rules;

/* Where and why parsing failed: a JSON pointer (RFC 6901) and a message. */
struct rules_err {
	char pointer[512];
	char msg[768];
};

/* The S3 error texts, for callers and tests. */
#define RULES_E_OVERLAP                                                                  \
	"Configuration is ambiguously defined. Cannot have overlapping suffixes in two rules " \
	"if the prefixes are overlapping for the same event type."
#define RULES_E_TWO_PREFIX "Cannot specify more than one prefix rule in a filter."
#define RULES_E_TWO_SUFFIX "Cannot specify more than one suffix rule in a filter."
#define RULES_E_FILTER_NAME "filter rule name must be either prefix or suffix"
#define RULES_E_EVENT "The event is not supported for notifications"

enum rules_source {
	RULES_S3 = 0,      /* a StateMachineConfigurations entry */
	RULES_EVENTBRIDGE, /* a target of an EventBridge rule */
};

/* One state machine to start for an event. Borrowed from the struct rules. */
struct rules_target {
	enum rules_source source;
	const char *id;            /* S3: the configuration Id; EventBridge: "rule/targetId" */
	const char *state_machine; /* the state machine's name */
	enum event_format format;  /* shape of the execution input */
	const char *pointer;       /* JSON pointer of the StateMachine member, for messages */
};

/* Empty rule set; NULL on out-of-memory. */
struct rules *rules_new(void);
void rules_free(struct rules *r);

/*
 * Add the NotificationConfiguration @nc (borrowed), whose JSON pointer in its
 * file is @ptr (e.g. "/NotificationConfiguration"). Checks everything S3
 * checks at PUT time. Returns 0, or -1 with @err filled (nothing is added).
 * May be called once per rule set.
 */
int rules_add_notification(struct rules *r, const json_t *nc, const char *ptr,
			   struct rules_err *err);

/*
 * Add EventBridge rules: @arr (borrowed) is an array of rule objects, at JSON
 * pointer @ptr. Requires that the NotificationConfiguration added before has
 * an EventBridgeConfiguration (as S3 sends EventBridge nothing otherwise).
 * Returns 0 or -1 with @err filled.
 */
int rules_add_eventbridge(struct rules *r, const json_t *arr, const char *ptr,
			  struct rules_err *err);

/* Number of targets; rules_target_at() returns a borrowed one (0 <= i < count). */
size_t rules_target_count(const struct rules *r);
const struct rules_target *rules_target_at(const struct rules *r, size_t i);

/*
 * Call @fn for each target @ev starts: S3 configurations first (in file
 * order), then enabled EventBridge rules. @region/@account fill the
 * EventBridge event the patterns see. Returns the number of targets, or -ENOMEM.
 */
int rules_match(const struct rules *r, const struct event *ev, const char *region,
		const char *account, void (*fn)(void *arg, const struct rules_target *t),
		void *arg);

/*
 * Warnings that are not errors on AWS but make a rule useless (a filter value
 * with a character S3 encodes in keys, so it can never match). Calls @fn once
 * per warning with the pointer and message.
 */
void rules_lint(const struct rules *r, void (*fn)(void *arg, const char *ptr, const char *msg),
		void *arg);

/*
 * EventBridge pattern primitives (public for the config validator and tests).
 * rules_pattern_check() returns 0 or -1 with @err naming the bad node under @ptr.
 * rules_pattern_match() returns 1 if @event matches the (checked) @pattern.
 */
int rules_pattern_check(const json_t *pattern, const char *ptr, struct rules_err *err);
int rules_pattern_match(const json_t *pattern, const json_t *event);

/* S3 primitives. */
/* 1 if the configuration event name @cfg ("s3:ObjectCreated:*") covers @ev_name ("s3:ObjectCreated:Put"). */
int rules_event_covers(const char *cfg, const char *ev_name);
/* 1 if two configuration event names can both match one event. */
int rules_events_intersect(const char *a, const char *b);
/* S3's overlap tests ("" = absent). */
int rules_prefix_overlap(const char *a, const char *b);
int rules_suffix_overlap(const char *a, const char *b);

#endif
