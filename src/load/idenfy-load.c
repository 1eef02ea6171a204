/*-------------------------------------------------------------------------
 *
 * idenfy-load.c
 *	  Bulk loader of iDenfy callbacks: reads callbacks from files or
 *	  standard input and feeds them to idenfy_ingest() through libpq's
 *	  pipeline mode.
 *
 * Batching and error isolation.  Every record is one execution of
 *
 *		SELECT scan_ref, outcome FROM idenfy_ingest($1::jsonb, $2)
 *
 * (prepared once; a wrapper record {"event_type": ..., "payload": {...}}
 * goes whole, as idenfy_ingest(($1::jsonb) -> 'payload', $2), so that the
 * server always gets the input's own bytes), sent without waiting for the
 * previous answer: pipeline mode, so there is no round trip per record.
 * Records are grouped into transactions of --batch records, and a batch
 * is first sent optimistically, with nothing around its records:
 *
 *		BEGIN; EXECUTE x N; COMMIT; Sync
 *
 * That is the common case.  There, the records read in one go for a
 * connection (up to LOAD_GROUP_RECORDS) also share one statement, a
 * "group": their texts go as one jsonb[] parameter in binary array format
 * (each element is the version byte 1 and the record's own bytes) and the
 * statement calls idenfy_ingest_many() on the array (SQL_MANY; with an
 * extension older than 1.5.0, idenfy_ingest() once per element, in order:
 * SQL_GROUP): one Bind/Execute, portal and result per group instead of
 * per record, about 8% of the server's time per record in bench/load.sh,
 * and with idenfy_ingest_many one SECURITY DEFINER call instead of one per
 * record.
 * A group fails as a whole, as its transaction would anyway.  When a
 * record of such a batch fails, the server aborts the transaction, and
 * the batch is run again in careful mode, where each record runs between
 * a SAVEPOINT and its RELEASE, so that a record the server rejects is
 * undone alone:
 *
 *		BEGIN; { SAVEPOINT; EXECUTE; RELEASE } x N; COMMIT; Sync
 *
 * --savepoints sends every batch that way from the start.
 *
 * In a pipeline, an error makes the server skip everything up to the next
 * Sync, and leaves the explicit transaction aborted: whatever was sent
 * behind the failed record comes back unexecuted (a later batch's BEGIN,
 * behind an earlier batch's Sync, fails too, as the aborted transaction
 * is still open; so no later batch can run before the failed one is dealt
 * with).  When the program reads the error it marks those commands as
 * skipped, to be sent again in their order, and sends Sync, then:
 *
 * - for an optimistic batch: ROLLBACK.  Results of the batch's records
 *	 executed before the failure are discarded (they were rolled back), and
 *	 the whole batch goes to the front of the resend queue in careful form
 *	 (a batch still open takes its further records in careful form too).
 *	 The failed record is not reported then: it runs again, in its
 *	 savepoint, and is reported (or, if its error was transient, loaded)
 *	 by the careful run, with everything else in the batch.  A batch is
 *	 sent optimistically at most once, so a file of bad records costs at
 *	 most about twice the careful mode, never a quadratic number of runs.
 *	 Re-running a record that was rolled back is safe: its first run left
 *	 nothing behind, and idenfy_ingest() sees the same state again.
 *	 Records of the batch not sent yet follow in careful form too.
 *
 * - for a careful batch: ROLLBACK TO SAVEPOINT (undoing the failed record
 *	 only), RELEASE SAVEPOINT; the failed record is reported, and the
 *	 records before it stay in their transaction.
 *
 * So records are applied and committed in the order they were sent (see
 * the lock order below), a committed record
 * was run once in its committed transaction, and an error costs one
 * re-send of what was in flight (plus, for an optimistic batch, a second
 * run of the records of that batch sent before the failure).  The number
 * of records in flight adapts: halved on each error, grown by one on each
 * success, between LOAD_WINDOW_MIN and LOAD_WINDOW_RECORDS; so a run of
 * bad records does not make each error re-send a thousand records.
 *
 * Memory: until its COMMIT is answered, an optimistic batch keeps its
 * records (in careful mode, a record's text is freed as soon as its
 * execution is answered), so memory is bounded by the batch: at most
 * --batch records, and an optimistic batch is also committed early once
 * its records reach LOAD_BATCH_BYTES; plus the records in flight
 * (LOAD_WINDOW_RECORDS, LOAD_WINDOW_BYTES).  All of this is per
 * connection (see --jobs).
 *
 * Alternatives considered: (a) re-running a failed batch without its bad
 * record, optimistically again: work is done again on every error and a
 * file of bad records turns quadratic; (b) savepoints always (the only
 * mode before): two short statements and one subtransaction per record,
 * about 10% more time in bench/load.sh (where idenfy_ingest() itself takes
 * most of the server's time), and more than 64 subtransactions in a
 * transaction make other sessions' snapshots slower while it runs ("subxid
 * overflow"); now that happens only while a batch with a bad record is
 * re-run (--batch 60 stays under that limit if it matters there); (c) a
 * PL/pgSQL wrapper with an EXCEPTION block: the same subtransaction as a
 * savepoint, plus a temporary function to create.  An input with many bad
 * records (say one in a few hundred) is faster with --savepoints.
 *
 * Lock order.  A transaction's records are collected first (--batch of
 * them, LOAD_BATCH_BYTES, or what came before the input ended or stalled)
 * and sorted by scanRef (bytewise, unusable scanRefs last, stable), then
 * sent: every transaction locks its verification rows in one global
 * order, so concurrent loads cannot deadlock.  The careful re-run of a
 * batch sends its records again in the order they were sent, so it keeps
 * that order.  Within a transaction callbacks of different scanRefs are
 * therefore applied in scanRef order, those of one scanRef in input order,
 * which is all the ordering rules need.  The server's reports of rejected
 * records are kept until their transaction ends and printed in input
 * order.
 *
 * -1 (--single-transaction): the whole input is one collected
 * transaction (all of it in memory), sent optimistically without a COMMIT;
 * once everything is answered (a failure having turned it careful, so
 * that every bad record is reported), it is committed if nothing failed in
 * the whole run (no rejected or bad record, no unreadable input), else
 * rolled back (the ROLLBACK "discards": its records count as rolled back).
 *
 * --transaction-per-record (formerly --single): each record is an implicit
 * transaction of its own (EXECUTE; Sync), still pipelined: no savepoints,
 * nothing to recover, one commit per record, nothing to sort.
 *
 * --jobs N: N connections, each with its own pipeline, window, batches
 * and careful re-runs, exactly as described above (a LoadConn each;
 * --jobs 1 is the same code with one of them).  A record goes to the
 * connection chosen by a hash of its callback's scanRef (computed by the
 * reader; a record without a string scanRef goes to the first one), so
 * the callbacks of one verification are applied in input order, one
 * transaction after the other, as with a single connection.  Callbacks of
 * different scanRefs are applied in any order, which the ingest rules
 * allow: what a callback does depends only on the stored state of its own
 * scanRef.  The connections touch disjoint verification rows, so they do
 * not wait for each other's row locks.  The main loop reads a record only
 * when some connection could take it; when that record's own connection
 * is full, the record is held (one record) and reading stops while every
 * connection goes on sending what it must send again and reading its
 * answers: memory is N times the bounds above, plus one record.  Counts,
 * error kinds and the summary are the run's, kept once for all
 * connections; a lost connection, whichever it is, ends the run (exit 2).
 *
 * Results are matched to what was sent through a FIFO of pending
 * commands.  An outcome is counted only once its transaction has
 * committed.  Whenever the program stops sending it asks the server to
 * flush its answers (a protocol Flush message: the server otherwise holds
 * them until the next Sync), and it sends nothing while libpq's pipeline
 * is in the aborted state (libpq would then write each message on its
 * own).
 *
 * src/load/idenfy-load.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "inputs.h"
#include "reader.h"

#define LOAD_VERSION			"1.0.0"
#define LOAD_DEFAULT_BATCH		500
#define LOAD_MAX_BATCH			1000000
#define LOAD_MAX_JOBS			64	/* connections */
#define LOAD_WINDOW_RECORDS		1000	/* records sent, not yet answered */
#define LOAD_WINDOW_MIN			8	/* ... after many errors */
#define LOAD_WINDOW_BYTES		(16 * 1024 * 1024)
#define LOAD_BATCH_BYTES		(32 * 1024 * 1024)	/* optimistic batch, kept */
#define LOAD_IDLE_COMMIT_MS		200 /* commit when input stalls this long */
#define LOAD_PROGRESS_MS		200 /* at most 5 progress lines a second */
#define LOAD_MAX_ERROR_KINDS	100
#define LOAD_MAX_OUTCOMES		16

#define LOAD_SCAN_REF_MAX		40	/* bytes: longer ones are rejected */
#define LOAD_GROUP_RECORDS		32	/* records per statement, optimistic */
#define LOAD_GROUP_BYTES		(1024 * 1024)

#define STMT_INGEST			"idenfy_load_ingest"
#define STMT_INGEST_WRAPPED	"idenfy_load_ingest_wrapped"
#define STMT_GROUP			"idenfy_load_group"
#define STMT_GROUP_WRAPPED	"idenfy_load_group_wrapped"
#define SQL_INGEST \
	"SELECT scan_ref, outcome FROM idenfy_ingest($1::jsonb, $2)"
#define SQL_INGEST_WRAPPED \
	"SELECT scan_ref, outcome FROM idenfy_ingest(($1::jsonb) -> $3::text, $2)"
/* a group: one idenfy_ingest() call per array element, in array order */
#define SQL_GROUP \
	"SELECT u.n, r.scan_ref, r.outcome" \
	" FROM ROWS FROM (pg_catalog.unnest($1::jsonb[]), pg_catalog.unnest($2::text[]))" \
	" WITH ORDINALITY AS u(doc, event_type, n)," \
	" LATERAL idenfy_ingest(u.doc, u.event_type) AS r"
#define SQL_GROUP_WRAPPED \
	"SELECT u.n, r.scan_ref, r.outcome" \
	" FROM ROWS FROM (pg_catalog.unnest($1::jsonb[]), pg_catalog.unnest($2::text[]))" \
	" WITH ORDINALITY AS u(doc, event_type, n)," \
	" LATERAL idenfy_ingest(u.doc -> $3::text, u.event_type) AS r"

/* the same with idenfy_ingest_many (extension 1.5.0): one call per group */
#define SQL_MANY \
	"SELECT m.ord, m.scan_ref, m.outcome FROM idenfy_ingest_many($1::jsonb[], $2::text[]) AS m"
