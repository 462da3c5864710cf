/*
 * Notification rules: the S3 NotificationConfiguration (validated as S3 does
 * at PUT time, matched as S3 matches: on the URL-encoded key) and EventBridge
 * event patterns (validated at load, matched against the EventBridge form of
 * the event). A struct rules is built once and then only read, so matching
 * needs no lock.
 */
#include "engine/rules.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/buf.h"
#include "engine/jdoc.h"

struct rules_tgt {
	struct rules_target pub;
	char *id;
	char *sm;
	char *ptr;
};

struct rules_s3 {
	char **events;
	size_t nevents;
	char *prefix; /* "" if absent */
	char *suffix;
	char *prefix_ptr; /* NULL if absent */
	char *suffix_ptr;
	char *ptr;
	size_t target; /* index into rules->targets */
};

struct rules_eb {
	json_t *pattern;
	int enabled;
	size_t t0, nt; /* its targets: rules->targets[t0 .. t0+nt) */
};

struct rules {
	struct rules_tgt *targets;
	size_t ntargets;
	struct rules_s3 *s3;
	size_t ns3;
	struct rules_eb *eb;
	size_t neb;
	int have_nc;
	int eb_enabled;
};

/* Every event type S3 accepts in a configuration (reference/events.md §1.2). */
static const char *const rules_event_table[] = {
	"s3:TestEvent",
	"s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post",
	"s3:ObjectCreated:Copy", "s3:ObjectCreated:CompleteMultipartUpload",
	"s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated",
	"s3:ObjectRestore:*", "s3:ObjectRestore:Post", "s3:ObjectRestore:Completed",
	"s3:ObjectRestore:Delete",
	"s3:ReducedRedundancyLostObject",
	"s3:Replication:*", "s3:Replication:OperationFailedReplication",
	"s3:Replication:OperationMissedThreshold",
	"s3:Replication:OperationReplicatedAfterThreshold",
	"s3:Replication:OperationNotTracked",
	"s3:LifecycleExpiration:*", "s3:LifecycleExpiration:Delete",
	"s3:LifecycleExpiration:DeleteMarkerCreated", "s3:LifecycleTransition",
	"s3:IntelligentTiering",
	"s3:ObjectTagging:*", "s3:ObjectTagging:Put", "s3:ObjectTagging:Delete",
	"s3:ObjectAcl:Put",
};

