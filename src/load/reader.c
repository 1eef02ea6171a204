/*-------------------------------------------------------------------------
 *
 * reader.c
 *	  Streaming reader of callback records for idenfy-load.
 *
 * Input forms.  An input is a sequence of top-level JSON values separated
 * by white space, which covers one object per file (pretty-printed or not),
 * NDJSON and concatenated objects alike.  A top-level '[' opens an array
 * whose elements are the records.  The reader frames arrays itself (the
 * '[', ',' and ']' between elements) and hands json-c's incremental
 * tokener one record at a time, so that a huge array never becomes one
 * huge json-c tree: memory is one read chunk plus the current record.
 *
 * Positions.  The reader counts lines and columns (in UTF-8 characters) of
 * every byte it consumes, and keeps the bytes of the current record: that
 * text is what is sent to the server, byte for byte (json-c's own
 * serialization would clamp big integers, among other things).
 *
 * Recovery.  After a syntax error in a top-level value the reader
 * resynchronises at the next line that begins with '{', looking from the
 * line after the one where the broken record began: in NDJSON a truncated
 * line does not swallow the good line after it.  In a pretty-printed
 * object the nested lines are indented, so the rest of that object is
 * skipped.  A syntax error inside an array ends that input: the reader
 * reports it and goes on with the next input.  A well-formed value that is
 * not a callback object (a number, an array element that is a string, a
 * wrapper without an object payload) is reported and skipped without any
 * resynchronisation.
 *
 * Wrapper objects.  An object with a "payload" (or "body") member and no
 * "scanRef" member is a wrapper: {"event_type": "...", "payload": {...}};
 * the event type may also be spelled "eventType".  The record then carries
 * the whole wrapper text and the key of the callback inside it.
 *
 * Routing key.  While the parsed object is at hand, the reader also takes
 * the callback's "scanRef" (the wrapper's payload's, for a wrapper) and
 * keeps a hash of it in the record: idenfy-load --jobs sends all the
 * callbacks of one scanRef through the same connection.  The hash is of
 * the decoded string, the value the server stores, so that two spellings
 * of one scanRef ("\u0041" and "A") go the same way.  The decoded string
 * itself is kept too: idenfy-load sorts each transaction's records by it
 * (the lock order).
 *
 * Inputs.  The reader gets its inputs as a list (inputs.c expands the
 * FILE arguments, directories included), each with the event type of its
 * records that carry none; one that cannot be opened or read is reported
 * as READER_IO_ERROR and the reader goes on with the next.
 *
 * src/load/reader.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "reader.h"

#define READ_CHUNK			65536
#define MAX_JSON_DEPTH		64
#define TOKENER_FLAGS	(JSON_TOKENER_STRICT | \
						 JSON_TOKENER_ALLOW_TRAILING_CHARS | \
						 JSON_TOKENER_VALIDATE_UTF8)

/*
 * Record texts.  They come from a pool of blocks in powers of two from
 * 4 kB, kept when freed (at most TEXT_POOL_BYTES): a malloc and a free of a
 * few kB per record made glibc consolidate its small free chunks (json-c's
 * objects) on every record, a tenth of the program's time.
 */
#define TEXT_MIN_SHIFT		12
#define TEXT_CLASSES		16	/* 4 kB .. 128 MB; larger ones are not kept */
#define TEXT_POOL_BYTES		(32 * 1024 * 1024)

typedef struct TextBlock
{
	struct TextBlock *next;		/* in its class's free list */
	int			cls;			/* -1: not from a class */
	long long	align;			/* the text after it stays aligned */
} TextBlock;

static TextBlock *text_free[TEXT_CLASSES];
static size_t text_pool_bytes;

