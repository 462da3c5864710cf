/*
 * mapio: the item parsers of a Distributed Map's ItemReader (ReaderConfig
 * InputType CSV, JSON, JSONL), as AWS Step Functions reads an object:
 *
 * CSV (RFC 4180): records end at LF or CRLF (a final line break is
 * optional); a field in double quotes may hold the delimiter, line breaks
 * and "" for a quote; a record that is an empty line is skipped. Each record
 * becomes an object of header -> string (every value a string, as AWS gives
 * them): a record with fewer fields than headers gets "" for the rest, extra
 * fields are dropped. The headers are the first record (FIRST_ROW) or given
 * (GIVEN, CSVHeaders); duplicates fail with AWS's cause "CSV headers cannot
 * contain duplicates.".
 * JSON: the object must be a JSON array (else AWS's "Attempting to map over
 * non-iterable node."). JSONL: one JSON value per non-empty line.
 *
 * @max_items (0 = all) keeps the first items only. On failure every parser
 * returns -1 with the cause in @cause (what and where: line numbers);
 * -ENOMEM on out-of-memory. Pure functions: any thread.
 */
#ifndef STEPFS_MAPIO_H
#define STEPFS_MAPIO_H

#include <jansson.h>
#include <stddef.h>

struct mapio_csv_opts {
	char delimiter;   /* ',' (COMMA), '|' (PIPE), ';' (SEMICOLON), ' ' (SPACE), '\t' (TAB) */
	json_t *headers;  /* borrowed array of strings (GIVEN); NULL: FIRST_ROW */
};

#define MAPIO_CSV_OPTS_INIT { ',', NULL }

/* The delimiter named by ReaderConfig CSVDelimiter; 0 if @name is none of AWS's names. */
char mapio_csv_delimiter(const char *name);

int mapio_parse_csv(const char *data, size_t len, const struct mapio_csv_opts *o,
		    size_t max_items, json_t **ret, char *cause, size_t causelen);
int mapio_parse_json(const char *data, size_t len, size_t max_items, json_t **ret, char *cause,
		     size_t causelen);
int mapio_parse_jsonl(const char *data, size_t len, size_t max_items, json_t **ret,
		      char *cause, size_t causelen);

#endif
