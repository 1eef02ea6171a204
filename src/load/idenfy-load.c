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
 *
 * - for a careful batch: ROLLBACK TO SAVEPOINT (undoing the failed record
 *	 only), RELEASE SAVEPOINT; the failed record is reported, and the
 *	 records before it stay in their transaction.
 *
 * So records are applied and committed in input order, a committed record
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
 * --single: each record is an implicit transaction of its own (EXECUTE;
 * Sync), still pipelined: no savepoints, nothing to recover, one commit
 * per record.
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

typedef struct Options
{
	const char *conninfo;		/* -d; NULL: PG* environment variables */
	const char *event_type;		/* --event-type; NULL: none */
	long		batch;
	int			jobs;			/* --jobs: connections */
	bool		single;
	bool		savepoints;		/* --savepoints: every batch careful */
	bool		quiet;
	bool		json;
	char	  **files;
	int			nfiles;
} Options;

/* A command sent and not yet fully answered. */
typedef struct PendingCmd
{
	CmdKind		kind;
	bool		skipped;		/* sent behind a failed command: discard */
	bool		commits;		/* CMD_SYNC ending a --single transaction */
	bool		careful;		/* CMD_INGEST between SAVEPOINT and RELEASE */
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
	long		in_batch;		/* records sent in that transaction */
	size_t		batch_bytes;	/* their size, when it is optimistic */
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
	Reader	   *reader;
	char	   *password;		/* to keep out of messages */
	LoadConn   *conns;
	int			nconns;			/* --jobs */
	LoadRecord *held;			/* read, waiting for room in its connection */
	struct pollfd *pollfds;		/* nconns + 1 */

	long		loaded;
	long		server_errors;
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

	(void) kind;
	ClearProgress(L);
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

/* The server rejected a record. */
static void
RecordFailed(Loader *L, const LoadRecord *rec, const PGresult *res)
{
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);

	if (sqlstate == NULL)
		sqlstate = "";
	if (primary == NULL)
		primary = PQresultErrorMessage(res);

	ClearProgress(L);
	PrintLoc(&rec->loc);
	fprintf(stderr, "ERROR %s: %s\n", sqlstate, primary);
	if (detail)
		fprintf(stderr, "  DETAIL: %s\n", detail);
	/* the hint is the same for every record with this error: say it once */
	if (CountError(L, sqlstate, primary) && hint)
		fprintf(stderr, "  HINT: %s\n", hint);
	L->server_errors++;
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
		const char *et = rec->event_type ? rec->event_type : L->opt->event_type;

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
		const char *et = rec->event_type ? rec->event_type : L->opt->event_type;

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
	Loader	   *L = c->L;
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
		params[1] = rec->event_type ? rec->event_type : L->opt->event_type;
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
	c->in_batch = 0;
	c->batch_bytes = 0;
}

static void
SendRecord(LoadConn *c, LoadRecord *rec)
{
	Loader	   *L = c->L;

	if (L->opt->single)
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
	{
		c->batch_bytes += rec->len;
		AddToGroup(c, rec);
	}
	if (++c->in_batch >= L->opt->batch ||
		(!c->txn_careful && c->batch_bytes >= LOAD_BATCH_BYTES))
		EndBatch(c);
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
}