static char *
TextAlloc(size_t n)
{
	int			cls = 0;
	TextBlock  *b;

	while (cls < TEXT_CLASSES && ((size_t) 1 << (TEXT_MIN_SHIFT + cls)) < n)
		cls++;
	if (cls < TEXT_CLASSES && text_free[cls] != NULL)
	{
		b = text_free[cls];
		text_free[cls] = b->next;
		text_pool_bytes -= (size_t) 1 << (TEXT_MIN_SHIFT + cls);
		return (char *) (b + 1);
	}
	b = malloc(sizeof(TextBlock) + (cls < TEXT_CLASSES ? (size_t) 1 << (TEXT_MIN_SHIFT + cls) : n));
	if (b == NULL)
	{
		fprintf(stderr, "idenfy-load: out of memory\n");
		exit(2);
	}
	b->cls = cls < TEXT_CLASSES ? cls : -1;
	return (char *) (b + 1);
}

/* load_text_free: give back a record's text (NULL: nothing) */
void
load_text_free(char *text)
{
	TextBlock  *b;
	size_t		size;

	if (text == NULL)
		return;
	b = (TextBlock *) text - 1;
	if (b->cls < 0)
	{
		free(b);
		return;
	}
	size = (size_t) 1 << (TEXT_MIN_SHIFT + b->cls);
	if (text_pool_bytes + size > TEXT_POOL_BYTES)
	{
		free(b);
		return;
	}
	b->next = text_free[b->cls];
	text_free[b->cls] = b;
	text_pool_bytes += size;
}

typedef enum ReaderState
{
	RS_OPEN,					/* open the next input */
	RS_BOM,						/* start of an input: maybe a byte order mark */
	RS_TOP,						/* between top-level values */
	RS_VALUE,					/* inside a top-level value */
	RS_ARRAY_FIRST,				/* after '[': an element or ']' */
	RS_ARRAY_NEXT,				/* after an element: ',' or ']' */
	RS_ARRAY_ELEMENT,			/* after ',': an element */
	RS_ELEMENT,					/* inside an array element */
	RS_RESYNC,					/* skip to a line that begins with '{' */
	RS_SKIP_INPUT				/* skip the rest of this input */
} ReaderState;

struct Reader
{
	const LoadInput *inputs;
	int			ninputs;
	int			next_input;
	int			inputs_read;	/* opened */
	const char *input_event_type;	/* of the current input */
	long		seq;			/* records returned */

	/* current input */
	const char *name;
	int			fd;
	int64_t		size;			/* of a regular file, else -1 */
	int64_t		offset;			/* bytes read from this input */
	bool		eof;			/* read() returned 0 */

	/* bytes being scanned: the read buffer, or replayed bytes */
	char	   *buf;
	char	   *replay;			/* owned copy being replayed, or NULL */
	const char *seg;
	size_t		seglen;
	size_t		segpos;

	ReaderState state;
	int			bom_matched;
	long		line;			/* position of seg[segpos] */
	long		col;
	bool		at_line_start;
	long		element;		/* current array element number */

	/* the value being parsed */
	json_tokener *tok;
	SourceLoc	start;
	char	   *rec;
	size_t		reclen;
	size_t		reccap;

	ReaderReportFn report;
	void	   *report_arg;
	int64_t		bytes_read;
	long		bad_records;
	bool		io_error;
};

static const char utf8_bom[] = "\xEF\xBB\xBF";

static bool
IsJsonSpace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Report a problem at loc, printf-style.
 */
static void
ReportAt(Reader *r, ReaderProblem kind, const SourceLoc *loc,
		 const char *fmt,...)
{
	char		msg[1024];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (kind == READER_BAD_RECORD)
		r->bad_records++;
	else
		r->io_error = true;
	r->report(r->report_arg, kind, loc, msg);
}

/* The current position, as a SourceLoc. */
static SourceLoc
HereLoc(const Reader *r)
{
	SourceLoc	loc;

	loc.file = r->name;
	loc.line = r->line;
	loc.col = r->col;
	loc.element = (r->state == RS_ELEMENT) ? r->element : 0;
	return loc;
}

/*
 * Consume n bytes at the scan position: advance line and column, and
 * append them to the current record if keep.
 */