#define SQL_MANY_WRAPPED \
	"SELECT m.ord, m.scan_ref, m.outcome FROM idenfy_ingest_many(ARRAY(" \
	"SELECT u.doc -> $3::text FROM pg_catalog.unnest($1::jsonb[]) WITH ORDINALITY AS u(doc, n)" \
	" ORDER BY u.n), $2::text[]) AS m"

/* built-in type OIDs, for the binary arrays of a group */
#define LOAD_JSONBOID			3802
#define LOAD_TEXTOID			25

/* The outcomes idenfy_ingest() documents, in summary order. */
static const char *const known_outcomes[] = {
	"created", "updated", "stale", "duplicate", "quarantined"
};
#define N_KNOWN_OUTCOMES \
	((int) (sizeof(known_outcomes) / sizeof(known_outcomes[0])))

typedef enum CmdKind
{
	CMD_BEGIN,
	CMD_SAVEPOINT,
	CMD_RELEASE,
	CMD_ROLLBACK_TO,
	CMD_ROLLBACK,
	CMD_COMMIT,
	CMD_INGEST,
	CMD_GROUP,					/* several records in one statement */
	CMD_SYNC
} CmdKind;

/* Transaction-control statements, prepared once like the ingest call. */
static const struct
{
	const char *name;
	const char *sql;
}			control_stmts[] =
{
	[CMD_BEGIN] = {"idenfy_load_begin", "BEGIN"},
	[CMD_SAVEPOINT] = {"idenfy_load_savepoint", "SAVEPOINT idenfy_load"},
	[CMD_RELEASE] = {"idenfy_load_release", "RELEASE SAVEPOINT idenfy_load"},
	[CMD_ROLLBACK_TO] = {"idenfy_load_rollback_to", "ROLLBACK TO SAVEPOINT idenfy_load"},
	[CMD_ROLLBACK] = {"idenfy_load_rollback", "ROLLBACK"},
	[CMD_COMMIT] = {"idenfy_load_commit", "COMMIT"},
};

typedef enum PasswordPrompt
{
	PROMPT_AUTO,				/* when the server asks and there is a tty */
	PROMPT_NEVER,				/* -w */
	PROMPT_ALWAYS				/* -W: before connecting */
} PasswordPrompt;

typedef struct Options
{
	const char *conninfo;		/* -d; NULL: PG* environment variables */
	const char *host;			/* -h */
	const char *port;			/* -p */
	const char *username;		/* -U */
	PasswordPrompt prompt;		/* -w, -W */
	long		batch;
	int			jobs;			/* --jobs: connections */
	bool		per_record;		/* --transaction-per-record (--single) */
	bool		single_txn;		/* -1: the whole run one transaction */
	bool		savepoints;		/* --savepoints: every batch careful */
	bool		quiet;
	bool		json;
	LoadInput  *args;			/* FILE arguments, each with its -e */
	int			nargs;
} Options;

/* A command sent and not yet fully answered. */
typedef struct PendingCmd
{
	CmdKind		kind;
	bool		skipped;		/* sent behind a failed command: discard */
	bool		commits;		/* CMD_SYNC ending a --single transaction */
	bool		careful;		/* CMD_INGEST between SAVEPOINT and RELEASE */
	bool		discards;		/* CMD_ROLLBACK ending a -1 run that failed */
	LoadRecord *rec;			/* CMD_INGEST; CMD_GROUP: the first of a list
								 * linked by next */
	long		nrecs;			/* records: 1 for CMD_INGEST */
	size_t		bytes;			/* their size, for the window */
} PendingCmd;

/* Ring buffer of PendingCmd. */
typedef struct CmdQueue
{
	PendingCmd *items;
	size_t		cap;
	size_t		head;
	size_t		len;
} CmdQueue;

/* A record the server rejected, reported when its transaction ends. */
typedef struct Failure
{
	long		seq;			/* its record's, for the input order */
	SourceLoc	loc;
	char		sqlstate[6];
	char	   *primary;
	char	   *detail;			/* or NULL */
	char	   *hint;			/* or NULL */
} Failure;

typedef struct ErrorKind
{
	char		sqlstate[6];
	char	   *message;		/* NULL: the "other messages" bucket */
	long		count;
} ErrorKind;

/*
 * One connection to the server, with its pipeline: what it has sent and
 * waits for, what it must send again after an error, its open
 * transaction.  --jobs N runs N of them, each driven exactly as the only
 * one is with --jobs 1.
 */
typedef struct LoadConn
{
	struct Loader *L;
	int			id;				/* 0 .. jobs - 1 */
	PGconn	   *conn;

	CmdQueue	queue;			/* sent, waiting for their results */
	CmdQueue	resend;			/* skipped after an error, to send again */
	long		window;			/* current limit on inflight */
	long		inflight;		/* records of the queue's entries */
	size_t		inflight_bytes;
	bool		unflushed;		/* commands sent since the last Sync or Flush */
	int			flush;			/* last PQflush(): 1 = output left to send */
	bool		in_txn;			/* BEGIN sent, COMMIT not yet */
	bool		txn_careful;	/* that transaction uses savepoints */
	LoadRecord *collect;		/* read for the next transaction, in input */
	LoadRecord *collect_tail;	/* order, not sent yet */
	long		ncollect;
	size_t		collect_bytes;
	LoadRecord *ready;			/* a transaction's records sorted by scanRef,
								 * being sent (collect is then empty) */
	Failure    *failures;		/* rejected records of the open transaction */
	int			nfailures;
	int			cap_failures;
	long		rejected;		/* records rejected on this connection */
	LoadRecord *group;			/* optimistic records not sent yet, for */
	LoadRecord *group_tail;		/* one CMD_GROUP statement */
	long		ngroup;
	size_t		group_bytes;
	LoadRecord *tentative;		/* executed, waiting for their commit;
								 * optimistic ones keep their text */
	LoadRecord *tentative_tail;
	long		ntentative;
	char	   *docs;			/* a group's two array parameters, kept */
	size_t		docs_cap;		/* from one group to the next (a malloc */
	char	   *types;			/* and free of ~100 kB per group costs */
	size_t		types_cap;		/* more than the copy into it) */
} LoadConn;

/* The run: input, connections, and the counts summed over them. */
typedef struct Loader
{
	const Options *opt;
	Inputs	   *inputs;
	Reader	   *reader;
	char	   *password;		/* to keep out of messages */
	char	   *prompted;		/* the password typed at the prompt */
	LoadConn   *conns;
	int			nconns;			/* --jobs */
	LoadRecord *held;			/* read, waiting for room in its connection */
	struct pollfd *pollfds;		/* nconns + 1 */

	long		loaded;
	long		server_errors;
	long		rolled_back;	/* -1: records ingested, then rolled back */
	const char *outcome_names[LOAD_MAX_OUTCOMES];
	long		outcome_counts[LOAD_MAX_OUTCOMES];
	int			n_outcomes;
	ErrorKind	kinds[LOAD_MAX_ERROR_KINDS];
	int			n_kinds;

	struct timespec started;
	struct timespec last_progress;
	bool		progress;
	bool		progress_shown;
	int64_t		total_bytes;	/* -1: unknown */
} Loader;

static const char *progname = "idenfy-load";

static void Summary(Loader *L);
static bool HasRoom(LoadConn *c);

/*
 * Helpers
 */

static void *
Alloc(size_t n)
{
	void	   *p = malloc(n);

	if (p == NULL)
	{
		fprintf(stderr, "%s: out of memory\n", progname);
		exit(2);
	}
	return p;
}

/* *buf with room for n bytes (grown, never shrunk) */
static char *
GrowBuffer(char **buf, size_t *cap, size_t n)
{
	if (*cap < n)
	{
		free(*buf);
		*cap = n + n / 4;
		*buf = Alloc(*cap);
	}
	return *buf;
}

static char *
StrDup(const char *s)
{
	char	   *p = Alloc(strlen(s) + 1);

	return strcpy(p, s);
}

static double
Seconds(const struct timespec *from, const struct timespec *to)
{
	return (double) (to->tv_sec - from->tv_sec) +
		(double) (to->tv_nsec - from->tv_nsec) / 1e9;
}

static void
Now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

/* Copy of msg with every occurrence of secret replaced by asterisks. */
static char *
Redact(const char *msg, const char *secret)
{
	size_t		slen = secret ? strlen(secret) : 0;
	char	   *out = Alloc(strlen(msg) * 2 + 16);
	char	   *o = out;
	const char *p = msg;

	if (slen == 0)
		return strcpy(out, msg);
	while (*p)
	{
		if (strncmp(p, secret, slen) == 0)
		{
			strcpy(o, "********");
			o += 8;
			p += slen;
		}
		else
			*o++ = *p++;
	}
	*o = '\0';
	return out;
}

/*
 * Copy of a libpq connection-string parse error with the quoted pieces of
 * the string taken out: they can hold a password.  Quoted option names
 * and single characters (as in 'missing "="') are kept.
 */
static char *
RedactQuoted(const char *msg)
{
	char	   *out = Alloc(strlen(msg) + 1);
	char	   *o = out;
	const char *p = msg;
	PQconninfoOption *defaults = PQconndefaults();

	while (*p)
	{
		const char *close = (*p == '"') ? strchr(p + 1, '"') : NULL;

		if (close != NULL)
		{
			size_t		n = (size_t) (close - p - 1);
			bool		keep = (n <= 1);

			for (PQconninfoOption *d = defaults; !keep && d && d->keyword; d++)
				if (strlen(d->keyword) == n && strncmp(d->keyword, p + 1, n) == 0)
					keep = true;
			if (keep)
			{
				memcpy(o, p, n + 2);
				o += n + 2;
			}
			else
			{
				strcpy(o, "\"...\"");
				o += 5;
			}
			p = close + 1;
		}
		else
			*o++ = *p++;
	}
	*o = '\0';
	if (defaults)
		PQconninfoFree(defaults);
	return out;
}

/* Records executed, waiting for their commit, on all connections. */
static long
Tentative(const Loader *L)
{
	long		n = 0;

	for (int i = 0; i < L->nconns; i++)
		n += L->conns[i].ntentative;
	return n;
}

/* Records sent, not yet answered, on all connections. */
static long
Inflight(const Loader *L)
{
	long		n = 0;

	for (int i = 0; i < L->nconns; i++)
		n += L->conns[i].inflight;
	return n;
}

/*
 * Progress line (stderr, when it is a terminal)
 */

static void
ClearProgress(Loader *L)
{
	if (L->progress_shown)
	{
		fputs("\r\033[K", stderr);
		L->progress_shown = false;
	}
}