/* The transaction holding the tentative records failed at commit. */
static void
FailTentative(LoadConn *c, const PGresult *res)
{
	Loader	   *L = c->L;
	LoadRecord *rec = c->tentative;

	while (rec != NULL)
	{
		LoadRecord *next = rec->next;

		RecordFailed(L, rec, res);
		load_record_free(rec);
		rec = next;
	}
	c->tentative = c->tentative_tail = NULL;
	c->ntentative = 0;
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
						   !L->opt->single && !cmd->careful);
				cmd->rec = NULL;
				return true;
			}
			if (st == PGRES_FATAL_ERROR)
			{
				LoadRecord *rec = cmd->rec;

				cmd->rec = NULL;
				if (!L->opt->single)
					c->window = c->window / 2 > LOAD_WINDOW_MIN ?
						c->window / 2 : LOAD_WINDOW_MIN;
				if (L->opt->single || cmd->careful)
				{
					RecordFailed(L, rec, res);
					load_record_free(rec);
					if (!L->opt->single)
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

		case CMD_BEGIN:
		case CMD_SAVEPOINT:
		case CMD_RELEASE:
		case CMD_ROLLBACK_TO:
		case CMD_ROLLBACK:
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
 * May a new record be sent on this connection now?  Not before what it
 * must send again, which comes earlier in the input.
 */
static bool
TakesNew(LoadConn *c)
{
	return c->resend.len == 0 && HasRoom(c);
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
 * window has room; then new records are read and each is sent on its
 * connection, until the input ends or stalls or the next record's
 * connection is full (that record is then held until it has room: records
 * of one scanRef keep their order, and the input is not read further, so
 * memory stays bounded).  Then every connection reads its answers, and
 * the loop waits when there is nothing else to do.  With --jobs 1 this is
 * the loop of a single connection: nothing is ever held, as a record is
 * read only when some connection can take it.
 */
static void
Run(Loader *L)
{
	bool		input_done = false;
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
			SendRecord(c, L->held);
			L->held = NULL;
		}
		/* the records gathered while reading go now, a group per connection */
		for (i = 0; i < L->nconns; i++)
			SendGroup(&L->conns[i]);

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

		/* commit what we have when the input ends or stalls */
		if (wait_input)
		{
			struct timespec now;

			Now(&now);
			if (idle_since.tv_sec == 0 && idle_since.tv_nsec == 0)
				idle_since = now;
			else if (Seconds(&idle_since, &now) * 1000 >= LOAD_IDLE_COMMIT_MS)
			{
				for (i = 0; i < L->nconns; i++)
				{
					LoadConn   *c = &L->conns[i];

					if (c->in_txn && c->resend.len == 0)
						EndBatch(c);
				}
			}
		}
		else
			idle_since.tv_sec = idle_since.tv_nsec = 0;

		for (i = 0; i < L->nconns; i++)
		{
			LoadConn   *c = &L->conns[i];

			if (input_done && c->in_txn && c->resend.len == 0)
				EndBatch(c);
			c->flush = PQflush(c->conn);
			if (c->flush < 0)
				ConnectionLost(c);
			got += ReadResults(c);

			if (c->in_txn || c->queue.len > 0 || c->resend.len > 0)
				finished = false;
			if (c->in_txn)
				any_txn = true;
			if (HasRoom(c) && (c->resend.len > 0 || (input_done && c->in_txn)))
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
			if (wait_input && any_txn)
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
	long		parse_errors = reader_bad_records(L->reader);
	long		records = L->loaded + L->server_errors;
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

		json_object_object_add(top, "records", json_object_new_int64(records));
		json_object_object_add(top, "loaded", json_object_new_int64(L->loaded));
		for (i = 0; i < L->n_outcomes; i++)
			json_object_object_add(outcomes, L->outcome_names[i],
								   json_object_new_int64(L->outcome_counts[i]));
		json_object_object_add(top, "outcomes", outcomes);
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
		printf("%-16s%10ld\n", "parse errors", parse_errors);
		printf("%-16s%10ld\n", "server errors", L->server_errors);
		for (i = 0; i < L->n_kinds; i++)
			printf("  %8ld  %s %s\n", L->kinds[i].count, L->kinds[i].sqlstate,
				   L->kinds[i].message ? L->kinds[i].message : "(other messages)");
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
	printf("Usage:\n  %s [OPTION]... [FILE]...\n\n", progname);
	printf("Each FILE (standard input when none is given, or for \"-\") holds callbacks as\n"
		   "one JSON object (pretty-printed or not), one object per line (NDJSON), or a\n"
		   "JSON array of objects.  A record may be a wrapper object\n"
		   "{\"event_type\": TYPE, \"payload\": {...}} (or \"eventType\", \"body\").\n\n");
	printf("Options:\n");
	printf("  -d, --dbname=CONNINFO    database name, connection string or URI, as for psql -d\n"
		   "                           (default: the PG* environment variables)\n");
	printf("  -e, --event-type=TYPE    event type of records that carry none (default: none)\n");
	printf("  -b, --batch=N            records per transaction (default %d); a batch where\n"
		   "                           a record fails is run again with a savepoint per\n"
		   "                           record, so that only the bad records are lost\n",
		   LOAD_DEFAULT_BATCH);
	printf("      --savepoints         a savepoint per record in every batch, from the start\n");
	printf("      --single             one transaction per record instead\n");
	printf("  -j, --jobs=N             N connections in parallel (default 1, up to %d): the\n"
		   "                           callbacks of one scanRef go through one connection,\n"
		   "                           in input order; other scanRefs in any order\n",
		   LOAD_MAX_JOBS);
	printf("  -q, --quiet              no progress line\n");
	printf("      --json               print the summary as one JSON object\n");
	printf("  -V, --version            print the version and exit\n");
	printf("      --help               print this help and exit\n\n");
	printf("Exit status: 0 every record was ingested (whatever its outcome), 1 some records\n"
		   "failed (invalid JSON or rejected by the server), 2 usage error, unreadable\n"
		   "input, or no connection.\n");
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
ParseOptions(int argc, char **argv, Options *opt)
{
	enum
	{
		OPT_SINGLE = 256,
		OPT_SAVEPOINTS,
		OPT_JSON,
		OPT_HELP
	};
	static const struct option long_options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"event-type", required_argument, NULL, 'e'},
		{"batch", required_argument, NULL, 'b'},
		{"jobs", required_argument, NULL, 'j'},
		{"single", no_argument, NULL, OPT_SINGLE},
		{"savepoints", no_argument, NULL, OPT_SAVEPOINTS},
		{"quiet", no_argument, NULL, 'q'},
		{"json", no_argument, NULL, OPT_JSON},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0}
	};
	bool		batch_given = false;
	int			c;

	memset(opt, 0, sizeof(*opt));
	opt->batch = LOAD_DEFAULT_BATCH;
	opt->jobs = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "d:e:b:j:qV?", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				opt->conninfo = optarg;
				break;
			case 'e':
				opt->event_type = optarg;
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
			case OPT_SINGLE:
				opt->single = true;
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
				if (optopt != 0 && strchr("debj", optopt) != NULL)
					UsageError("option \"%s\" requires an argument",
							   argv[optind - 1]);
				UsageError("invalid option \"%s\"", argv[optind - 1]);
				break;
			default:
				UsageError("invalid option");
		}
	}
	if (batch_given && opt->single)
		UsageError("--batch and --single cannot be used together");
	if (opt->savepoints && opt->single)
		UsageError("--savepoints and --single cannot be used together");
	opt->files = argv + optind;
	opt->nfiles = argc - optind;
}