static void
Consume(Reader *r, size_t n, bool keep)
{
	const char *p = r->seg + r->segpos;
	const char *end = p + n;
	const char *nl;

	if (n == 0)
		return;
	if (keep)
	{
		if (r->reclen + n + 1 > r->reccap)
		{
			size_t		cap = r->reccap ? r->reccap : 4096;

			while (cap < r->reclen + n + 1)
				cap *= 2;
			r->rec = realloc(r->rec, cap);
			if (r->rec == NULL)
			{
				fprintf(stderr, "idenfy-load: out of memory\n");
				exit(2);
			}
			r->reccap = cap;
		}
		memcpy(r->rec + r->reclen, p, n);
		r->reclen += n;
	}

	while ((nl = memchr(p, '\n', end - p)) != NULL)
	{
		r->line++;
		r->col = 1;
		p = nl + 1;
	}
	for (; p < end; p++)
		if ((*p & 0xC0) != 0x80)
			r->col++;

	r->at_line_start = (r->seg[r->segpos + n - 1] == '\n');
	r->segpos += n;
}

/*
 * Make bytes available at the scan position.  Returns 1 when there are
 * some, 0 at the end of the current input (or after a read error, which is
 * reported), -1 when none are ready and may_block is false.
 */
static int
Fill(Reader *r, bool may_block)
{
	ssize_t		n;

	if (r->segpos < r->seglen)
		return 1;
	if (r->replay != NULL)
	{
		free(r->replay);
		r->replay = NULL;
	}
	if (r->fd < 0 || r->eof)
		return 0;

	if (!may_block && r->size < 0)
	{
		struct pollfd pfd;

		pfd.fd = r->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) == 0)
			return -1;
	}

	for (;;)
	{
		n = read(r->fd, r->buf, READ_CHUNK);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
		{
			struct pollfd pfd;

			if (!may_block)
				return -1;
			pfd.fd = r->fd;
			pfd.events = POLLIN;
			pfd.revents = 0;
			(void) poll(&pfd, 1, -1);
			continue;
		}
		{
			SourceLoc	loc = HereLoc(r);

			loc.element = 0;
			ReportAt(r, READER_IO_ERROR, &loc, "could not read input: %s",
					 strerror(errno));
		}
		r->eof = true;
		r->state = RS_SKIP_INPUT;
		return 0;
	}
	r->seg = r->buf;
	r->seglen = (size_t) n;
	r->segpos = 0;
	r->offset += n;
	r->bytes_read += n;
	if (n == 0)
		r->eof = true;
	return n > 0 ? 1 : 0;
}

/* Start a new value (top-level or array element) at the scan position. */
static void
StartValue(Reader *r, ReaderState state)
{
	r->state = state;
	r->start = HereLoc(r);
	r->reclen = 0;
	json_tokener_reset(r->tok);
}

/*
 * After a syntax error in a top-level value: replay the bytes of the broken
 * record from its second line on, then skip to a line beginning with '{'.
 * Inside an array, give up on the rest of the input instead.
 */
static void
Resync(Reader *r, bool in_array)
{
	const char *nl;
	size_t		keep;
	size_t		rest;
	char	   *replay;

	if (in_array)
	{
		r->state = RS_SKIP_INPUT;
		return;
	}
	r->state = RS_RESYNC;
	nl = r->reclen > 0 ? memchr(r->rec, '\n', r->reclen) : NULL;
	if (nl == NULL)
	{
		/* the record's first line is not over: skip on from here */
		r->at_line_start = false;
		return;
	}

	keep = r->reclen - (size_t) (nl + 1 - r->rec);
	rest = r->seglen - r->segpos;
	replay = malloc(keep + rest + 1);
	if (replay == NULL)
	{
		fprintf(stderr, "idenfy-load: out of memory\n");
		exit(2);
	}
	memcpy(replay, nl + 1, keep);
	memcpy(replay + keep, r->seg + r->segpos, rest);
	free(r->replay);
	r->replay = replay;
	r->seg = replay;
	r->seglen = keep + rest;
	r->segpos = 0;
	r->line = r->start.line + 1;
	r->col = 1;
	r->at_line_start = true;
	r->reclen = 0;
}