static void
FormatDuration(char *buf, size_t size, double secs)
{
	long		s = (long) (secs + 0.5);

	if (s >= 3600)
		snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

static void
Progress(Loader *L)
{
	struct timespec now;
	double		elapsed;
	long		done;
	char		el[32];
	char		eta[48] = "";
	int64_t		bytes;

	if (!L->progress)
		return;
	Now(&now);
	if (Seconds(&L->last_progress, &now) * 1000 < LOAD_PROGRESS_MS)
		return;
	L->last_progress = now;

	elapsed = Seconds(&L->started, &now);
	done = L->loaded + L->server_errors + Tentative(L);
	FormatDuration(el, sizeof(el), elapsed);
	bytes = reader_bytes_read(L->reader);
	if (L->total_bytes > 0 && bytes > 0 && elapsed > 0.5)
	{
		double		left = elapsed * (double) (L->total_bytes - bytes) / (double) bytes;
		char		d[32];

		FormatDuration(d, sizeof(d), left > 0 ? left : 0);
		snprintf(eta, sizeof(eta), "  ETA %s", d);
	}
	fprintf(stderr, "\r%ld records  %.0f/s  %s elapsed%s\033[K",
			done, elapsed > 0 ? done / elapsed : 0.0, el, eta);
	fflush(stderr);
	L->progress_shown = true;
}

/*
 * Messages about records
 */

static void
PrintLoc(const SourceLoc *loc)
{
	if (loc->line > 0)
		fprintf(stderr, "%s:%ld:%ld: ", loc->file, loc->line, loc->col);
	else
		fprintf(stderr, "%s: ", loc->file);
	if (loc->element > 0)
		fprintf(stderr, "array element %ld: ", loc->element);
}

/* ReaderReportFn: a bad record or an input error. */
static void
ReportInputProblem(void *arg, ReaderProblem kind, const SourceLoc *loc,
				   const char *msg)
{
	Loader	   *L = arg;

	ClearProgress(L);
	if (kind == READER_IO_ERROR)
	{
		/* an input that cannot be opened or read: named in the summary */
		if (loc->line > 0)
			inputs_problem(L->inputs, loc->file, "line %ld: %s", loc->line, msg);
		else
			inputs_problem(L->inputs, loc->file, "%s", msg);
		return;
	}
	PrintLoc(loc);
	fprintf(stderr, "%s\n", msg);
}

/* Count an error by SQLSTATE and message; true the first time. */
static bool
CountError(Loader *L, const char *sqlstate, const char *message)
{
	ErrorKind  *k;
	int			i;

	for (i = 0; i < L->n_kinds; i++)
	{
		k = &L->kinds[i];
		if (k->message != NULL && strcmp(k->sqlstate, sqlstate) == 0 &&
			strcmp(k->message, message) == 0)
		{
			k->count++;
			return false;
		}
	}
	if (L->n_kinds < LOAD_MAX_ERROR_KINDS)
	{
		k = &L->kinds[L->n_kinds++];
		snprintf(k->sqlstate, sizeof(k->sqlstate), "%s", sqlstate);
		k->message = StrDup(message);
		k->count = 1;
		return true;
	}

	/* too many distinct messages: the last slot becomes "all others" */
	k = &L->kinds[LOAD_MAX_ERROR_KINDS - 1];
	if (k->message != NULL)
	{
		free(k->message);
		k->message = NULL;
		strcpy(k->sqlstate, "*");
	}
	k->count++;
	return true;
}

/*
 * The server rejected a record.  The report waits for the end of the
 * record's transaction (FlushFailures): the records of a transaction are
 * sent in scanRef order, and reported in input order.
 */
static void
RecordFailed(LoadConn *c, const LoadRecord *rec, const PGresult *res)
{
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	Failure    *f;

	if (sqlstate == NULL)
		sqlstate = "";
	if (primary == NULL)
		primary = PQresultErrorMessage(res);
	if (c->nfailures == c->cap_failures)
	{
		int			cap = c->cap_failures ? c->cap_failures * 2 : 16;
		Failure    *items = Alloc(cap * sizeof(Failure));

		if (c->nfailures > 0)
			memcpy(items, c->failures, c->nfailures * sizeof(Failure));
		free(c->failures);
		c->failures = items;
		c->cap_failures = cap;
	}
	f = &c->failures[c->nfailures++];
	f->seq = rec->seq;
	f->loc = rec->loc;
	snprintf(f->sqlstate, sizeof(f->sqlstate), "%s", sqlstate);
	f->primary = StrDup(primary);
	f->detail = detail ? StrDup(detail) : NULL;
	f->hint = hint ? StrDup(hint) : NULL;
	c->rejected++;
}

static int
CompareFailures(const void *a, const void *b)
{
	const Failure *fa = a;
	const Failure *fb = b;

	return (fa->seq > fb->seq) - (fa->seq < fb->seq);
}

/* Report the rejected records of the transaction that ended, in input order. */
static void
FlushFailures(LoadConn *c)
{
	Loader	   *L = c->L;

	if (c->nfailures == 0)
		return;
	qsort(c->failures, c->nfailures, sizeof(Failure), CompareFailures);
	ClearProgress(L);
	for (int i = 0; i < c->nfailures; i++)
	{
		Failure    *f = &c->failures[i];

		PrintLoc(&f->loc);
		fprintf(stderr, "ERROR %s: %s\n", f->sqlstate, f->primary);
		if (f->detail)
			fprintf(stderr, "  DETAIL: %s\n", f->detail);
		/* the hint is the same for every record with this error: say it once */
		if (CountError(L, f->sqlstate, f->primary) && f->hint)
			fprintf(stderr, "  HINT: %s\n", f->hint);
		L->server_errors++;
		free(f->primary);
		free(f->detail);
		free(f->hint);
	}
	c->nfailures = 0;
}

static int
OutcomeIndex(Loader *L, const char *outcome)
{
	int			i;

	for (i = 0; i < L->n_outcomes; i++)
		if (strcmp(L->outcome_names[i], outcome) == 0)
			return i;
	if (L->n_outcomes == LOAD_MAX_OUTCOMES)
		return LOAD_MAX_OUTCOMES - 1;
	L->outcome_names[L->n_outcomes] = StrDup(outcome);
	return L->n_outcomes++;
}

/*
 * End of run on a broken connection or an unexpected answer.
 */
static void
Fatal(Loader *L, int code, const char *fmt,...)
{
	va_list		ap;

	for (int i = 0; i < L->nconns; i++)
		FlushFailures(&L->conns[i]);
	ClearProgress(L);
	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (Inflight(L) + Tentative(L) > 0)
		fprintf(stderr, "%s: %ld records sent were not confirmed\n",
				progname, Inflight(L) + Tentative(L));
	Summary(L);
	exit(code);
}

/*
 * A connection failed: the whole run ends (exit 2), whichever job it was;
 * the other connections' open transactions are rolled back by the server
 * when the program exits.
 */
static void
ConnectionLost(LoadConn *c)
{
	Loader	   *L = c->L;
	char	   *msg = Redact(PQerrorMessage(c->conn), L->password);
	size_t		n = strlen(msg);
	char		job[64] = "";

	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	if (L->nconns > 1)
		snprintf(job, sizeof(job), " (connection %d of %d)", c->id + 1, L->nconns);
	Fatal(L, 2, "lost the connection to the server%s: %s", job, msg);
}

/*
 * The command queue
 */

static PendingCmd *
QueueAt(CmdQueue *q, size_t i)
{
	return &q->items[(q->head + i) % q->cap];
}

static void
QueuePush(CmdQueue *q, const PendingCmd *cmd)
{
	if (q->len == q->cap)
	{
		size_t		ncap = q->cap ? q->cap * 2 : 1024;
		PendingCmd *items = Alloc(ncap * sizeof(PendingCmd));
		size_t		i;

		for (i = 0; i < q->len; i++)
			items[i] = *QueueAt(q, i);
		free(q->items);
		q->items = items;
		q->cap = ncap;
		q->head = 0;
	}
	q->items[(q->head + q->len) % q->cap] = *cmd;
	q->len++;
}

/* Remove the first entry of q into *cmd. */
static void
QueueTake(CmdQueue *q, PendingCmd *cmd)
{
	*cmd = *QueueAt(q, 0);
	q->head = (q->head + 1) % q->cap;
	q->len--;
}

/* Free a list of records linked by next. */
static void
FreeRecords(LoadRecord *rec)
{
	while (rec != NULL)
	{
		LoadRecord *next = rec->next;

		load_record_free(rec);
		rec = next;
	}
}

/* The head of the sent queue is complete. */
static void
QueuePop(LoadConn *c)
{
	CmdQueue   *q = &c->queue;
	PendingCmd *cmd = QueueAt(q, 0);

	if (cmd->kind == CMD_INGEST || cmd->kind == CMD_GROUP)
	{
		c->inflight -= cmd->nrecs;
		c->inflight_bytes -= cmd->bytes;
	}
	/* records still attached here were neither done nor handed over */
	FreeRecords(cmd->rec);
	q->head = (q->head + 1) % q->cap;
	q->len--;
}

/*
 * Sending
 */

static void
Put32(char **p, uint32_t v)
{
	unsigned char *b = (unsigned char *) *p;

	b[0] = (unsigned char) (v >> 24);
	b[1] = (unsigned char) (v >> 16);
	b[2] = (unsigned char) (v >> 8);
	b[3] = (unsigned char) v;
	*p += 4;
}

/*
 * Send the records of a group (a list linked by next, all with the same
 * payload_key) as one execution of SQL_GROUP: their texts as a jsonb[]
 * and their event types as a text[], both in binary array format (a
 * jsonb element in binary form is a version byte, 1, and the JSON text:
 * the server parses the input's own bytes, as for one record).  Returns
 * PQsendQueryPrepared's result.
 */
static int
SendGroupStatement(LoadConn *c, LoadRecord *first)
{
	Loader	   *L = c->L;
	const char *params[3];
	int			lengths[3];
	int			formats[3] = {1, 1, 0};
	size_t		n = 0;
	size_t		docs_size = 20;
	size_t		types_size = 20;
	char	   *docs;
	char	   *types;
	char	   *p;
	char	   *q;
	int			ok;

	for (LoadRecord *rec = first; rec != NULL; rec = rec->next)
	{
		const char *et = rec->event_type ? rec->event_type : rec->input_event_type;

		n++;
		docs_size += 5 + rec->len;
		types_size += 4 + (et ? strlen(et) : 0);
	}
	if (docs_size > INT_MAX || types_size > INT_MAX)
		Fatal(L, 1, "internal error: a group of records is too large");
	p = docs = GrowBuffer(&c->docs, &c->docs_cap, docs_size);
	q = types = GrowBuffer(&c->types, &c->types_cap, types_size);
	/* header: 1 dimension, flags (has nulls), element type, size, lower bound */
	Put32(&p, 1);
	Put32(&p, 0);
	Put32(&p, LOAD_JSONBOID);
	Put32(&p, (uint32_t) n);
	Put32(&p, 1);
	Put32(&q, 1);
	Put32(&q, 1);
	Put32(&q, LOAD_TEXTOID);
	Put32(&q, (uint32_t) n);
	Put32(&q, 1);
	for (LoadRecord *rec = first; rec != NULL; rec = rec->next)
	{
		const char *et = rec->event_type ? rec->event_type : rec->input_event_type;

		Put32(&p, (uint32_t) (rec->len + 1));
		*p++ = 1;
		memcpy(p, rec->text, rec->len);
		p += rec->len;
		if (et == NULL)
			Put32(&q, (uint32_t) -1);
		else
		{
			size_t		len = strlen(et);

			Put32(&q, (uint32_t) len);
			memcpy(q, et, len);
			q += len;
		}
	}
	params[0] = docs;
	lengths[0] = (int) (p - docs);
	params[1] = types;
	lengths[1] = (int) (q - types);
	params[2] = first->payload_key;
	lengths[2] = 0;
	ok = PQsendQueryPrepared(c->conn,
							 first->payload_key ? STMT_GROUP_WRAPPED : STMT_GROUP,
							 first->payload_key ? 3 : 2,
							 params, lengths, formats, 0);
	return ok;
}

/*
 * Send one command, described by *tmpl (kind, and for CMD_INGEST the
 * record and whether it is careful; for CMD_SYNC whether it commits).
 */
static void
SendPending(LoadConn *c, const PendingCmd *tmpl)
{
	PendingCmd	cmd = *tmpl;
	int			ok;

	cmd.skipped = false;
	cmd.bytes = 0;
	cmd.nrecs = 0;
	if (cmd.kind == CMD_INGEST)
	{
		LoadRecord *rec = cmd.rec;
		const char *params[3];

		params[0] = rec->text;
		params[1] = rec->event_type ? rec->event_type : rec->input_event_type;
		params[2] = rec->payload_key;
		ok = PQsendQueryPrepared(c->conn,
								 rec->payload_key ? STMT_INGEST_WRAPPED : STMT_INGEST,
								 rec->payload_key ? 3 : 2,
								 params, NULL, NULL, 0);
		cmd.nrecs = 1;
		cmd.bytes = rec->len;
	}
	else if (cmd.kind == CMD_GROUP)
	{
		ok = SendGroupStatement(c, cmd.rec);
		for (LoadRecord *rec = cmd.rec; rec != NULL; rec = rec->next)
		{
			cmd.nrecs++;
			cmd.bytes += rec->len;
		}
	}
	else if (cmd.kind == CMD_SYNC)
		ok = PQpipelineSync(c->conn);
	else
		ok = PQsendQueryPrepared(c->conn, control_stmts[cmd.kind].name,
								 0, NULL, NULL, NULL, 0);
	c->inflight += cmd.nrecs;
	c->inflight_bytes += cmd.bytes;
	QueuePush(&c->queue, &cmd);
	c->unflushed = (cmd.kind != CMD_SYNC);
	if (!ok)
		ConnectionLost(c);
}

/* Send a transaction-control command (or a Sync that commits nothing). */
static void
SendCmd(LoadConn *c, CmdKind kind)
{
	PendingCmd	cmd = {0};

	cmd.kind = kind;
	SendPending(c, &cmd);
}

static void
SendIngest(LoadConn *c, LoadRecord *rec, bool careful)
{
	PendingCmd	cmd = {0};

	cmd.kind = CMD_INGEST;
	cmd.rec = rec;
	cmd.careful = careful;
	SendPending(c, &cmd);
}

/* Send the records gathered for a group, if any. */
static void
SendGroup(LoadConn *c)
{
	PendingCmd	cmd = {0};

	if (c->group == NULL)
		return;
	cmd.kind = CMD_GROUP;
	cmd.rec = c->group;
	c->group = c->group_tail = NULL;
	c->ngroup = 0;
	c->group_bytes = 0;
	SendPending(c, &cmd);
}

/* Add an optimistic record to the group; send the group when it is full. */
static void
AddToGroup(LoadConn *c, LoadRecord *rec)
{
	if (c->group != NULL && c->group->payload_key != rec->payload_key)
		SendGroup(c);
	rec->next = NULL;
	if (c->group_tail)
		c->group_tail->next = rec;
	else
		c->group = rec;
	c->group_tail = rec;
	c->ngroup++;
	c->group_bytes += rec->len;
	if (c->ngroup >= LOAD_GROUP_RECORDS || c->group_bytes >= LOAD_GROUP_BYTES)
		SendGroup(c);
}

static void
EndBatch(LoadConn *c)
{
	SendGroup(c);
	SendCmd(c, CMD_COMMIT);
	SendCmd(c, CMD_SYNC);
	c->in_txn = false;
}

/*
 * -1: every record of the run has been answered; commit if nothing failed
 * anywhere in the run (no rejected record, no bad record, no input that
 * could not be read), else roll everything back.
 */
static void
EndSingleTransaction(LoadConn *c)
{
	Loader	   *L = c->L;
	PendingCmd	cmd = {0};

	if (c->rejected > 0 || reader_bad_records(L->reader) > 0 ||
		L->inputs->nproblems > 0)
	{
		cmd.kind = CMD_ROLLBACK;
		cmd.discards = true;
		SendPending(c, &cmd);
	}
	else
		SendCmd(c, CMD_COMMIT);
	SendCmd(c, CMD_SYNC);
	c->in_txn = false;
}

/* Send one record of the transaction being sent (ready), or of its own. */
static void
SendRecord(LoadConn *c, LoadRecord *rec)
{
	Loader	   *L = c->L;

	if (L->opt->per_record)
	{
		PendingCmd	sync = {0};

		SendIngest(c, rec, false);
		sync.kind = CMD_SYNC;
		sync.commits = true;
		SendPending(c, &sync);
		return;
	}
	if (!c->in_txn)
	{
		SendCmd(c, CMD_BEGIN);
		c->in_txn = true;
		c->txn_careful = L->opt->savepoints;
	}
	if (c->txn_careful)
	{
		SendCmd(c, CMD_SAVEPOINT);
		SendIngest(c, rec, true);
		SendCmd(c, CMD_RELEASE);
	}
	else
		AddToGroup(c, rec);
}

/*
 * Lock order.  Every transaction the loader opens locks the verification
 * rows of its scanRefs in one global order, so that two loads at once
 * (two idenfy-load runs, or the connections of one with records whose
 * scanRefs overlap) cannot deadlock: its records are sent sorted by
 * scanRef, bytewise (the C collation), records without a usable scanRef
 * (a string of 1 to 40 bytes, which the server rejects otherwise before it
 * locks anything) last, and records of one scanRef in input order (the
 * ordering rules depend on that order only).  idenfy_ingest_many (1.6.0)
 * processes its array in that same order (strcmp, unusable ones last), and
 * idenfy_ingest of an older extension takes its group's elements in array
 * order.
 */
static bool
UsableScanRef(const LoadRecord *rec)
{
	return rec->has_scan_ref && rec->scan_ref_len >= 1 &&
		rec->scan_ref_len <= LOAD_SCAN_REF_MAX;
}

static int
CompareScanRefs(const void *a, const void *b)
{
	const LoadRecord *ra = *(const LoadRecord *const *) a;
	const LoadRecord *rb = *(const LoadRecord *const *) b;
	bool		ua = UsableScanRef(ra);
	bool		ub = UsableScanRef(rb);
	int			cmp;

	if (ua != ub)
		return ua ? -1 : 1;
	if (ua)
	{
		size_t		n = ra->scan_ref_len < rb->scan_ref_len ?
			ra->scan_ref_len : rb->scan_ref_len;

		cmp = memcmp(ra->scan_ref, rb->scan_ref, n);
		if (cmp != 0)
			return cmp;
		if (ra->scan_ref_len != rb->scan_ref_len)
			return ra->scan_ref_len < rb->scan_ref_len ? -1 : 1;
	}
	/* the same scanRef (or none): input order, which makes the sort stable */
	return (ra->seq > rb->seq) - (ra->seq < rb->seq);
}

/* Send what may go of the transaction being sent; the last one ends it. */
static void
SendReady(LoadConn *c)
{
	Loader	   *L = c->L;

	while (c->ready != NULL && c->resend.len == 0 && HasRoom(c))
	{
		LoadRecord *rec = c->ready;

		c->ready = rec->next;
		rec->next = NULL;
		SendRecord(c, rec);
		if (c->ready == NULL && !L->opt->single_txn)
			EndBatch(c);
	}
	SendGroup(c);
}

/*
 * The records collected make a transaction: sort them by scanRef and
 * start sending them.
 */
static void
CloseCollect(LoadConn *c)
{
	LoadRecord **v;
	long		n = c->ncollect;
	long		i = 0;

	if (c->collect == NULL || c->ready != NULL)
		return;
	v = Alloc(n * sizeof(LoadRecord *));
	for (LoadRecord *rec = c->collect; rec != NULL; rec = rec->next)
		v[i++] = rec;
	qsort(v, n, sizeof(LoadRecord *), CompareScanRefs);
	for (i = 0; i + 1 < n; i++)
		v[i]->next = v[i + 1];
	v[n - 1]->next = NULL;
	c->ready = v[0];
	free(v);
	c->collect = c->collect_tail = NULL;
	c->ncollect = 0;
	c->collect_bytes = 0;
	SendReady(c);
}

/*
 * A record read for this connection: sent now (one transaction each), or
 * collected for the next transaction, which starts when --batch records
 * (or LOAD_BATCH_BYTES) are collected, or the input ends or stalls; with
 * -1, when the input ends.
 */
static void
TakeRecord(LoadConn *c, LoadRecord *rec)
{
	Loader	   *L = c->L;

	if (L->opt->per_record)
	{
		SendRecord(c, rec);
		return;
	}
	rec->next = NULL;
	if (c->collect_tail)
		c->collect_tail->next = rec;
	else
		c->collect = rec;
	c->collect_tail = rec;
	c->ncollect++;
	c->collect_bytes += rec->len;
	if (!L->opt->single_txn &&
		(c->ncollect >= L->opt->batch || c->collect_bytes >= LOAD_BATCH_BYTES))
		CloseCollect(c);
}

/*
 * After a failure: mark the commands sent behind the head of the sent
 * queue as skipped, and move them, then the resend queue, to *rest, in
 * their order.  Their records are handed over to the copies.
 */
static void
TakeSkipped(LoadConn *c, CmdQueue *rest)
{
	CmdQueue   *q = &c->queue;
	PendingCmd	cmd;
	size_t		i;

	for (i = 1; i < q->len; i++)
	{
		PendingCmd *sent = QueueAt(q, i);

		cmd = *sent;
		QueuePush(rest, &cmd);
		sent->skipped = true;
		sent->rec = NULL;
	}
	while (c->resend.len > 0)
	{
		QueueTake(&c->resend, &cmd);
		QueuePush(rest, &cmd);
	}
}

/* Append a record to *q in careful form: SAVEPOINT, INGEST, RELEASE. */
static void
PushCareful(CmdQueue *q, LoadRecord *rec)
{
	PendingCmd	cmd = {0};

	cmd.kind = CMD_SAVEPOINT;
	QueuePush(q, &cmd);
	cmd.kind = CMD_INGEST;
	cmd.rec = rec;
	cmd.careful = true;
	QueuePush(q, &cmd);
	cmd.kind = CMD_RELEASE;
	cmd.rec = NULL;
	cmd.careful = false;
	QueuePush(q, &cmd);
}

/* The same for each record of a list linked by next. */
static void
PushCarefulList(CmdQueue *q, LoadRecord *rec)
{
	while (rec != NULL)
	{
		LoadRecord *next = rec->next;

		rec->next = NULL;
		PushCareful(q, rec);
		rec = next;
	}
}

/*
 * A record failed inside a careful batch: the commands sent behind it will
 * come back skipped.  Take the transaction back to the record's savepoint
 * now; the skipped commands go to the front of the resend queue, which the
 * main loop empties before it reads more input.  The head of the sent
 * queue is the failed CMD_INGEST; the next entry is its RELEASE, not sent
 * again.
 */
static void
Recover(LoadConn *c)
{
	Loader	   *L = c->L;
	CmdQueue	rest = {0};
	PendingCmd	cmd;

	if (c->queue.len < 2 || QueueAt(&c->queue, 1)->kind != CMD_RELEASE)
		Fatal(L, 1, "internal error: no RELEASE after a failed record");
	TakeSkipped(c, &rest);
	QueueTake(&rest, &cmd);		/* the RELEASE */
	free(c->resend.items);
	c->resend = rest;

	SendCmd(c, CMD_SYNC);
	SendCmd(c, CMD_ROLLBACK_TO);
	SendCmd(c, CMD_RELEASE);
}

/*
 * A record failed inside an optimistic batch, which the server has
 * aborted.  Roll it back, and put the whole batch at the front of the
 * resend queue in careful form: the records executed before the failure
 * (the tentative list: their outcomes are forgotten), the failed group
 * (handed over here as rec, a list), and the records sent or to be re-sent
 * behind it up to the batch's COMMIT.  When that COMMIT has not been sent
 * yet, the batch is the open transaction, and the records still to come
 * join it in careful form.  The rest of the skipped commands follow as
 * they were.
 */
static void
RecoverBatch(LoadConn *c, LoadRecord *rec)
{
	Loader	   *L = c->L;
	CmdQueue	rest = {0};
	CmdQueue	again = {0};
	PendingCmd	cmd = {0};
	LoadRecord *t = c->tentative;
	bool		open = true;

	TakeSkipped(c, &rest);

	cmd.kind = CMD_BEGIN;
	QueuePush(&again, &cmd);
	while (t != NULL)
	{
		LoadRecord *next = t->next;

		t->next = NULL;
		PushCareful(&again, t);
		t = next;
	}
	c->tentative = c->tentative_tail = NULL;
	c->ntentative = 0;
	PushCarefulList(&again, rec);

	while (open && rest.len > 0)
	{
		QueueTake(&rest, &cmd);
		if (cmd.kind == CMD_INGEST && !cmd.careful)
			PushCareful(&again, cmd.rec);
		else if (cmd.kind == CMD_GROUP)
			PushCarefulList(&again, cmd.rec);
		else if (cmd.kind == CMD_COMMIT)
		{
			QueuePush(&again, &cmd);
			open = false;
		}
		else
			Fatal(L, 1, "internal error: unexpected command in a failed batch");
	}
	if (open)
	{
		if (!c->in_txn || c->txn_careful || c->group != NULL)
			Fatal(L, 1, "internal error: a failed batch is not the open one");
		c->txn_careful = true;
	}
	while (rest.len > 0)
	{
		QueueTake(&rest, &cmd);
		QueuePush(&again, &cmd);
	}
	free(rest.items);
	free(c->resend.items);
	c->resend = again;

	SendCmd(c, CMD_SYNC);
	SendCmd(c, CMD_ROLLBACK);
}

/*
 * Send the first command of the resend queue; a record's RELEASE goes
 * with it, as Recover() expects to find it right behind the record.
 */
static void
SendAgain(LoadConn *c)
{
	PendingCmd	cmd;

	QueueTake(&c->resend, &cmd);
	SendPending(c, &cmd);
	if (cmd.kind == CMD_INGEST && c->resend.len > 0 &&
		QueueAt(&c->resend, 0)->kind == CMD_RELEASE)
	{
		QueueTake(&c->resend, &cmd);
		SendPending(c, &cmd);
	}
}

/*
 * Receiving
 */

static void
CommitTentative(LoadConn *c)
{
	Loader	   *L = c->L;
	LoadRecord *rec = c->tentative;

	while (rec != NULL)
	{
		LoadRecord *next = rec->next;

		L->outcome_counts[rec->outcome]++;
		L->loaded++;
		load_record_free(rec);
		rec = next;
	}
	c->tentative = c->tentative_tail = NULL;
	c->ntentative = 0;
	FlushFailures(c);
}

/* -1: the run's transaction was rolled back, as something failed. */
static void
DiscardTentative(LoadConn *c)
{
	Loader	   *L = c->L;

	L->rolled_back += c->ntentative;
	FreeRecords(c->tentative);
	c->tentative = c->tentative_tail = NULL;
	c->ntentative = 0;
	FlushFailures(c);
}

/* The transaction holding the tentative records failed at commit. */
static void
FailTentative(LoadConn *c, const PGresult *res)
{
	LoadRecord *rec = c->tentative;

	while (rec != NULL)
	{
		LoadRecord *next = rec->next;

		RecordFailed(c, rec, res);
		load_record_free(rec);
		rec = next;
	}
	c->tentative = c->tentative_tail = NULL;
	c->ntentative = 0;
	FlushFailures(c);
}

/*
 * A record was executed: keep its outcome until the commit.  A record of
 * an optimistic batch also keeps its text, for a careful re-run of the
 * batch.
 */
static void
RecordDone(LoadConn *c, LoadRecord *rec, const PGresult *res, int row,
		   int column, bool keep)
{
	Loader	   *L = c->L;
	const char *outcome = "(no row)";

	if (PQntuples(res) > row && PQnfields(res) > column &&
		!PQgetisnull(res, row, column))
		outcome = PQgetvalue(res, row, column);
	rec->outcome = OutcomeIndex(L, outcome);
	if (!keep)
	{
		load_text_free(rec->text);
		rec->text = NULL;
		free(rec->event_type);
		rec->event_type = NULL;
	}
	rec->next = NULL;
	if (c->tentative_tail)
		c->tentative_tail->next = rec;
	else
		c->tentative = rec;
	c->tentative_tail = rec;
	c->ntentative++;
}

/*
 * Handle the result of the command at the head of the queue.  Returns
 * true when that command is complete: always, except for an error
 * reported at a Sync, which is followed by the Sync's own result.
 */
static bool
HandleResult(LoadConn *c, PGresult *res)
{
	Loader	   *L = c->L;
	PendingCmd *cmd = QueueAt(&c->queue, 0);
	ExecStatusType st = PQresultStatus(res);

	if (PQstatus(c->conn) == CONNECTION_BAD)
		ConnectionLost(c);

	if (cmd->skipped)
	{
		if (st == PGRES_PIPELINE_SYNC)
			return true;
		if (st == PGRES_PIPELINE_ABORTED || st == PGRES_FATAL_ERROR)
			return cmd->kind != CMD_SYNC;
		Fatal(L, 1, "internal error: a command sent after a failed one was executed (%s)",
			  PQresStatus(st));
	}

	switch (cmd->kind)
	{
		case CMD_INGEST:
			if (st == PGRES_TUPLES_OK)
			{
				if (c->window < LOAD_WINDOW_RECORDS)
					c->window++;
				RecordDone(c, cmd->rec, res, 0, 1,
						   !L->opt->per_record && !cmd->careful);
				cmd->rec = NULL;
				return true;
			}
			if (st == PGRES_FATAL_ERROR)
			{
				LoadRecord *rec = cmd->rec;

				cmd->rec = NULL;
				if (!L->opt->per_record)
					c->window = c->window / 2 > LOAD_WINDOW_MIN ?
						c->window / 2 : LOAD_WINDOW_MIN;
				if (L->opt->per_record || cmd->careful)
				{
					RecordFailed(c, rec, res);
					load_record_free(rec);
					if (!L->opt->per_record)
						Recover(c);
				}
				else
				{
					/* reported, if it fails again, by the careful re-run */
					RecoverBatch(c, rec);
				}
				return true;
			}
			break;

		case CMD_GROUP:
			if (st == PGRES_TUPLES_OK)
			{
				LoadRecord *rec = cmd->rec;
				int			row = 0;

				/* one row per record, in array order */
				if (PQntuples(res) != cmd->nrecs || PQnfields(res) < 3)
					Fatal(L, 1, "internal error: %d rows for a group of %ld records",
						  PQntuples(res), cmd->nrecs);
				cmd->rec = NULL;
				while (rec != NULL)
				{
					LoadRecord *next = rec->next;

					if (atol(PQgetvalue(res, row, 0)) != row + 1)
						Fatal(L, 1, "internal error: the rows of a group are out of order");
					RecordDone(c, rec, res, row, 2, true);
					if (c->window < LOAD_WINDOW_RECORDS)
						c->window++;
					row++;
					rec = next;
				}
				return true;
			}
			if (st == PGRES_FATAL_ERROR)
			{
				LoadRecord *rec = cmd->rec;

				cmd->rec = NULL;
				c->window = c->window / 2 > LOAD_WINDOW_MIN ?
					c->window / 2 : LOAD_WINDOW_MIN;
				/* reported, if it fails again, by the careful re-run */
				RecoverBatch(c, rec);
				return true;
			}
			break;

		case CMD_SYNC:
			if (st == PGRES_PIPELINE_SYNC)
			{
				if (cmd->commits)
					CommitTentative(c);
				return true;
			}
			if (st == PGRES_FATAL_ERROR && cmd->commits)
			{
				/* the implicit commit itself failed */
				FailTentative(c, res);
				return false;
			}
			break;

		case CMD_COMMIT:
			if (st == PGRES_COMMAND_OK && strcmp(PQcmdStatus(res), "COMMIT") == 0)
			{
				CommitTentative(c);
				return true;
			}
			if (st == PGRES_FATAL_ERROR)
			{
				FailTentative(c, res);
				return true;
			}
			break;

		case CMD_ROLLBACK:
			if (st == PGRES_COMMAND_OK)
			{
				if (cmd->discards)
					DiscardTentative(c);
				return true;
			}
			break;

		case CMD_BEGIN:
		case CMD_SAVEPOINT:
		case CMD_RELEASE:
		case CMD_ROLLBACK_TO:
			if (st == PGRES_COMMAND_OK)
				return true;
			break;
	}

	{
		char	   *msg = Redact(PQresultErrorMessage(res), L->password);
		size_t		n = strlen(msg);

		while (n > 0 && msg[n - 1] == '\n')
			msg[--n] = '\0';
		Fatal(L, PQstatus(c->conn) == CONNECTION_BAD ? 2 : 1,
			  "unexpected answer to %s: %s%s%s",
			  cmd->kind == CMD_INGEST || cmd->kind == CMD_GROUP ? "idenfy_ingest()" :
			  cmd->kind == CMD_SYNC ? "Sync" : control_stmts[cmd->kind].sql,
			  PQresStatus(st), *msg ? ": " : "", msg);
	}
	return false;
}

/*
 * Handle every result that has arrived; returns how many.  Each command
 * gets one result (PQgetResult's NULL separators are not relied upon: in
 * an aborted pipeline libpq does not return one after the error).
 */
static long
ReadResults(LoadConn *c)
{
	long		n = 0;
	int			nulls = 0;

	if (!PQconsumeInput(c->conn))
		ConnectionLost(c);
	while (c->queue.len > 0 && !PQisBusy(c->conn))
	{
		PGresult   *res = PQgetResult(c->conn);

		if (res == NULL)
		{
			/* a separator; twice in a row means nothing is there */
			if (++nulls > 1)
				break;
			continue;
		}
		nulls = 0;
		n++;
		if (HandleResult(c, res))
			QueuePop(c);
		PQclear(res);
	}
	return n;
}

/*
 * Wait until a server answers or can take more (a connection whose
 * flush is 1 waits for its socket to be writable), or the input has data
 * (input_fd >= 0), or timeout_ms passes (-1: no timeout).
 */
static void
Wait(Loader *L, int input_fd, int timeout_ms)
{
	struct pollfd *fds = L->pollfds;
	int			n = 0;

	for (int i = 0; i < L->nconns; i++)
	{
		LoadConn   *c = &L->conns[i];

		fds[n].fd = PQsocket(c->conn);
		fds[n].events = POLLIN | (c->flush == 1 ? POLLOUT : 0);
		fds[n].revents = 0;
		n++;
	}
	if (input_fd >= 0)
	{
		fds[n].fd = input_fd;
		fds[n].events = POLLIN;
		fds[n].revents = 0;
		n++;
	}
	if (poll(fds, n, timeout_ms) < 0 && errno != EINTR)
		Fatal(L, 2, "poll failed: %s", strerror(errno));
}

/* May more records be sent on this connection now? */
static bool
HasRoom(LoadConn *c)
{
	/*
	 * While libpq holds an aborted pipeline (from an error until the next
	 * Sync's result) it flushes every message on its own: wait instead.
	 */
	if (PQpipelineStatus(c->conn) == PQ_PIPELINE_ABORTED)
		return false;

	/*
	 * Nor while libpq still holds output the socket did not take: each of
	 * its attempts to send moves what is left to the front of its buffer,
	 * so a backlog there (up to the window, megabytes) would be copied once
	 * per statement added behind it.  The socket's own buffer keeps the
	 * server busy meanwhile.
	 */
	if (c->flush == 1)
		return false;
	return c->inflight + c->ngroup < c->window &&
		c->inflight_bytes + c->group_bytes < LOAD_WINDOW_BYTES;
}

/*
 * May this connection take a new record now?  Not before what it must
 * send again, which comes earlier in the input; with transactions of many
 * records, not while the last transaction collected is still being sent
 * (the next one is collected meanwhile, up to --batch records); with one
 * transaction per record, while its window has room.
 */
static bool
TakesNew(LoadConn *c)
{
	if (c->resend.len > 0)
		return false;
	if (c->L->opt->per_record)
		return HasRoom(c);
	return c->ready == NULL;
}

/* The connection of a record: by its scanRef, or the first one. */
static LoadConn *
Route(Loader *L, const LoadRecord *rec)
{
	if (!rec->has_scan_ref)
		return &L->conns[0];
	return &L->conns[rec->scan_ref_hash % (uint32_t) L->nconns];
}

/*
 * The main loop: each connection sends what it must send again while its
 * window has room, then the transaction it is sending (sorted by
 * scanRef); then new records are read and each is collected by its
 * connection (or sent, one transaction each), until the input ends or
 * stalls or the next record's connection cannot take it (that record is
 * then held until it can: records of one scanRef keep their order, and
 * the input is not read further, so memory stays bounded).  A connection
 * that has collected a transaction's worth of records sorts them and
 * starts sending.  Then every connection reads its answers, and the loop
 * waits when there is nothing else to do.  With --jobs 1 this is the loop
 * of a single connection: nothing is ever held, as a record is read only
 * when some connection can take it.
 */
static void
Run(Loader *L)
{
	bool		input_done = false;
	bool		single_txn = L->opt->single_txn;
	struct timespec idle_since = {0, 0};

	for (;;)
	{
		bool		wait_input = false;
		bool		any_txn = false;
		bool		finished = true;
		bool		can_send = false;
		long		got = 0;
		int			i;

		for (i = 0; i < L->nconns; i++)
		{
			LoadConn   *c = &L->conns[i];

			while (c->resend.len > 0 && HasRoom(c))
				SendAgain(c);
			SendReady(c);
		}

		while (!input_done)
		{
			LoadConn   *c;

			if (L->held == NULL)
			{
				LoadRecord *rec;
				ReaderStatus st;
				bool		room = false;

				for (i = 0; i < L->nconns && !room; i++)
					room = TakesNew(&L->conns[i]);
				if (!room)
					break;
				st = reader_next(L->reader, false, &rec);
				if (st == READER_END)
				{
					input_done = true;
					break;
				}
				if (st == READER_WOULD_BLOCK)
				{
					wait_input = true;
					break;
				}
				L->held = rec;
			}
			c = Route(L, L->held);
			if (!TakesNew(c))
				break;
			TakeRecord(c, L->held);
			L->held = NULL;
		}

		/*
		 * Start the transactions collected when the input ends, or when it
		 * stalls (a live feed: what was loaded becomes visible without
		 * waiting for a full batch; not with -1, which waits for the end).
		 */
		if (wait_input && !single_txn)
		{
			struct timespec now;

			Now(&now);
			if (idle_since.tv_sec == 0 && idle_since.tv_nsec == 0)
				idle_since = now;
			else if (Seconds(&idle_since, &now) * 1000 >= LOAD_IDLE_COMMIT_MS)
			{
				for (i = 0; i < L->nconns; i++)
					CloseCollect(&L->conns[i]);
			}
		}
		else
			idle_since.tv_sec = idle_since.tv_nsec = 0;
		for (i = 0; i < L->nconns; i++)
		{
			LoadConn   *c = &L->conns[i];

			if (input_done)
				CloseCollect(c);
			/* -1: everything answered; commit or roll back the run */
			if (single_txn && input_done && c->in_txn && c->ready == NULL &&
				c->collect == NULL && c->resend.len == 0 && c->queue.len == 0)
				EndSingleTransaction(c);
			/* the records gathered go now, a group per connection */
			SendGroup(c);
		}

		/*
		 * The server keeps its answers until a Sync or a Flush message: ask
		 * for them, or a window could close on answers still in its buffer.
		 */
		for (i = 0; i < L->nconns; i++)
		{
			LoadConn   *c = &L->conns[i];

			if (c->unflushed)
			{
				if (PQsendFlushRequest(c->conn) != 1)
					ConnectionLost(c);
				c->unflushed = false;
			}
		}

		for (i = 0; i < L->nconns; i++)
		{
			LoadConn   *c = &L->conns[i];

			c->flush = PQflush(c->conn);
			if (c->flush < 0)
				ConnectionLost(c);
			got += ReadResults(c);

			if (c->in_txn || c->queue.len > 0 || c->resend.len > 0 ||
				c->ready != NULL || c->collect != NULL)
				finished = false;
			if (c->in_txn || c->collect != NULL)
				any_txn = true;
			if (HasRoom(c) && (c->resend.len > 0 || c->ready != NULL))
				can_send = true;
		}
		if (input_done && finished)
			break;

		/* a new record could go now (answers made room)? */
		if (!input_done && !wait_input)
		{
			if (L->held != NULL)
				can_send |= TakesNew(Route(L, L->held));
			else
				for (i = 0; i < L->nconns && !can_send; i++)
					can_send = TakesNew(&L->conns[i]);
		}

		if (got == 0 && !can_send)
		{
			int			timeout = -1;

			if (L->progress)
				timeout = LOAD_PROGRESS_MS;
			if (wait_input && any_txn && !single_txn)
				timeout = LOAD_IDLE_COMMIT_MS / 2;
			Wait(L, wait_input ? reader_fd(L->reader) : -1, timeout);
		}
		Progress(L);
	}
}

/*
 * Summary
 */

static void
Summary(Loader *L)
{
	struct timespec now;
	double		secs;
	long		parse_errors = L->reader ? reader_bad_records(L->reader) : 0;
	long		records = L->loaded + L->server_errors + L->rolled_back;
	int			files = L->reader ? reader_inputs_read(L->reader) : 0;
	const Inputs *in = L->inputs;
	bool		committed = L->server_errors == 0 && parse_errors == 0 &&
		in->nproblems == 0;
	char		num[64];
	int			i;

	Now(&now);
	secs = Seconds(&L->started, &now);
	ClearProgress(L);

	if (L->opt->json)
	{
		json_object *top = json_object_new_object();
		json_object *outcomes = json_object_new_object();
		json_object *errors = json_object_new_array();
		json_object *failed = json_object_new_array();

		json_object_object_add(top, "records", json_object_new_int64(records));
		json_object_object_add(top, "loaded", json_object_new_int64(L->loaded));
		for (i = 0; i < L->n_outcomes; i++)
			json_object_object_add(outcomes, L->outcome_names[i],
								   json_object_new_int64(L->outcome_counts[i]));
		json_object_object_add(top, "outcomes", outcomes);
		if (L->opt->single_txn)
		{
			json_object_object_add(top, "committed", json_object_new_boolean(committed));
			json_object_object_add(top, "rolled_back", json_object_new_int64(L->rolled_back));
		}
		json_object_object_add(top, "parse_errors", json_object_new_int64(parse_errors));
		json_object_object_add(top, "server_errors", json_object_new_int64(L->server_errors));
		for (i = 0; i < L->n_kinds; i++)
		{
			json_object *e = json_object_new_object();

			json_object_object_add(e, "sqlstate",
								   json_object_new_string(L->kinds[i].sqlstate));
			json_object_object_add(e, "message", L->kinds[i].message ?
								   json_object_new_string(L->kinds[i].message) : NULL);
			json_object_object_add(e, "count", json_object_new_int64(L->kinds[i].count));
			json_object_array_add(errors, e);
		}
		json_object_object_add(top, "errors", errors);
		json_object_object_add(top, "files", json_object_new_int(files));
		json_object_object_add(top, "input_errors", json_object_new_int(in->nproblems));
		for (i = 0; i < in->nproblems; i++)
		{
			json_object *e = json_object_new_object();

			json_object_object_add(e, "file", json_object_new_string(in->problems[i].file));
			json_object_object_add(e, "error", json_object_new_string(in->problems[i].message));
			json_object_array_add(failed, e);
		}
		json_object_object_add(top, "failed_inputs", failed);
		snprintf(num, sizeof(num), "%.3f", secs);
		json_object_object_add(top, "seconds", json_object_new_double_s(secs, num));
		snprintf(num, sizeof(num), "%.1f", secs > 0 ? records / secs : 0.0);
		json_object_object_add(top, "records_per_second",
							   json_object_new_double_s(secs > 0 ? records / secs : 0.0, num));
		printf("%s\n", json_object_to_json_string_ext(top, JSON_C_TO_STRING_PLAIN |
													  JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(top);
	}
	else
	{
		printf("%-16s%10ld\n", "records", records);
		for (i = 0; i < L->n_outcomes; i++)
			printf("  %-14s%10ld\n", L->outcome_names[i], L->outcome_counts[i]);
		if (L->opt->single_txn)
		{
			printf("%-16s%10ld\n", "rolled back", L->rolled_back);
			printf("%-16s%10s\n", "transaction", committed ? "committed" : "rolled back");
		}
		printf("%-16s%10ld\n", "parse errors", parse_errors);
		printf("%-16s%10ld\n", "server errors", L->server_errors);
		for (i = 0; i < L->n_kinds; i++)
			printf("  %8ld  %s %s\n", L->kinds[i].count, L->kinds[i].sqlstate,
				   L->kinds[i].message ? L->kinds[i].message : "(other messages)");
		printf("%-16s%10d\n", "files", files);
		printf("%-16s%10d\n", "input errors", in->nproblems);
		for (i = 0; i < in->nproblems; i++)
			printf("  %s: %s\n", in->problems[i].file, in->problems[i].message);
		printf("%-16s%10.2f\n", "seconds", secs);
		printf("%-16s%10.0f\n", "records/s", secs > 0 ? records / secs : 0.0);
	}
	fflush(stdout);
}

/*
 * Start-up
 */

static void
Usage(void)
{
	printf("%s loads iDenfy verification callbacks into PostgreSQL through idenfy_ingest().\n\n", progname);
	printf("Usage:\n  %s [OPTION]... [[-e TYPE] FILE...]...\n\n", progname);
	printf("Each FILE (standard input when none is given, or for \"-\") holds callbacks as\n"
		   "one JSON object (pretty-printed or not), one object per line (NDJSON), or a\n"
		   "JSON array of objects.  A directory stands for its *.json, *.ndjson and\n"
		   "*.jsonl files, in name order (not recursive; hidden files skipped).  A record\n"
		   "may be a wrapper object {\"event_type\": TYPE, \"payload\": {...}} (or\n"
		   "\"eventType\", \"body\").\n\n");
	printf("Options:\n");
	printf("  -e, --event-type=TYPE    event type of the records that carry none, in the\n"
		   "                           FILEs after it (up to the next -e; -e \"\": none)\n");
	printf("  -b, --batch=N            records per transaction (default %d); a batch where\n"
		   "                           a record fails is run again with a savepoint per\n"
		   "                           record, so that only the bad records are lost\n",
		   LOAD_DEFAULT_BATCH);
	printf("      --savepoints         a savepoint per record in every batch, from the start\n");
	printf("      --transaction-per-record\n"
		   "                           one transaction per record instead of batches\n"
		   "      --single             deprecated name of --transaction-per-record\n");
	printf("  -1, --single-transaction the whole run as one transaction: committed only if\n"
		   "                           no record and no input failed, else rolled back\n");
	printf("  -j, --jobs=N             N connections in parallel (default 1, up to %d): the\n"
		   "                           callbacks of one scanRef go through one connection,\n"
		   "                           in input order; other scanRefs in any order\n",
		   LOAD_MAX_JOBS);
	printf("  -q, --quiet              no progress line\n");
	printf("      --json               print the summary as one JSON object\n");
	printf("  -V, --version            print the version and exit\n");
	printf("  -?, --help               print this help and exit\n\n");
	printf("Connection options:\n");
	printf("  -d, --dbname=DBNAME      database name, connection string or URI (as psql -d)\n");
	printf("  -h, --host=HOSTNAME      database server host or socket directory\n");
	printf("  -p, --port=PORT          database server port\n");
	printf("  -U, --username=USERNAME  database user name\n");
	printf("  -w, --no-password        never prompt for a password\n");
	printf("  -W, --password           prompt for a password before connecting\n"
		   "                           (otherwise only when the server asks for one and\n"
		   "                           there is a terminal)\n");
	printf("Fields of a -d connection string take precedence over -h, -p and -U, as in\n"
		   "psql; what neither gives comes from PGHOST, PGPORT, PGUSER, ... and ~/.pgpass.\n\n");
	printf("Exit status: 0 every record was ingested (whatever its outcome), 1 some records\n"
		   "or inputs failed (invalid JSON, rejected by the server, a FILE that cannot be\n"
		   "read; with -1 nothing was then committed), 2 usage error, no input could be\n"
		   "read, or no connection.\n");
}

static void
UsageError(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry \"%s --help\" for more information.\n", progname);
	exit(2);
}

static void
AddArg(Options *opt, const char *path, const char *event_type)
{
	LoadInput  *args = Alloc((opt->nargs + 1) * sizeof(LoadInput));

	if (opt->nargs > 0)
		memcpy(args, opt->args, opt->nargs * sizeof(LoadInput));
	free(opt->args);
	opt->args = args;
	opt->args[opt->nargs].path = path;
	opt->args[opt->nargs].event_type = event_type;
	opt->nargs++;
}

/*
 * Options and FILE arguments are read in their order (getopt's "-"
 * mode): each FILE takes the event type of the last -e before it.
 */
static void
ParseOptions(int argc, char **argv, Options *opt)
{
	enum
	{
		OPT_SINGLE = 256,
		OPT_PER_RECORD,
		OPT_SAVEPOINTS,
		OPT_JSON,
		OPT_HELP
	};
	static const struct option long_options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"username", required_argument, NULL, 'U'},
		{"no-password", no_argument, NULL, 'w'},
		{"password", no_argument, NULL, 'W'},
		{"event-type", required_argument, NULL, 'e'},
		{"batch", required_argument, NULL, 'b'},
		{"jobs", required_argument, NULL, 'j'},
		{"single-transaction", no_argument, NULL, '1'},
		{"transaction-per-record", no_argument, NULL, OPT_PER_RECORD},
		{"single", no_argument, NULL, OPT_SINGLE},
		{"savepoints", no_argument, NULL, OPT_SAVEPOINTS},
		{"quiet", no_argument, NULL, 'q'},
		{"json", no_argument, NULL, OPT_JSON},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0}
	};
	const char *event_type = NULL;	/* the last -e */
	bool		event_type_unused = false;	/* given after the last FILE */
	bool		batch_given = false;
	bool		single_given = false;
	int			c;

	memset(opt, 0, sizeof(*opt));
	opt->batch = LOAD_DEFAULT_BATCH;
	opt->jobs = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "-d:h:p:U:wWe:b:j:1qV?", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 1:
				AddArg(opt, optarg, event_type);
				event_type_unused = false;
				break;
			case 'd':
				opt->conninfo = optarg;
				break;
			case 'h':
				opt->host = optarg;
				break;
			case 'p':
				opt->port = optarg;
				break;
			case 'U':
				opt->username = optarg;
				break;
			case 'w':
				opt->prompt = PROMPT_NEVER;
				break;
			case 'W':
				opt->prompt = PROMPT_ALWAYS;
				break;
			case 'e':
				event_type = optarg[0] ? optarg : NULL;
				event_type_unused = true;
				break;
			case 'b':
				{
					char	   *end;

					errno = 0;
					opt->batch = strtol(optarg, &end, 10);
					if (errno != 0 || end == optarg || *end != '\0' ||
						opt->batch < 1 || opt->batch > LOAD_MAX_BATCH)
						UsageError("invalid value \"%s\" for --batch: must be an integer between 1 and %d",
								   optarg, LOAD_MAX_BATCH);
					batch_given = true;
				}
				break;
			case 'j':
				{
					char	   *end;
					long		jobs;

					errno = 0;
					jobs = strtol(optarg, &end, 10);
					if (errno != 0 || end == optarg || *end != '\0' ||
						jobs < 1 || jobs > LOAD_MAX_JOBS)
						UsageError("invalid value \"%s\" for --jobs: must be an integer between 1 and %d",
								   optarg, LOAD_MAX_JOBS);
					opt->jobs = (int) jobs;
				}
				break;
			case '1':
				opt->single_txn = true;
				break;
			case OPT_SINGLE:
				single_given = true;
				opt->per_record = true;
				break;
			case OPT_PER_RECORD:
				opt->per_record = true;
				break;
			case OPT_SAVEPOINTS:
				opt->savepoints = true;
				break;
			case 'q':
				opt->quiet = true;
				break;
			case OPT_JSON:
				opt->json = true;
				break;
			case 'V':
				printf("%s %s\n", progname, LOAD_VERSION);
				exit(0);
			case OPT_HELP:
				Usage();
				exit(0);
			case '?':
				if (strcmp(argv[optind - 1], "-?") == 0)
				{
					Usage();
					exit(0);
				}
				if (optopt != 0 && strchr("dhpUebj", optopt) != NULL)
					UsageError("option \"%s\" requires an argument",
							   argv[optind - 1]);
				UsageError("invalid option \"%s\"", argv[optind - 1]);
				break;
			default:
				UsageError("invalid option");
		}
	}
	/* after "--": FILEs only */
	for (; optind < argc; optind++)
	{
		AddArg(opt, argv[optind], event_type);
		event_type_unused = false;
	}
	if (opt->nargs == 0)
		AddArg(opt, "-", event_type);
	else if (event_type_unused)
		UsageError("-e/--event-type applies to the FILEs after it, and no FILE follows the last one");

	if (single_given)
		fprintf(stderr, "%s: warning: --single is deprecated; it means --transaction-per-record\n",
				progname);
	if (batch_given && opt->per_record)
		UsageError("--batch and --transaction-per-record cannot be used together");
	if (opt->savepoints && opt->per_record)
		UsageError("--savepoints and --transaction-per-record cannot be used together");
	if (opt->single_txn && opt->per_record)
		UsageError("--single-transaction and --transaction-per-record cannot be used together");
	if (opt->single_txn && batch_given)
		UsageError("--single-transaction and --batch cannot be used together");
	if (opt->single_txn && opt->jobs > 1)
		UsageError("--single-transaction and --jobs cannot be used together (one transaction is one connection)");
}