static int rules_fail(struct rules_err *err, const char *ptr, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int rules_fail(struct rules_err *err, const char *ptr, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	snprintf(err->pointer, sizeof(err->pointer), "%s", ptr);
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static void rules_ptri(char *out, size_t n, const char *base, size_t i)
{
	char num[24];

	snprintf(num, sizeof(num), "%zu", i);
	jdoc_ptr_join(out, n, base, num);
}

struct rules *rules_new(void)
{
	return calloc(1, sizeof(struct rules));
}

void rules_free(struct rules *r)
{
	size_t i, j;

	if (!r)
		return;
	for (i = 0; i < r->ntargets; i++) {
		free(r->targets[i].id);
		free(r->targets[i].sm);
		free(r->targets[i].ptr);
	}
	free(r->targets);
	for (i = 0; i < r->ns3; i++) {
		for (j = 0; j < r->s3[i].nevents; j++)
			free(r->s3[i].events[j]);
		free(r->s3[i].events);
		free(r->s3[i].prefix);
		free(r->s3[i].suffix);
		free(r->s3[i].prefix_ptr);
		free(r->s3[i].suffix_ptr);
		free(r->s3[i].ptr);
	}
	free(r->s3);
	for (i = 0; i < r->neb; i++)
		json_decref(r->eb[i].pattern);
	free(r->eb);
	free(r);
}

size_t rules_target_count(const struct rules *r)
{
	return r->ntargets;
}

const struct rules_target *rules_target_at(const struct rules *r, size_t i)
{
	return i < r->ntargets ? &r->targets[i].pub : NULL;
}

/* ---- S3 primitives ---- */

int rules_event_covers(const char *cfg, const char *ev_name)
{
	size_t n = strlen(cfg);

	if (strcmp(cfg, ev_name) == 0)
		return 1;
	/* "s3:Family:*" covers "s3:Family:Anything" */
	if (n >= 2 && strcmp(cfg + n - 2, ":*") == 0)
		return strncmp(cfg, ev_name, n - 1) == 0 && ev_name[n - 1] != '\0';
	return 0;
}

int rules_events_intersect(const char *a, const char *b)
{
	return rules_event_covers(a, b) || rules_event_covers(b, a);
}

int rules_prefix_overlap(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return la <= lb ? strncmp(a, b, la) == 0 : strncmp(a, b, lb) == 0;
}

int rules_suffix_overlap(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return la <= lb ? strcmp(b + lb - la, a) == 0 : strcmp(a + la - lb, b) == 0;
}

static int rules_event_known(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(rules_event_table) / sizeof(rules_event_table[0]); i++)
		if (strcmp(rules_event_table[i], name) == 0)
			return 1;
	return 0;
}

/* Reject members other than @allowed (NULL-terminated) in object @o. */
static int rules_only(const json_t *o, const char *ptr, const char *const *allowed,
		      struct rules_err *err)
{
	const char *k;
	json_t *v;
	char p[512];
	size_t i;

	json_object_foreach((json_t *)o, k, v) {
		for (i = 0; allowed[i]; i++)
			if (strcmp(allowed[i], k) == 0)
				break;
		if (!allowed[i]) {
			jdoc_ptr_join(p, sizeof(p), ptr, k);
			return rules_fail(err, p, "unknown member '%s'", k);
		}
	}
	return 0;
}

/* The state machine name of a "StateMachine" value (a name or a state machine ARN). */
static const char *rules_sm_name(const char *v)
{
	const char *m;

	if (strncmp(v, "arn:", 4) != 0)
		return v;
	m = strstr(v, ":stateMachine:");
	return m ? m + strlen(":stateMachine:") : NULL;
}

static int rules_add_target(struct rules *r, enum rules_source src, const char *id,
			    const char *sm, enum event_format fmt, const char *ptr)
{
	struct rules_tgt *t, *nt;

	nt = realloc(r->targets, (r->ntargets + 1) * sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	r->targets = nt;
	t = &r->targets[r->ntargets];
	memset(t, 0, sizeof(*t));
	t->id = strdup(id);
	t->sm = strdup(sm);
	t->ptr = strdup(ptr);
	if (!t->id || !t->sm || !t->ptr) {
		free(t->id);
		free(t->sm);
		free(t->ptr);
		return -ENOMEM;
	}
	t->pub.source = src;
	t->pub.id = t->id;
	t->pub.state_machine = t->sm;
	t->pub.format = fmt;
	t->pub.pointer = t->ptr;
	r->ntargets++;
	return 0;
}

/* Re-point the public strings after realloc moved nothing but the array. */
static void rules_fix_targets(struct rules *r)
{
	size_t i;

	for (i = 0; i < r->ntargets; i++) {
		r->targets[i].pub.id = r->targets[i].id;
		r->targets[i].pub.state_machine = r->targets[i].sm;
		r->targets[i].pub.pointer = r->targets[i].ptr;
	}
}

static int rules_parse_filter(struct rules_s3 *c, const json_t *filter, const char *ptr,
			      struct rules_err *err)
{
	static const char *const f_allowed[] = { "Key", NULL };
	static const char *const k_allowed[] = { "FilterRules", NULL };
	static const char *const r_allowed[] = { "Name", "Value", NULL };
	json_t *key, *frs, *fr;
	char p[512], kp[512], fp[512], rp[512];
	size_t i;

	if (!json_is_object(filter))
		return rules_fail(err, ptr, "Filter must be an object");
	if (rules_only(filter, ptr, f_allowed, err) < 0)
		return -1;
	key = json_object_get(filter, "Key");
	if (!key)
		return 0;
	jdoc_ptr_join(kp, sizeof(kp), ptr, "Key");
	if (!json_is_object(key))
		return rules_fail(err, kp, "Key must be an object");
	if (rules_only(key, kp, k_allowed, err) < 0)
		return -1;
	frs = json_object_get(key, "FilterRules");
	if (!frs)
		return 0;
	jdoc_ptr_join(fp, sizeof(fp), kp, "FilterRules");
	if (!json_is_array(frs))
		return rules_fail(err, fp, "FilterRules must be an array");
	json_array_foreach(frs, i, fr) {
		const char *name, *value;
		char **slot, **pslot;

		rules_ptri(rp, sizeof(rp), fp, i);
		if (!json_is_object(fr))
			return rules_fail(err, rp, "a FilterRule must be an object");
		if (rules_only(fr, rp, r_allowed, err) < 0)
			return -1;
		name = json_string_value(json_object_get(fr, "Name"));
		value = json_string_value(json_object_get(fr, "Value"));
		jdoc_ptr_join(p, sizeof(p), rp, "Name");
		if (!name)
			return rules_fail(err, p, "%s", RULES_E_FILTER_NAME);
		if (strcasecmp(name, "prefix") == 0) {
			if (c->prefix_ptr)
				return rules_fail(err, rp, "%s", RULES_E_TWO_PREFIX);
			slot = &c->prefix;
			pslot = &c->prefix_ptr;
		} else if (strcasecmp(name, "suffix") == 0) {
			if (c->suffix_ptr)
				return rules_fail(err, rp, "%s", RULES_E_TWO_SUFFIX);
			slot = &c->suffix;
			pslot = &c->suffix_ptr;
		} else {
			return rules_fail(err, p, "%s", RULES_E_FILTER_NAME);
		}
		jdoc_ptr_join(p, sizeof(p), rp, "Value");
		if (!value)
			return rules_fail(err, p, "FilterRule Value must be a string");
		if (strlen(value) > 1024)
			return rules_fail(err, p, "FilterRule Value is longer than 1024 characters");
		if (strchr(value, '*'))
			return rules_fail(err, p,
					  "a wildcard character ('*') can't be used in filters as a "
					  "prefix or suffix");
		free(*slot);
		*slot = strdup(value);
		*pslot = strdup(p);
		if (!*slot || !*pslot)
			return rules_fail(err, p, "out of memory");
	}
	return 0;
}

static void rules_s3_release(struct rules_s3 *c)
{
	size_t j;

	for (j = 0; j < c->nevents; j++)
		free(c->events[j]);
	free(c->events);
	free(c->prefix);
	free(c->suffix);
	free(c->prefix_ptr);
	free(c->suffix_ptr);
	free(c->ptr);
	memset(c, 0, sizeof(*c));
}

/* A stable Id for a configuration without one (S3 assigns one too). */
static void rules_default_id(const json_t *cfg, char out[32])
{
	char *dump = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
	const char *parts[1] = { dump ? dump : "" };
	char h[65];

	event_hash(parts, 1, h);
	snprintf(out, 32, "stepfs-%.12s", h);
	free(dump);
}

static int rules_parse_s3cfg(struct rules *r, const json_t *cfg, const char *ptr,
			     struct rules_err *err)
{
	static const char *const allowed[] = { "Id", "StateMachine", "StateMachineArn", "Events",
					       "Filter", "EventFormat", NULL };
	struct rules_s3 c;
	const char *id, *smv, *sm, *fmt_s;
	enum event_format fmt = EVENT_FORMAT_S3;
	json_t *events, *e, *smj;
	char p[512], ep[512], idbuf[32];
	size_t i;

	memset(&c, 0, sizeof(c));
	if (!json_is_object(cfg))
		return rules_fail(err, ptr, "a StateMachineConfiguration must be an object");
	if (rules_only(cfg, ptr, allowed, err) < 0)
		return -1;
	c.prefix = strdup("");
	c.suffix = strdup("");
	c.ptr = strdup(ptr);
	if (!c.prefix || !c.suffix || !c.ptr)
		goto oom;

	jdoc_ptr_join(p, sizeof(p), ptr, "Id");
	e = json_object_get(cfg, "Id");
	if (e &&
	    (!json_is_string(e) || json_string_length(e) == 0 || json_string_length(e) > 255)) {
		rules_fail(err, p, "Id must be a string of 1 to 255 characters");
		goto fail;
	}
	if (e) {
		id = json_string_value(e);
	} else {
		rules_default_id(cfg, idbuf);
		id = idbuf;
	}
	for (i = 0; i < r->ntargets; i++) {
		if (r->targets[i].pub.source == RULES_S3 && strcmp(r->targets[i].id, id) == 0) {
			rules_fail(err, p, "duplicate configuration Id '%s' (also at %s)", id,
				   r->targets[i].ptr);
			goto fail;
		}
	}

	smj = json_object_get(cfg, "StateMachine");
	jdoc_ptr_join(p, sizeof(p), ptr, "StateMachine");
	if (!smj) {
		smj = json_object_get(cfg, "StateMachineArn");
		jdoc_ptr_join(p, sizeof(p), ptr, "StateMachineArn");
	}
	smv = json_string_value(smj);
	if (!smj) {
		jdoc_ptr_join(p, sizeof(p), ptr, "StateMachine");
		rules_fail(err, ptr, "missing member 'StateMachine' (the state machine to start)");
		goto fail;
	}
	sm = smv ? rules_sm_name(smv) : NULL;
	if (!sm || !*sm) {
		rules_fail(err, p, "StateMachine must be a state machine name or ARN");
		goto fail;
	}

	jdoc_ptr_join(ep, sizeof(ep), ptr, "Events");
	events = json_object_get(cfg, "Events");
	if (!events) {
		rules_fail(err, ptr, "missing member 'Events'");
		goto fail;
	}
	if (!json_is_array(events) || json_array_size(events) == 0) {
		rules_fail(err, ep, "Events must be a non-empty array of event names");
		goto fail;
	}
	c.events = calloc(json_array_size(events), sizeof(char *));
	if (!c.events)
		goto oom;
	json_array_foreach(events, i, e) {
		rules_ptri(p, sizeof(p), ep, i);
		if (!json_is_string(e) || !rules_event_known(json_string_value(e))) {
			rules_fail(err, p, "%s: '%s'", RULES_E_EVENT,
				   json_is_string(e) ? json_string_value(e) : "(not a string)");
			goto fail;
		}
		c.events[c.nevents] = strdup(json_string_value(e));
		if (!c.events[c.nevents])
			goto oom;
		c.nevents++;
	}

	e = json_object_get(cfg, "Filter");
	if (e) {
		jdoc_ptr_join(p, sizeof(p), ptr, "Filter");
		if (rules_parse_filter(&c, e, p, err) < 0)
			goto fail;
	}

	e = json_object_get(cfg, "EventFormat");
	if (e) {
		jdoc_ptr_join(p, sizeof(p), ptr, "EventFormat");
		fmt_s = json_string_value(e);
		if (fmt_s && strcmp(fmt_s, "S3") == 0) {
			fmt = EVENT_FORMAT_S3;
		} else if (fmt_s && strcmp(fmt_s, "EventBridge") == 0) {
			fmt = EVENT_FORMAT_EVENTBRIDGE;
		} else {
			rules_fail(err, p, "EventFormat must be \"S3\" or \"EventBridge\"");
			goto fail;
		}
	}

	/* S3's PUT-time overlap check against every configuration before this one */
	for (i = 0; i < r->ns3; i++) {
		const struct rules_s3 *o = &r->s3[i];
		size_t a, b;
		int inter = 0;

		for (a = 0; a < c.nevents && !inter; a++)
			for (b = 0; b < o->nevents && !inter; b++)
				inter = rules_events_intersect(c.events[a], o->events[b]);
		if (inter && rules_prefix_overlap(c.prefix, o->prefix) &&
		    rules_suffix_overlap(c.suffix, o->suffix)) {
			rules_fail(err, ptr, "%s (this rule overlaps %s)", RULES_E_OVERLAP, o->ptr);
			goto fail;
		}
	}

	jdoc_ptr_join(p, sizeof(p), ptr,
		      json_object_get(cfg, "StateMachine") ? "StateMachine" : "StateMachineArn");
	{
		struct rules_s3 *ns = realloc(r->s3, (r->ns3 + 1) * sizeof(*ns));

		if (!ns)
			goto oom;
		r->s3 = ns;
	}
	if (rules_add_target(r, RULES_S3, id, sm, fmt, p) < 0)
		goto oom;
	rules_fix_targets(r);
	c.target = r->ntargets - 1;
	r->s3[r->ns3++] = c;
	return 0;
oom:
	rules_fail(err, ptr, "out of memory");
fail:
	rules_s3_release(&c);
	return -1;
}

int rules_add_notification(struct rules *r, const json_t *nc, const char *ptr,
			   struct rules_err *err)
{
	static const char *const foreign[] = { "QueueConfigurations", "TopicConfigurations",
					       "LambdaFunctionConfigurations" };
	static const char *const allowed[] = { "StateMachineConfigurations",
					       "EventBridgeConfiguration", "QueueConfigurations",
					       "TopicConfigurations",
					       "LambdaFunctionConfigurations", NULL };
	size_t i, nt0 = r->ntargets, ns0 = r->ns3;
	json_t *arr, *c, *eb;
	char p[512], cp[512];

	if (!json_is_object(nc))
		return rules_fail(err, ptr, "NotificationConfiguration must be an object");
	if (r->have_nc)
		return rules_fail(err, ptr, "a second NotificationConfiguration");
	if (rules_only(nc, ptr, allowed, err) < 0)
		return -1;
	for (i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
		arr = json_object_get(nc, foreign[i]);
		if (arr && !(json_is_array(arr) && json_array_size(arr) == 0)) {
			jdoc_ptr_join(p, sizeof(p), ptr, foreign[i]);
			return rules_fail(err, p,
					  "%s name AWS destinations that stepfs cannot deliver to; "
					  "use StateMachineConfigurations",
					  foreign[i]);
		}
	}
	eb = json_object_get(nc, "EventBridgeConfiguration");
	if (eb && !json_is_object(eb)) {
		jdoc_ptr_join(p, sizeof(p), ptr, "EventBridgeConfiguration");
		return rules_fail(err, p, "EventBridgeConfiguration must be an object ({})");
	}
	arr = json_object_get(nc, "StateMachineConfigurations");
	jdoc_ptr_join(p, sizeof(p), ptr, "StateMachineConfigurations");
	if (arr && !json_is_array(arr))
		return rules_fail(err, p, "StateMachineConfigurations must be an array");
	json_array_foreach(arr, i, c) {
		rules_ptri(cp, sizeof(cp), p, i);
		if (rules_parse_s3cfg(r, c, cp, err) < 0)
			goto fail;
	}
	r->have_nc = 1;
	r->eb_enabled = eb != NULL;
	return 0;
fail:
	while (r->ns3 > ns0)
		rules_s3_release(&r->s3[--r->ns3]);
	while (r->ntargets > nt0) {
		r->ntargets--;
		free(r->targets[r->ntargets].id);
		free(r->targets[r->ntargets].sm);
		free(r->targets[r->ntargets].ptr);
	}
	return -1;
}

/* ---- EventBridge patterns ---- */

/* Wildcard syntax: '*' runs, no "**", escapes only \* and \\. */
static int rules_wildcard_check(const char *w)
{
	const char *p;

	for (p = w; *p; p++) {
		if (*p == '\\') {
			if (p[1] != '*' && p[1] != '\\')
				return -1;
			p++;
		} else if (*p == '*' && p[1] == '*') {
			return -1;
		}
	}
	return 0;
}

/* Glob match with '*' and the escapes above; linear backtracking on the last '*'. */
static int rules_wildcard_match(const char *pat, const char *s)
{
	const char *star = NULL, *mark = NULL;

	while (*s) {
		if (*pat == '*') {
			star = ++pat;
			mark = s;
			continue;
		}
		if (*pat == '\\' && pat[1] && pat[1] == *s) {
			pat += 2;
			s++;
			continue;
		}
		if (*pat && *pat != '\\' && *pat == *s) {
			pat++;
			s++;
			continue;
		}
		if (!star)
			return 0;
		pat = star;
		s = ++mark;
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

static int rules_starts_ci(const char *s, const char *p)
{
	return strncasecmp(s, p, strlen(p)) == 0;
}

static int rules_ends(const char *s, const char *suf, int ci)
{
	size_t ls = strlen(s), lf = strlen(suf);

	if (lf > ls)
		return 0;
	return ci ? strcasecmp(s + ls - lf, suf) == 0 : strcmp(s + ls - lf, suf) == 0;
}

/* A string-or-{"equals-ignore-case": s} argument of prefix/suffix. */
static const char *rules_str_arg(const json_t *a, int *ci)
{
	*ci = 0;
	if (json_is_string(a))
		return json_string_value(a);
	if (json_is_object(a) && json_object_size(a) == 1 &&
	    json_is_string(json_object_get(a, "equals-ignore-case"))) {
		*ci = 1;
		return json_string_value(json_object_get(a, "equals-ignore-case"));
	}
	return NULL;
}

static int rules_numeric_check(const json_t *a)
{
	size_t i, n = json_array_size(a);

	if (!json_is_array(a) || n == 0 || n % 2 || n > 4)
		return -1;
	for (i = 0; i < n; i += 2) {
		const char *op = json_string_value(json_array_get(a, i));
		json_t *v = json_array_get(a, i + 1);

		if (!op || !json_is_number(v))
			return -1;
		if (strcmp(op, "=") && strcmp(op, "<") && strcmp(op, "<=") && strcmp(op, ">") &&
		    strcmp(op, ">="))
			return -1;
		if (fabs(json_number_value(v)) > 5.0e9)
			return -1;
	}
	return 0;
}

static int rules_cidr_match(const char *cidr, const char *ip)
{
	unsigned char net[16], addr[16];
	char buf[64];
	const char *slash = strchr(cidr, '/');
	int bits, fam, len, i;

	if (!slash || (size_t)(slash - cidr) >= sizeof(buf))
		return -1;
	memcpy(buf, cidr, (size_t)(slash - cidr));
	buf[slash - cidr] = '\0';
	fam = strchr(buf, ':') ? AF_INET6 : AF_INET;
	len = fam == AF_INET6 ? 16 : 4;
	bits = atoi(slash + 1);
	if (inet_pton(fam, buf, net) != 1 || bits < 0 || bits > len * 8)
		return -1;
	if (!ip || inet_pton(fam, ip, addr) != 1)
		return 0;
	for (i = 0; i < len && bits > 0; i++, bits -= 8) {
		unsigned char m = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));

		if ((net[i] & m) != (addr[i] & m))
			return 0;
	}
	return 1;
}

static int rules_is_scalar(const json_t *v)
{
	return json_is_string(v) || json_is_number(v) || json_is_boolean(v) || json_is_null(v);
}

static int rules_op_check(const json_t *op, const char *ptr, struct rules_err *err)
{
	const char *k;
	json_t *a, *x;
	char p[512];
	size_t i;
	int ci;

	if (json_object_size(op) != 1)
		return rules_fail(err, ptr, "a pattern operator object must have exactly one member");
	json_object_foreach((json_t *)op, k, a) {
		jdoc_ptr_join(p, sizeof(p), ptr, k);
		if (strcmp(k, "prefix") == 0 || strcmp(k, "suffix") == 0) {
			if (!rules_str_arg(a, &ci))
				return rules_fail(
					err, p,
					"'%s' takes a string or {\"equals-ignore-case\": string}",
					k);
		} else if (strcmp(k, "equals-ignore-case") == 0) {
			if (!json_is_string(a))
				return rules_fail(err, p, "'equals-ignore-case' takes a string");
		} else if (strcmp(k, "wildcard") == 0) {
			if (!json_is_string(a) || rules_wildcard_check(json_string_value(a)) < 0)
				return rules_fail(err, p,
						  "'wildcard' takes a string with no consecutive '**' "
						  "and only \\* or \\\\ escapes");
		} else if (strcmp(k, "exists") == 0) {
			if (!json_is_boolean(a))
				return rules_fail(err, p, "'exists' takes true or false");
		} else if (strcmp(k, "numeric") == 0) {
			if (rules_numeric_check(a) < 0)
				return rules_fail(err, p,
						  "'numeric' takes [op, number] or [op, number, op, "
						  "number] with op one of = < <= > >= and numbers "
						  "within +-5e9");
		} else if (strcmp(k, "cidr") == 0) {
			if (!json_is_string(a) || rules_cidr_match(json_string_value(a), NULL) < 0)
				return rules_fail(err, p, "'cidr' takes an address/prefix-length string");
		} else if (strcmp(k, "anything-but") == 0) {
			if (json_is_object(a)) {
				const char *ik;
				json_t *iv;

				if (json_object_size(a) != 1)
					return rules_fail(err, p, "'anything-but' takes one operator");
				json_object_foreach(a, ik, iv) {
					if ((strcmp(ik, "prefix") && strcmp(ik, "suffix") &&
					     strcmp(ik, "equals-ignore-case") &&
					     strcmp(ik, "wildcard")) ||
					    !(json_is_string(iv) || json_is_array(iv)))
						return rules_fail(err, p,
								  "'anything-but' takes a value, a list, "
								  "or one of prefix, suffix, "
								  "equals-ignore-case, wildcard");
					if (strcmp(ik, "wildcard") == 0 && json_is_string(iv) &&
					    rules_wildcard_check(json_string_value(iv)) < 0)
						return rules_fail(err, p, "bad wildcard");
				}
			} else if (json_is_array(a)) {
				json_array_foreach(a, i, x)
					if (!json_is_string(x) && !json_is_number(x))
						return rules_fail(err, p,
								  "'anything-but' lists hold strings "
								  "or numbers");
			} else if (!json_is_string(a) && !json_is_number(a)) {
				return rules_fail(err, p,
						  "'anything-but' takes a string, a number, a list or "
						  "an operator");
			}
		} else {
			return rules_fail(err, p, "unknown pattern operator '%s'", k);
		}
	}
	return 0;
}

int rules_pattern_check(const json_t *pattern, const char *ptr, struct rules_err *err)
{
	const char *k;
	json_t *v, *x;
	char p[512], xp[512];
	size_t i;

	if (!json_is_object(pattern))
		return rules_fail(err, ptr, "an event pattern must be a JSON object");
	json_object_foreach((json_t *)pattern, k, v) {
		jdoc_ptr_join(p, sizeof(p), ptr, k);
		if (strcmp(k, "$or") == 0 && json_is_array(v)) {
			if (json_array_size(v) < 2)
				return rules_fail(err, p, "'$or' needs at least two patterns");
			json_array_foreach(v, i, x) {
				rules_ptri(xp, sizeof(xp), p, i);
				if (rules_pattern_check(x, xp, err) < 0)
					return -1;
			}
		} else if (json_is_object(v)) {
			if (rules_pattern_check(v, p, err) < 0)
				return -1;
		} else if (json_is_array(v)) {
			if (json_array_size(v) == 0)
				return rules_fail(err, p, "an empty list matches nothing");
			json_array_foreach(v, i, x) {
				rules_ptri(xp, sizeof(xp), p, i);
				if (json_is_object(x)) {
					if (rules_op_check(x, xp, err) < 0)
						return -1;
				} else if (!rules_is_scalar(x)) {
					return rules_fail(err, xp,
							  "pattern values are strings, numbers, "
							  "booleans, null or operator objects");
				}
			}
		} else {
			return rules_fail(err, p,
					  "pattern leaves must be arrays (write [\"%s\"] for a "
					  "single value)",
					  json_is_string(v) ? json_string_value(v) : "value");
		}
	}
	return 0;
}

/* Exact match: same type and value; numbers compare as written (300 != 300.0). */
static int rules_literal_eq(const json_t *p, const json_t *v)
{
	if (json_typeof(p) != json_typeof(v))
		return 0;
	switch (json_typeof(p)) {
	case JSON_STRING:
		return strcmp(json_string_value(p), json_string_value(v)) == 0;
	case JSON_INTEGER:
		return json_integer_value(p) == json_integer_value(v);
	case JSON_REAL:
		return json_real_value(p) == json_real_value(v);
	default:
		return 1; /* true, false, null */
	}
}

static int rules_numeric_match(const json_t *a, double x)
{
	size_t i;

	for (i = 0; i + 1 < json_array_size(a); i += 2) {
		const char *op = json_string_value(json_array_get(a, i));
		double y = json_number_value(json_array_get(a, i + 1));
		int ok;

		if (strcmp(op, "=") == 0)
			ok = x == y;
		else if (strcmp(op, "<") == 0)
			ok = x < y;
		else if (strcmp(op, "<=") == 0)
			ok = x <= y;
		else if (strcmp(op, ">") == 0)
			ok = x > y;
		else
			ok = x >= y;
		if (!ok)
			return 0;
	}
	return 1;
}

/* anything-but {op: s or [s...]}: 1 if @s matches none of the values. */
static int rules_but_op(const char *op, const json_t *arg, const char *s)
{
	size_t i, n = json_is_array(arg) ? json_array_size(arg) : 1;

	for (i = 0; i < n; i++) {
		const json_t *x = json_is_array(arg) ? json_array_get(arg, i) : arg;
		const char *a = json_string_value(x);
		int hit;

		if (!a)
			continue;
		if (strcmp(op, "prefix") == 0)
			hit = strncmp(s, a, strlen(a)) == 0;
		else if (strcmp(op, "suffix") == 0)
			hit = rules_ends(s, a, 0);
		else if (strcmp(op, "equals-ignore-case") == 0)
			hit = strcasecmp(s, a) == 0;
		else
			hit = rules_wildcard_match(a, s);
		if (hit)
			return 0;
	}
	return 1;
}

/* One matcher against one scalar event value. */
static int rules_op_match(const json_t *m, const json_t *v)
{
	const char *k, *s = json_string_value(v);
	json_t *a;
	int ci;

	if (!json_is_object(m))
		return rules_literal_eq(m, v);
	json_object_foreach((json_t *)m, k, a) {
		if (strcmp(k, "prefix") == 0) {
			const char *p = rules_str_arg(a, &ci);

			return s && (ci ? rules_starts_ci(s, p) : strncmp(s, p, strlen(p)) == 0);
		}
		if (strcmp(k, "suffix") == 0) {
			const char *p = rules_str_arg(a, &ci);

			return s && rules_ends(s, p, ci);
		}
		if (strcmp(k, "equals-ignore-case") == 0)
			return s && strcasecmp(s, json_string_value(a)) == 0;
		if (strcmp(k, "wildcard") == 0)
			return s && rules_wildcard_match(json_string_value(a), s);
		if (strcmp(k, "numeric") == 0)
			return json_is_number(v) && rules_numeric_match(a, json_number_value(v));
		if (strcmp(k, "cidr") == 0)
			return s && rules_cidr_match(json_string_value(a), s) == 1;
		if (strcmp(k, "anything-but") == 0) {
			size_t i;
			json_t *x;

			if (json_is_object(a)) {
				const char *ik;
				json_t *iv;

				if (!s)
					return 0;
				json_object_foreach(a, ik, iv)
					return rules_but_op(ik, iv, s);
				return 0;
			}
			if (json_is_array(a)) {
				json_array_foreach(a, i, x)
					if (rules_literal_eq(x, v))
						return 0;
				return 1;
			}
			return !rules_literal_eq(a, v);
		}
		return 0; /* exists is handled by the caller */
	}
	return 0;
}

/* A leaf list against the event value @v (NULL if the field is absent). */
static int rules_leaf_match(const json_t *list, const json_t *v)
{
	size_t i, j;
	json_t *m, *x;

	json_array_foreach(list, i, m) {
		json_t *ex = json_is_object(m) ? json_object_get(m, "exists") : NULL;

		if (ex) {
			/* exists applies to leaves: an object value is not a leaf */
			int present = v && !json_is_object(v);

			if (present == json_is_true(ex))
				return 1;
			continue;
		}
		if (!v)
			continue;
		if (json_is_array(v)) {
			json_array_foreach(v, j, x)
				if (rules_op_match(m, x))
					return 1;
		} else if (rules_op_match(m, v)) {
			return 1;
		}
	}
	return 0;
}

int rules_pattern_match(const json_t *pattern, const json_t *event)
{
	const char *k;
	json_t *pv, *x;
	size_t i;

	json_object_foreach((json_t *)pattern, k, pv) {
		json_t *ev = json_is_object(event) ? json_object_get(event, k) : NULL;

		if (strcmp(k, "$or") == 0 && json_is_array(pv) && json_array_size(pv) >= 2) {
			int any = 0;

			json_array_foreach(pv, i, x)
				if (!any && rules_pattern_match(x, event))
					any = 1;
			if (!any)
				return 0;
		} else if (json_is_object(pv)) {
			if (!rules_pattern_match(pv, ev))
				return 0;
		} else if (!rules_leaf_match(pv, ev)) {
			return 0;
		}
	}
	return 1;
}

int rules_add_eventbridge(struct rules *r, const json_t *arr, const char *ptr,
			  struct rules_err *err)
{
	static const char *const allowed[] = { "Name", "State", "EventPattern", "Targets",
					       "Description", NULL };
	static const char *const t_allowed[] = { "Id", "StateMachine", "Arn", NULL };
	size_t i, j, nt0 = r->ntargets;
	json_t *rule, *t;
	char p[512], rp[512], tp[512];

	if (!json_is_array(arr))
		return rules_fail(err, ptr, "EventBridgeRules must be an array");
	if (json_array_size(arr) && !r->eb_enabled)
		return rules_fail(err, ptr,
				  "EventBridge rules are given but the NotificationConfiguration "
				  "has no \"EventBridgeConfiguration\": {}, so S3 would send them "
				  "no events");
	json_array_foreach(arr, i, rule) {
		struct rules_eb eb = { NULL, 1, r->ntargets, 0 };
		const char *name, *state;
		json_t *pat, *targets;

		rules_ptri(rp, sizeof(rp), ptr, i);
		if (!json_is_object(rule)) {
			rules_fail(err, rp, "an EventBridge rule must be an object");
			goto fail;
		}
		if (rules_only(rule, rp, allowed, err) < 0)
			goto fail;
		name = json_string_value(json_object_get(rule, "Name"));
		if (!name || !*name) {
			rules_fail(err, rp, "missing member 'Name' (a string)");
			goto fail;
		}
		state = json_string_value(json_object_get(rule, "State"));
		jdoc_ptr_join(p, sizeof(p), rp, "State");
		if (json_object_get(rule, "State") &&
		    (!state || (strcmp(state, "ENABLED") && strcmp(state, "DISABLED")))) {
			rules_fail(err, p, "State must be \"ENABLED\" or \"DISABLED\"");
			goto fail;
		}
		eb.enabled = !state || strcmp(state, "ENABLED") == 0;
		jdoc_ptr_join(p, sizeof(p), rp, "EventPattern");
		pat = json_object_get(rule, "EventPattern");
		if (!pat) {
			rules_fail(err, rp, "missing member 'EventPattern'");
			goto fail;
		}
		if (json_is_string(pat)) {
			json_error_t je;

			eb.pattern = json_loads(json_string_value(pat), 0, &je);
			if (!eb.pattern) {
				rules_fail(err, p, "EventPattern is not valid JSON: %s at column %d",
					   je.text, je.column);
				goto fail;
			}
		} else {
			eb.pattern = json_incref(pat);
		}
		if (rules_pattern_check(eb.pattern, p, err) < 0) {
			json_decref(eb.pattern);
			goto fail;
		}
		jdoc_ptr_join(p, sizeof(p), rp, "Targets");
		targets = json_object_get(rule, "Targets");
		if (!json_is_array(targets) || json_array_size(targets) == 0) {
			json_decref(eb.pattern);
			rules_fail(err, json_object_get(rule, "Targets") ? p : rp,
				   "Targets must be a non-empty array");
			goto fail;
		}
		json_array_foreach(targets, j, t) {
			const char *tid, *smv, *sm;
			char idbuf[600];
			json_t *smj;

			rules_ptri(tp, sizeof(tp), p, j);
			if (!json_is_object(t) || rules_only(t, tp, t_allowed, err) < 0) {
				if (!json_is_object(t))
					rules_fail(err, tp, "a target must be an object");
				json_decref(eb.pattern);
				goto fail;
			}
			tid = json_string_value(json_object_get(t, "Id"));
			smj = json_object_get(t, "StateMachine");
			if (!smj)
				smj = json_object_get(t, "Arn");
			smv = json_string_value(smj);
			sm = smv ? rules_sm_name(smv) : NULL;
			if (!sm || !*sm) {
				json_decref(eb.pattern);
				rules_fail(err, tp,
					   "a target needs 'StateMachine' (a state machine name or ARN)");
				goto fail;
			}
			snprintf(idbuf, sizeof(idbuf), "%s/%s", name, tid ? tid : sm);
			jdoc_ptr_join(p, sizeof(p), tp,
				      json_object_get(t, "StateMachine") ? "StateMachine" : "Arn");
			if (rules_add_target(r, RULES_EVENTBRIDGE, idbuf, sm,
					     EVENT_FORMAT_EVENTBRIDGE, p) < 0) {
				json_decref(eb.pattern);
				rules_fail(err, tp, "out of memory");
				goto fail;
			}
			rules_fix_targets(r);
			jdoc_ptr_join(p, sizeof(p), rp, "Targets");
			eb.nt++;
		}
		{
			struct rules_eb *ne = realloc(r->eb, (r->neb + 1) * sizeof(*ne));

			if (!ne) {
				json_decref(eb.pattern);
				rules_fail(err, rp, "out of memory");
				goto fail;
			}
			r->eb = ne;
			r->eb[r->neb++] = eb;
		}
	}
	return 0;
fail:
	while (r->neb && r->eb[r->neb - 1].t0 >= nt0) {
		r->neb--;
		json_decref(r->eb[r->neb].pattern);
	}
	while (r->ntargets > nt0) {
		r->ntargets--;
		free(r->targets[r->ntargets].id);
		free(r->targets[r->ntargets].sm);
		free(r->targets[r->ntargets].ptr);
	}
	return -1;
}

int rules_match(const struct rules *r, const struct event *ev, const char *region,
		const char *account, void (*fn)(void *arg, const struct rules_target *t),
		void *arg)
{
	struct buf key = BUF_INIT;
	const char *name = event_config_name(ev->kind);
	json_t *ebj = NULL;
	size_t i, j, klen;
	int n = 0;

	if (event_key_encode(ev->key, &key) < 0)
		return -ENOMEM;
	klen = key.len;
	for (i = 0; i < r->ns3; i++) {
		const struct rules_s3 *c = &r->s3[i];
		size_t pl = strlen(c->prefix), sl = strlen(c->suffix);
		int hit = 0;

		for (j = 0; j < c->nevents && !hit; j++)
			hit = rules_event_covers(c->events[j], name);
		if (!hit || pl > klen || sl > klen || strncmp(key.data, c->prefix, pl) != 0 ||
		    strcmp(key.data + klen - sl, c->suffix) != 0)
			continue;
		fn(arg, &r->targets[c->target].pub);
		n++;
	}
	buf_release(&key);
	if (r->neb == 0)
		return n;
	ebj = event_eventbridge(ev, region, account);
	if (!ebj)
		return -ENOMEM;
	for (i = 0; i < r->neb; i++) {
		if (!r->eb[i].enabled || !rules_pattern_match(r->eb[i].pattern, ebj))
			continue;
		for (j = 0; j < r->eb[i].nt; j++) {
			fn(arg, &r->targets[r->eb[i].t0 + j].pub);
			n++;
		}
	}
	json_decref(ebj);
	return n;
}

void rules_lint(const struct rules *r, void (*fn)(void *arg, const char *ptr, const char *msg),
		void *arg)
{
	struct buf enc = BUF_INIT;
	char msg[1400];
	size_t i, k;

	for (i = 0; i < r->ns3; i++) {
		for (k = 0; k < 2; k++) {
			const char *v = k ? r->s3[i].suffix : r->s3[i].prefix;
			const char *p = k ? r->s3[i].suffix_ptr : r->s3[i].prefix_ptr;
			struct buf dec = BUF_INIT;

			if (!p)
				continue;
			buf_release(&enc);
			/* a value is usable if it survives decode+encode unchanged */
			if (event_key_decode(v, &dec) < 0) {
				buf_release(&dec);
				(void)buf_puts(&dec, v);
			}
			if (event_key_encode(dec.data, &enc) < 0 || strcmp(enc.data, v) == 0) {
				buf_release(&dec);
				continue;
			}
			snprintf(msg, sizeof(msg),
				 "filter value '%s' is compared with the URL-encoded key, as on "
				 "AWS, and can never match as written; write '%s'",
				 v, enc.data);
			fn(arg, p, msg);
			buf_release(&dec);
		}
	}
	buf_release(&enc);
}