/*
 * A parsed value is complete: check that it is a callback object or a
 * wrapper around one, and make the record.  Returns NULL after reporting
 * a value that is not a callback.
 */
static LoadRecord *
FinishValue(Reader *r, json_object *obj)
{
	LoadRecord *rec;
	const char *payload_key = NULL;
	json_object *payload = NULL;
	char	   *event_type = NULL;
	bool		has_scan_ref = false;
	uint32_t	scan_ref_hash = 0;
	char	   *scan_ref = NULL;
	size_t		scan_ref_len = 0;
	size_t		len;

	if (!json_object_is_type(obj, json_type_object))
	{
		ReportAt(r, READER_BAD_RECORD, &r->start,
				 "record is not a JSON object (found %s)",
				 json_type_to_name(json_object_get_type(obj)));
		json_object_put(obj);
		return NULL;
	}

	/*
	 * A wrapper: "payload" or "body", and no "scanRef" (a callback has one).
	 * json-c stores a JSON null member as a NULL pointer, hence the
	 * _get_ex calls rather than plain lookups.
	 */
	if (!json_object_object_get_ex(obj, "scanRef", NULL))
	{
		bool		has_payload = json_object_object_get_ex(obj, "payload", &payload);
		json_object *body = NULL;
		bool		has_body = json_object_object_get_ex(obj, "body", &body);

		if (has_payload && has_body)
		{
			ReportAt(r, READER_BAD_RECORD, &r->start,
					 "wrapper object has both \"payload\" and \"body\"");
			json_object_put(obj);
			return NULL;
		}
		if (has_body)
		{
			has_payload = true;
			payload = body;
			payload_key = "body";
		}
		else if (has_payload)
			payload_key = "payload";

		if (has_payload)
		{
			json_object *et = NULL;
			json_object *et2 = NULL;
			bool		has_et = json_object_object_get_ex(obj, "event_type", &et);
			bool		has_et2 = json_object_object_get_ex(obj, "eventType", &et2);

			if (!json_object_is_type(payload, json_type_object))
			{
				ReportAt(r, READER_BAD_RECORD, &r->start,
						 "wrapper member \"%s\" is not a JSON object (found %s)",
						 payload_key,
						 json_type_to_name(json_object_get_type(payload)));
				json_object_put(obj);
				return NULL;
			}
			if (has_et && has_et2)
			{
				ReportAt(r, READER_BAD_RECORD, &r->start,
						 "wrapper object has both \"event_type\" and \"eventType\"");
				json_object_put(obj);
				return NULL;
			}
			if (has_et2)
			{
				has_et = true;
				et = et2;
			}
			if (has_et && et != NULL)
			{
				if (!json_object_is_type(et, json_type_string))
				{
					ReportAt(r, READER_BAD_RECORD, &r->start,
							 "wrapper member \"%s\" is not a string (found %s)",
							 has_et2 ? "eventType" : "event_type",
							 json_type_to_name(json_object_get_type(et)));
					json_object_put(obj);
					return NULL;
				}
				event_type = strdup(json_object_get_string(et));
			}
		}
	}
	/* the routing key: the callback's scanRef, when it is a string */
	{
		json_object *callback = (payload_key != NULL) ? payload : obj;
		json_object *sr = NULL;

		if (json_object_object_get_ex(callback, "scanRef", &sr) &&
			json_object_is_type(sr, json_type_string))
		{
			has_scan_ref = true;
			scan_ref_len = (size_t) json_object_get_string_len(sr);
			scan_ref_hash = reader_hash(json_object_get_string(sr), scan_ref_len);
			scan_ref = malloc(scan_ref_len + 1);
			if (scan_ref == NULL)
			{
				fprintf(stderr, "idenfy-load: out of memory\n");
				exit(2);
			}
			memcpy(scan_ref, json_object_get_string(sr), scan_ref_len);
			scan_ref[scan_ref_len] = '\0';
		}
	}
	json_object_put(obj);

	/* the record's text, without the white space json-c consumed after it */
	len = r->reclen;
	while (len > 0 && IsJsonSpace(r->rec[len - 1]))
		len--;

	rec = calloc(1, sizeof(LoadRecord));
	if (rec == NULL)
	{
		fprintf(stderr, "idenfy-load: out of memory\n");
		exit(2);
	}
	rec->text = TextAlloc(len + 1);
	memcpy(rec->text, r->rec, len);
	rec->text[len] = '\0';
	rec->len = len;
	rec->loc = r->start;
	rec->seq = ++r->seq;
	rec->event_type = event_type;
	rec->input_event_type = r->input_event_type;
	rec->payload_key = payload_key;
	rec->has_scan_ref = has_scan_ref;
	rec->scan_ref_hash = scan_ref_hash;
	rec->scan_ref = scan_ref;
	rec->scan_ref_len = scan_ref_len;
	r->reclen = 0;
	return rec;
}

