/*-------------------------------------------------------------------------
 *
 * reader.h
 *	  Streaming reader of callback records for idenfy-load.
 *
 * The reader turns a list of input files (or standard input) into a stream
 * of records, one JSON object each, whatever the form of the input: one
 * object per file (possibly pretty-printed), NDJSON, concatenated objects or
 * JSON arrays of objects.  It reads in fixed-size chunks and never holds
 * more than one record and one chunk in memory.  Malformed input is
 * reported through a callback with its file, line and column, and the
 * reader goes on with the rest of the input where it can; so is an input
 * that cannot be opened or read (the reader goes on with the next one).
 *
 * src/load/reader.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef IDENFY_LOAD_READER_H
#define IDENFY_LOAD_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest record accepted, in bytes: a callback is a few kilobytes. */
#define IDENFY_LOAD_MAX_RECORD	(64 * 1024 * 1024)

/* Where something is in the input, for messages. */
typedef struct SourceLoc
{
	const char *file;			/* display name: the argument, or "<stdin>" */
	long		line;			/* 1-based line */
	long		col;			/* 1-based column, in characters */
	long		element;		/* 1-based element of a JSON array, or 0 */
} SourceLoc;

/*
 * One input: a file (or "-", standard input) with the event type of its
 * records that carry none (the -e given before it on the command line).
 */
typedef struct LoadInput
{
	const char *path;			/* "-": standard input */
	const char *event_type;		/* NULL: none */
} LoadInput;

/* One callback, ready to send. */
typedef struct LoadRecord
{
	SourceLoc	loc;			/* where the record starts */
	long		seq;			/* 1-based position in the whole input */
	char	   *text;			/* the record's own bytes, NUL-terminated */
	size_t		len;			/* strlen(text) */
	char	   *event_type;		/* from a wrapper object, or NULL */
	const char *input_event_type;	/* its input's event type, or NULL */
	const char *payload_key;	/* NULL: text is the callback itself;
								 * otherwise text is a wrapper object and the
								 * callback is under this key */
	bool		has_scan_ref;	/* the callback has a string "scanRef" */
	uint32_t	scan_ref_hash;	/* then a hash of it (reader_hash) */
	char	   *scan_ref;		/* and the decoded string (may hold NUL) */
	size_t		scan_ref_len;
	/* for the caller's use */
	int			outcome;
	struct LoadRecord *next;
} LoadRecord;

typedef enum ReaderStatus
{
	READER_RECORD,				/* *rec is set */
	READER_WOULD_BLOCK,			/* no input ready (only when may_block is
								 * false and the input is a pipe or tty) */
	READER_END					/* all inputs are done */
} ReaderStatus;

typedef enum ReaderProblem
{
	READER_BAD_RECORD,			/* JSON syntax error or a record that is not
								 * a callback object: counted, skipped */
	READER_IO_ERROR				/* an input could not be opened or read */
} ReaderProblem;

typedef void (*ReaderReportFn) (void *arg, ReaderProblem kind,
								const SourceLoc *loc, const char *msg);

typedef struct Reader Reader;

extern Reader *reader_create(const LoadInput *inputs, int ninputs,
							 ReaderReportFn report, void *report_arg);
extern ReaderStatus reader_next(Reader *r, bool may_block, LoadRecord **rec);
extern int	reader_fd(const Reader *r);
extern int64_t reader_bytes_read(const Reader *r);
extern int	reader_inputs_read(const Reader *r);
extern long reader_bad_records(const Reader *r);
extern bool reader_had_io_error(const Reader *r);
extern void reader_free(Reader *r);
extern void load_record_free(LoadRecord *rec);
extern void load_text_free(char *text);
extern uint32_t reader_hash(const char *s, size_t len);

#endif							/* IDENFY_LOAD_READER_H */