/* Redact every password of the run: the connection's and the typed one. */
static char *
RedactPasswords(Loader *L, const char *msg)
{
	char	   *once = Redact(msg, L->password);
	char	   *twice;

	if (L->prompted == NULL || (L->password && strcmp(L->prompted, L->password) == 0))
		return once;
	twice = Redact(once, L->prompted);
	free(once);
	return twice;
}

/*
 * Connect as psql does: -h, -p, -U and the password, then -d, which may
 * be a database name or a key=value string or URI ("expanded": its fields
 * take precedence over the options before it, as with psql and pg_dump),
 * completed by the PG* environment variables and ~/.pgpass.  A password
 * is asked for on the terminal with -W, before the first connection, or
 * when the server asks for one that was not given (not with -w, nor
 * without a terminal); the password typed serves every connection of
 * --jobs.  Passwords never reach the messages.
 */
static PGconn *
Connect(Loader *L)
{
	const Options *opt = L->opt;
	const char *keywords[8];
	const char *values[8];
	PGconn	   *conn;
	PQconninfoOption *opts;
	bool		again;

	if (opt->conninfo != NULL &&
		(strchr(opt->conninfo, '=') != NULL ||
		 strncmp(opt->conninfo, "postgresql://", 13) == 0 ||
		 strncmp(opt->conninfo, "postgres://", 11) == 0))
	{
		char	   *err = NULL;

		opts = PQconninfoParse(opt->conninfo, &err);
		if (opts == NULL)
		{
			char	   *msg = RedactQuoted(err ? err : "out of memory\n");

			fprintf(stderr, "%s: invalid connection string: %s", progname, msg);
			exit(2);
		}
		PQconninfoFree(opts);
	}

	if (opt->prompt == PROMPT_ALWAYS && L->prompted == NULL)
	{
		L->prompted = prompt_password("Password: ");
		if (L->prompted == NULL)
		{
			fprintf(stderr, "%s: -W: no terminal to ask for the password on\n", progname);
			exit(2);
		}
	}

	do
	{
		keywords[0] = "host";
		values[0] = opt->host;
		keywords[1] = "port";
		values[1] = opt->port;
		keywords[2] = "user";
		values[2] = opt->username;
		keywords[3] = "password";
		values[3] = L->prompted;
		keywords[4] = "dbname";
		values[4] = opt->conninfo;
		keywords[5] = "fallback_application_name";
		values[5] = progname;
		keywords[6] = "client_encoding";
		values[6] = "UTF8";
		keywords[7] = NULL;
		values[7] = NULL;

		conn = PQconnectdbParams(keywords, values, 1);
		if (conn == NULL)
		{
			fprintf(stderr, "%s: out of memory\n", progname);
			exit(2);
		}
		again = false;
		if (PQstatus(conn) == CONNECTION_BAD && PQconnectionNeedsPassword(conn) &&
			L->prompted == NULL && opt->prompt != PROMPT_NEVER)
		{
			char		prompt[256];

			snprintf(prompt, sizeof(prompt), "Password for user %s: ", PQuser(conn));
			L->prompted = prompt_password(prompt);
			if (L->prompted != NULL)
			{
				PQfinish(conn);
				again = true;
			}
		}
	} while (again);

	opts = PQconninfo(conn);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0] &&
			L->password == NULL)
			L->password = StrDup(o->val);
	if (opts)
		PQconninfoFree(opts);

	if (PQstatus(conn) != CONNECTION_OK)
	{
		char	   *msg = RedactPasswords(L, PQerrorMessage(conn));

		fprintf(stderr, "%s: could not connect to the database: %s", progname, msg);
		if (msg[0] == '\0' || msg[strlen(msg) - 1] != '\n')
			fputc('\n', stderr);
		exit(2);
	}
	return conn;
}