/*
 * Feed the tokener from the scan position.  Returns a record when one is
 * complete and valid; NULL otherwise (more input is needed, or the value
 * was reported and skipped).  at_eof: the input is over; feed the
 * terminating NUL so that a trailing number or literal completes.
 */
static LoadRecord *
FeedValue(Reader *r, bool at_eof)
{
	bool		in_array = (r->state == RS_ELEMENT);
	const char *p;
	size_t		avail;
	int			n;
	json_object *obj;
	enum json_tokener_error err;
	size_t		used;

	if (at_eof)
	{
		p = "";
		n = 1;
	}
	else
	{
		p = r->seg + r->segpos;
		avail = r->seglen - r->segpos;
		n = avail > INT_MAX ? INT_MAX : (int) avail;
	}

	obj = json_tokener_parse_ex(r->tok, p, n);
	err = json_tokener_get_error(r->tok);
	used = json_tokener_get_parse_end(r->tok);
	if (!at_eof)
		Consume(r, used, true);

	if (err == json_tokener_continue)
	{
		if (r->reclen > IDENFY_LOAD_MAX_RECORD)
		{
			ReportAt(r, READER_BAD_RECORD, &r->start,
					 "record is longer than %d bytes", IDENFY_LOAD_MAX_RECORD);
			r->reclen = 0;
			if (in_array)
				r->state = RS_SKIP_INPUT;
			else
			{
				r->state = RS_RESYNC;
				r->at_line_start = false;
			}
		}
		return NULL;
	}

	if (err != json_tokener_success)
	{
		SourceLoc	here = HereLoc(r);
		char		where[96] = "";

		if (here.line != r->start.line)
			snprintf(where, sizeof(where), " (in the record starting at line %ld)",
					 r->start.line);
		if (at_eof)
			ReportAt(r, READER_BAD_RECORD, &here,
					 "invalid JSON: unexpected end of input%s%s", where,
					 in_array ? "; rest of input skipped" : "");
		else
			ReportAt(r, READER_BAD_RECORD, &here, "invalid JSON: %s%s%s",
					 json_tokener_error_desc(err), where,
					 in_array ? "; rest of input skipped" : "");
		Resync(r, in_array);
		return NULL;
	}

	r->state = in_array ? RS_ARRAY_NEXT : RS_TOP;
	return FinishValue(r, obj);
}

