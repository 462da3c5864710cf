/*
 * struct config: the JSON configuration file of one mount or drop-folder
 * watch: which state machines exist, which events and schedules start them,
 * in which input shape, with which limits, and where the journal lives. The
 * user documentation with a complete example is README.md "Events and rules";
 * workflows/events-example/stepfs.json is a working file.
 *
 *   {
 *     "Bucket": "photos",                 name used in events (default: the mount's)
 *     "Region": "us-east-1",              in event shapes (default us-east-1)
 *     "Account": "000000000000",          in event shapes (default 000000000000)
 *     "Journal": "/var/lib/stepfs/photos.db",   (default: next to this file,
 *                                          <name>.journal.db)
 *     "IncludeLocalPath": true,           add stepfs.localPath to inputs (event.h)
 *     "StateMachines": {
 *       "thumbnail": {"Definition": "thumbnail.asl.json", "Type": "STANDARD"},
 *       "audit":     {"Definition": "audit.asl.json", "Type": "EXPRESS"}
 *     },
 *     "NotificationConfiguration": { ... S3's JSON, see engine/rules.h ... },
 *     "EventBridgeRules": [ ... see engine/rules.h ... ],
 *     "Schedules": [{"Name": "nightly", "ScheduleExpression": "cron(0 2 * * ? *)",
 *                    "StateMachine": "report", "Input": {...},
 *                    "State": "ENABLED", "MissedRuns": "RUN_ONCE" | "SKIP"}],
 *     "Limits": {"QueueSize": 1000, "EnqueueTimeoutMs": 10000,
 *                "MaxChainDepth": 8, "MaxRunningExecutions": 256,
 *                "RetentionDays": 90, "ItemReaderMaxMiB": 16},
 *     "Buckets": {"archive": "s3://archive", "scratch": "/srv/x"},
 *                                         more bucket names for Map ItemReader/
 *                                         ResultWriter (fs/bucketmap.h; read from root)
 *     "functions": {...}, "tasks": {...}   task runner (engine/taskrun.h)
 *   }
 *
 * Relative paths are resolved against the file's directory. Unknown members
 * are errors (typos must not silently disable a rule). Every error names the
 * file and the JSON pointer: "'cfg.json': /StateMachines/x/Type: ...".
 *
 * A struct config is immutable after loading and may be shared by threads.
 */
#ifndef STEPFS_CONFIG_H
#define STEPFS_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "engine/schedule.h"

struct rules;

enum config_sm_type { CONFIG_STANDARD = 0, CONFIG_EXPRESS };

struct config_sm {
	char *name;
	char *definition;         /* absolute (or as given if absolute) path */
	enum config_sm_type type;
	char *pointer;            /* "/StateMachines/<name>" for messages */
};

enum config_missed { CONFIG_MISSED_RUN_ONCE = 0, CONFIG_MISSED_SKIP };

struct config_schedule {
	char *name;
	char *expression;
	struct schedule sched;
	char *state_machine;
	json_t *input;            /* owned; NULL: EventBridge "Scheduled Event" shape */
	int enabled;
	enum config_missed missed;
	char *pointer;
};

struct config_limits {
	unsigned queue_size;          /* events waiting to be routed/started; default 1000 */
	unsigned enqueue_timeout_ms;  /* how long close() waits for room; default 10000 */
	unsigned max_chain_depth;     /* loop guard; default 8 */
	unsigned max_running;         /* concurrent executions; default 256 */
	unsigned retention_days;      /* ended executions kept; default 90; 0 = forever */
	unsigned item_reader_max_mib; /* largest object a Map ItemReader reads; default 16 */
};

struct config {
	char *file;                   /* as given */
	char *dir;                    /* its directory, absolute */
	char *bucket;                 /* NULL: the mount's */
	char *region;
	char *account;
	char *journal;                /* absolute path */
	int include_local_path;
	struct config_sm *sms;
	size_t nsms;
	struct rules *rules;
	struct config_schedule *schedules;
	size_t nschedules;
	struct config_limits limits;
	json_t *root;                 /* the whole document (owned), for the task runner */
};

/*
 * Read and validate @path. Returns 0 and a new config in *ret, or -1 with
 * the message in @err ("'<file>': <pointer>: <reason>", or "<file>:<line>:
 * <column>: <JSON error>"). Definition files must exist and be readable
 * (they are compiled later, by the router, with their own errors).
 * Warnings (rules that can never match) go to the log.
 */
int config_load(const char *path, struct config **ret, char *err, size_t errlen);

/* The same from an already parsed document (@root borrowed); @file names it in messages. */
int config_parse(json_t *root, const char *file, const char *dir, struct config **ret,
		 char *err, size_t errlen);

void config_free(struct config *c);

/* The state machine called @name, or NULL. Borrowed. */
const struct config_sm *config_sm_find(const struct config *c, const char *name);

#endif