/* Prepare a statement; false when a function it names does not exist. */
static bool
PrepareIfDefined(PGconn *conn, const char *name, const char *sql)
{
	PGresult   *res = PQprepare(conn, name, sql, 0, NULL);
	bool		ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (!ok && !(sqlstate && strcmp(sqlstate, "42883") == 0))
	{
		fprintf(stderr, "%s: could not prepare \"%s\": %s", progname, sql,
				PQresultErrorMessage(res));
		exit(2);
	}
	PQclear(res);
	return ok;
}

/* Prepare the statements; exit 2 if idenfy_ingest() is not there. */
static void
Prepare(PGconn *conn)
{
	struct
	{
		const char *name;
		const char *sql;
	}			stmts[10];
	int			n = 0;
	int			i;

	stmts[n].name = STMT_INGEST;
	stmts[n++].sql = SQL_INGEST;
	stmts[n].name = STMT_INGEST_WRAPPED;
	stmts[n++].sql = SQL_INGEST_WRAPPED;
	/* a group: one call of idenfy_ingest_many, or before 1.5.0 one idenfy_ingest per element */
	if (!PrepareIfDefined(conn, STMT_GROUP, SQL_MANY) ||
		!PrepareIfDefined(conn, STMT_GROUP_WRAPPED, SQL_MANY_WRAPPED))
	{
		PQclear(PQexec(conn, "DEALLOCATE ALL"));
		stmts[n].name = STMT_GROUP;
		stmts[n++].sql = SQL_GROUP;
		stmts[n].name = STMT_GROUP_WRAPPED;
		stmts[n++].sql = SQL_GROUP_WRAPPED;
	}
	for (i = CMD_BEGIN; i <= CMD_COMMIT; i++)
	{
		stmts[n].name = control_stmts[i].name;
		stmts[n++].sql = control_stmts[i].sql;
	}
	for (i = 0; i < n; i++)
	{
		PGresult   *res = PQprepare(conn, stmts[i].name, stmts[i].sql, 0, NULL);

		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			fprintf(stderr, "%s: could not prepare \"%s\": %s", progname,
					stmts[i].sql, PQresultErrorMessage(res));
			if (sqlstate && strcmp(sqlstate, "42883") == 0)
				fprintf(stderr, "%s: is the idenfy extension installed in this database? (CREATE EXTENSION idenfy)\n",
						progname);
			exit(2);
		}
		PQclear(res);
	}
}