/* Open the next input; false when there is none. */
static bool
OpenNext(Reader *r)
{
	while (r->next_input < r->ninputs)
	{
		const LoadInput *in = &r->inputs[r->next_input++];
		const char *arg = in->path;
		struct stat st;

		r->line = 1;
		r->col = 1;
		r->at_line_start = true;
		r->offset = 0;
		r->eof = false;
		r->seglen = r->segpos = 0;
		r->element = 0;
		r->input_event_type = in->event_type;
		if (strcmp(arg, "-") == 0)
		{
			r->name = "<stdin>";
			r->fd = STDIN_FILENO;
		}
		else
		{
			r->name = arg;
			r->fd = open(arg, O_RDONLY | O_CLOEXEC);
			if (r->fd < 0)
			{
				SourceLoc	loc = {arg, 0, 0, 0};

				ReportAt(r, READER_IO_ERROR, &loc, "could not open input: %s",
						 strerror(errno));
				continue;
			}
		}
		r->inputs_read++;
		if (fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode))
			r->size = st.st_size;
		else
			r->size = -1;
#ifdef POSIX_FADV_SEQUENTIAL
		if (r->size >= 0)
			(void) posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
		r->state = RS_BOM;
		r->bom_matched = 0;
		return true;
	}
	return false;
}

/* The current input is over: report what is left unfinished, close it. */
static void
CloseInput(Reader *r)
{
	SourceLoc	here = HereLoc(r);

	switch (r->state)
	{
		case RS_ARRAY_FIRST:
		case RS_ARRAY_NEXT:
		case RS_ARRAY_ELEMENT:
			ReportAt(r, READER_BAD_RECORD, &here,
					 "invalid JSON: unexpected end of input inside an array");
			break;
		case RS_BOM:
			if (r->bom_matched > 0)
				ReportAt(r, READER_BAD_RECORD, &here,
						 "invalid JSON: incomplete byte order mark");
			break;
		case RS_SKIP_INPUT:
			/* the unread rest counts as done, for the progress line */
			if (r->size > r->offset)
				r->bytes_read += r->size - r->offset;
			break;
		default:
			break;
	}
	if (r->fd > STDIN_FILENO)
		close(r->fd);
	r->fd = -1;
	r->seglen = r->segpos = 0;
	if (r->replay != NULL)
	{
		free(r->replay);
		r->replay = NULL;
	}
	r->state = RS_OPEN;
}

Reader *
reader_create(const LoadInput *inputs, int ninputs, ReaderReportFn report,
			  void *report_arg)
{
	Reader	   *r = calloc(1, sizeof(Reader));

	if (r == NULL || (r->buf = malloc(READ_CHUNK)) == NULL ||
		(r->tok = json_tokener_new_ex(MAX_JSON_DEPTH)) == NULL)
	{
		fprintf(stderr, "idenfy-load: out of memory\n");
		exit(2);
	}
	json_tokener_set_flags(r->tok, TOKENER_FLAGS);
	r->inputs = inputs;
	r->ninputs = ninputs;
	r->fd = -1;
	r->name = "";
	r->state = RS_OPEN;
	r->report = report;
	r->report_arg = report_arg;
	return r;
}

/*
 * Return the next record in *rec.  Bad records are reported and skipped.
 */