/*
 * Check that every input can be opened, before connecting; add up the
 * sizes of regular files for the progress line (-1: unknown).
 */
static int64_t
CheckInputs(const Options *opt)
{
	int64_t		total = 0;
	bool		known = true;
	bool		bad = false;
	int			i;

	if (opt->nfiles == 0)
	{
		struct stat st;

		if (fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode))
			return st.st_size;
		return -1;
	}
	for (i = 0; i < opt->nfiles; i++)
	{
		const char *name = opt->files[i];
		struct stat st;
		int			fd;

		if (strcmp(name, "-") == 0)
		{
			if (fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode))
				total += st.st_size;
			else
				known = false;
			continue;
		}
		fd = open(name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
		{
			fprintf(stderr, "%s: could not open \"%s\": %s\n",
					progname, name, strerror(errno));
			bad = true;
			continue;
		}
		if (fstat(fd, &st) != 0)
		{
			fprintf(stderr, "%s: could not stat \"%s\": %s\n",
					progname, name, strerror(errno));
			bad = true;
		}
		else if (S_ISDIR(st.st_mode))
		{
			fprintf(stderr, "%s: \"%s\" is a directory\n", progname, name);
			bad = true;
		}
		else if (S_ISREG(st.st_mode))
			total += st.st_size;
		else
			known = false;
		close(fd);
	}
	if (bad)
		exit(2);
	return known ? total : -1;
}

/*
 * Connect as psql does: -d is a database name, a key=value string or a
 * URI, completed by the PG* environment variables.  Passwords never reach
 * the messages.
 */
static PGconn *
Connect(Loader *L)
{
	const char *keywords[] = {"dbname", "fallback_application_name",
	"client_encoding", NULL};
	const char *values[] = {L->opt->conninfo, progname, "UTF8", NULL};
	PGconn	   *conn;
	PQconninfoOption *opts;

	if (L->opt->conninfo != NULL &&
		(strchr(L->opt->conninfo, '=') != NULL ||
		 strncmp(L->opt->conninfo, "postgresql://", 13) == 0 ||
		 strncmp(L->opt->conninfo, "postgres://", 11) == 0))
	{
		char	   *err = NULL;

		opts = PQconninfoParse(L->opt->conninfo, &err);
		if (opts == NULL)
		{
			char	   *msg = RedactQuoted(err ? err : "out of memory\n");

			fprintf(stderr, "%s: invalid connection string: %s", progname, msg);
			exit(2);
		}
		PQconninfoFree(opts);
	}

	conn = PQconnectdbParams(keywords, values, 1);
	if (conn == NULL)
	{
		fprintf(stderr, "%s: out of memory\n", progname);
		exit(2);
	}
	opts = PQconninfo(conn);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0] &&
			L->password == NULL)
			L->password = StrDup(o->val);
	if (opts)
		PQconninfoFree(opts);

	if (PQstatus(conn) != CONNECTION_OK)
	{
		char	   *msg = Redact(PQerrorMessage(conn), L->password);

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
	Loader		loader;
	Loader	   *L = &loader;
	int			code;
	int			i;

	ParseOptions(argc, argv, &opt);
	memset(L, 0, sizeof(*L));
	L->opt = &opt;
	L->total_bytes = CheckInputs(&opt);
	L->progress = !opt.quiet && isatty(STDERR_FILENO);
	for (L->n_outcomes = 0; L->n_outcomes < N_KNOWN_OUTCOMES; L->n_outcomes++)
		L->outcome_names[L->n_outcomes] = known_outcomes[L->n_outcomes];

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

	L->reader = reader_create(opt.files, opt.nfiles, ReportInputProblem, L);
	Now(&L->started);
	L->last_progress = L->started;
	Run(L);
	Summary(L);

	if (reader_had_io_error(L->reader))
		code = 2;
	else if (reader_bad_records(L->reader) > 0 || L->server_errors > 0)
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
	}
	free(L->conns);
	free(L->pollfds);
	reader_free(L->reader);
	for (i = 0; i < L->n_kinds; i++)
		free(L->kinds[i].message);
	for (i = N_KNOWN_OUTCOMES; i < L->n_outcomes; i++)
		free((char *) L->outcome_names[i]);
	free(L->password);
	return code;
}