int
main(int argc, char **argv)
{
	Options		opt;
	Inputs		inputs;
	Loader		loader;
	Loader	   *L = &loader;
	int			code;
	int			i;

	ParseOptions(argc, argv, &opt);
	memset(L, 0, sizeof(*L));
	L->opt = &opt;
	L->inputs = &inputs;
	Now(&L->started);

	/*
	 * The inputs, each checked once: one that cannot be read is reported
	 * and left out, the rest is loaded; if none is left, nothing is to be
	 * done (exit 2, before connecting).
	 */
	inputs_init(&inputs, progname);
	for (i = 0; i < opt.nargs; i++)
		inputs_add_arg(&inputs, opt.args[i].path, opt.args[i].event_type);
	L->total_bytes = inputs.size_known ? inputs.total_bytes : -1;
	L->progress = !opt.quiet && isatty(STDERR_FILENO);
	for (L->n_outcomes = 0; L->n_outcomes < N_KNOWN_OUTCOMES; L->n_outcomes++)
		L->outcome_names[L->n_outcomes] = known_outcomes[L->n_outcomes];
	if (inputs.n == 0 && inputs.nproblems > 0)
	{
		fprintf(stderr, "%s: no input could be read; nothing loaded\n", progname);
		Summary(L);
		exit(2);
	}

	/*
	 * All connections first: a server that refuses the last of them (say,
	 * max_connections) stops the run before anything is loaded.
	 */
	L->nconns = opt.jobs;
	L->conns = Alloc(L->nconns * sizeof(LoadConn));
	memset(L->conns, 0, L->nconns * sizeof(LoadConn));
	L->pollfds = Alloc((L->nconns + 1) * sizeof(struct pollfd));
	for (i = 0; i < L->nconns; i++)
	{
		LoadConn   *c = &L->conns[i];

		c->L = L;
		c->id = i;
		c->window = LOAD_WINDOW_RECORDS;
		c->conn = Connect(L);
		Prepare(c->conn);
		if (PQsetnonblocking(c->conn, 1) != 0 || PQenterPipelineMode(c->conn) != 1)
		{
			fprintf(stderr, "%s: could not enter pipeline mode: %s", progname,
					PQerrorMessage(c->conn));
			exit(2);
		}
	}

	L->reader = reader_create(inputs.items, inputs.n, ReportInputProblem, L);
	Now(&L->started);
	L->last_progress = L->started;
	Run(L);
	Summary(L);

	if (reader_bad_records(L->reader) > 0 || L->server_errors > 0 ||
		inputs.nproblems > 0)
		code = 1;
	else
		code = 0;

	for (i = 0; i < L->nconns; i++)
	{
		LoadConn   *c = &L->conns[i];

		PQexitPipelineMode(c->conn);
		PQfinish(c->conn);
		free(c->queue.items);
		free(c->resend.items);
		free(c->docs);
		free(c->types);
		free(c->failures);
	}
	free(L->conns);
	free(L->pollfds);
	reader_free(L->reader);
	inputs_free(&inputs);
	free(opt.args);
	for (i = 0; i < L->n_kinds; i++)
		free(L->kinds[i].message);
	for (i = N_KNOWN_OUTCOMES; i < L->n_outcomes; i++)
		free((char *) L->outcome_names[i]);
	free(L->password);
	free(L->prompted);
	return code;
}