ReaderStatus
reader_next(Reader *r, bool may_block, LoadRecord **rec)
{
	*rec = NULL;
	for (;;)
	{
		int			ready;
		char		c;

		if (r->state == RS_OPEN)
		{
			if (!OpenNext(r))
				return READER_END;
		}
		if (r->state == RS_SKIP_INPUT)
		{
			CloseInput(r);
			continue;
		}

		ready = Fill(r, may_block);
		if (ready < 0)
			return READER_WOULD_BLOCK;
		if (ready == 0)
		{
			if (r->state == RS_VALUE || r->state == RS_ELEMENT)
			{
				/* the input ends inside a value */
				*rec = FeedValue(r, true);
				if (*rec != NULL)
					return READER_RECORD;
				if (r->segpos < r->seglen)
					continue;	/* replaying the broken record's tail */
			}
			CloseInput(r);
			continue;
		}

		c = r->seg[r->segpos];
		switch (r->state)
		{
			case RS_BOM:
				if (c == utf8_bom[r->bom_matched])
				{
					Consume(r, 1, false);
					if (++r->bom_matched == 3)
					{
						r->col = 1;
						r->state = RS_TOP;
					}
				}
				else if (r->bom_matched == 0)
					r->state = RS_TOP;
				else
				{
					SourceLoc	here = HereLoc(r);

					ReportAt(r, READER_BAD_RECORD, &here,
							 "invalid JSON: incomplete byte order mark");
					r->state = RS_RESYNC;
				}
				break;

			case RS_TOP:
				if (IsJsonSpace(c))
				{
					size_t		i = r->segpos;

					while (i < r->seglen && IsJsonSpace(r->seg[i]))
						i++;
					Consume(r, i - r->segpos, false);
				}
				else if (c == '[')
				{
					Consume(r, 1, false);
					r->element = 0;
					r->state = RS_ARRAY_FIRST;
				}
				else
					StartValue(r, RS_VALUE);
				break;

			case RS_ARRAY_FIRST:
			case RS_ARRAY_ELEMENT:
			case RS_ARRAY_NEXT:
				if (IsJsonSpace(c))
					Consume(r, 1, false);
				else if (c == ']' && r->state != RS_ARRAY_ELEMENT)
				{
					Consume(r, 1, false);
					r->state = RS_TOP;
				}
				else if (c == ',' && r->state == RS_ARRAY_NEXT)
				{
					Consume(r, 1, false);
					r->state = RS_ARRAY_ELEMENT;
				}
				else if (r->state != RS_ARRAY_NEXT && c != ']')
				{
					r->element++;
					StartValue(r, RS_ELEMENT);
				}
				else
				{
					SourceLoc	here = HereLoc(r);

					if (r->state == RS_ARRAY_NEXT)
						ReportAt(r, READER_BAD_RECORD, &here,
								 "invalid JSON: expected ',' or ']' after array element %ld; rest of input skipped",
								 r->element);
					else
						ReportAt(r, READER_BAD_RECORD, &here,
								 "invalid JSON: expected an array element after ','; rest of input skipped");
					r->state = RS_SKIP_INPUT;
				}
				break;

			case RS_VALUE:
			case RS_ELEMENT:
				*rec = FeedValue(r, false);
				if (*rec != NULL)
					return READER_RECORD;
				break;

			case RS_RESYNC:
				if (r->at_line_start && c == '{')
					r->state = RS_TOP;
				else
				{
					const char *p = r->seg + r->segpos;
					const char *nl = memchr(p, '\n', r->seglen - r->segpos);

					Consume(r, nl ? (size_t) (nl - p) + 1 : r->seglen - r->segpos,
							false);
				}
				break;

			case RS_OPEN:
			case RS_SKIP_INPUT:
				break;
		}
	}
}

/* The descriptor to poll after READER_WOULD_BLOCK. */
int
reader_fd(const Reader *r)
{
	return r->fd;
}

int64_t
reader_bytes_read(const Reader *r)
{
	return r->bytes_read;
}

/* Inputs opened so far. */
int
reader_inputs_read(const Reader *r)
{
	return r->inputs_read;
}

long
reader_bad_records(const Reader *r)
{
	return r->bad_records;
}

bool
reader_had_io_error(const Reader *r)
{
	return r->io_error;
}

void
reader_free(Reader *r)
{
	if (r == NULL)
		return;
	if (r->fd > STDIN_FILENO)
		close(r->fd);
	json_tokener_free(r->tok);
	free(r->replay);
	free(r->buf);
	free(r->rec);
	free(r);
}

void
load_record_free(LoadRecord *rec)
{
	if (rec == NULL)
		return;
	load_text_free(rec->text);
	free(rec->event_type);
	free(rec->scan_ref);
	free(rec);
}

/*
 * 32-bit FNV-1a of len bytes: the same on every platform and in every run,
 * so that a scanRef always takes the same connection for a given --jobs.
 */
uint32_t
reader_hash(const char *s, size_t len)
{
	uint32_t	h = 2166136261u;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		h ^= (unsigned char) s[i];
		h *= 16777619u;
	}
	return h;
}
