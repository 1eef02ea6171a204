/*-------------------------------------------------------------------------
 *
 * idenfy.c
 *		Module entry, settings, and idenfy_ingest: read, rules, store.
 *
 * idenfy_ingest reads top to bottom like the README:
 *	 1. read the callback and check it against the contract (read.c);
 *		an invalid one is raised, or quarantined with
 *		idenfy.on_invalid = 'quarantine';
 *	 2. resolve vendor values against our enum types (vocab.c);
 *	 3. lock the scanRef and load its stored state (store.c);
 *	 4. apply the ordering rules, then the decision rules (rules.c);
 *	 5. write history and, when the rules say so, the current state
 *		(store.c); the trigger on idenfy.verification notifies (notify.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "idenfy.h"

PG_MODULE_MAGIC;

/* a new scanRef created concurrently makes ingest start over; this often at most */
#define IDENFY_MAX_ATTEMPTS 10

int			idenfy_on_invalid = IDENFY_ON_INVALID_ERROR;
char	   *idenfy_notify_channel = NULL;

static const struct config_enum_entry on_invalid_options[] = {
	{"error", IDENFY_ON_INVALID_ERROR, false},
	{"quarantine", IDENFY_ON_INVALID_QUARANTINE, false},
	{NULL, 0, false}
};

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomEnumVariable("idenfy.on_invalid",
							 "What idenfy_ingest does with a callback that breaks the vendor's contract.",
							 "error raises it; quarantine keeps it in idenfy.quarantine and returns the outcome quarantined.",
							 &idenfy_on_invalid,
							 IDENFY_ON_INVALID_ERROR,
							 on_invalid_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("idenfy.notify_channel",
							   "Channel of the notifications sent when a verification's decision or finality changes.",
							   "Empty disables the notifications.",
							   &idenfy_notify_channel,
							   "idenfy",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("idenfy.max_body_size",
							"Largest request body idenfy_ingest_body and idenfy_ingest_signed accept.",
							"A larger body is invalid (SQLSTATE 22001), and quarantined with idenfy.on_invalid = 'quarantine'.",
							&idenfy_max_body_size,
							IDENFY_BODY_DEFAULT_SIZE, 1024, IDENFY_BODY_MAX_SIZE,
							PGC_USERSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("idenfy");
}

/* SHA-256 of the payload's jsonb bytes: the identity of a delivery. */
static void
Fingerprint(Jsonb *payload, uint8 *out)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (uint8 *) VARDATA(payload), VARSIZE(payload) - VARHDRSZ) < 0 ||
		pg_cryptohash_final(ctx, out, IDENFY_SHA256_LEN) < 0)
		elog(ERROR, "idenfy: could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

/*
 * CallerReadsDecisions: may the role calling the entry point read stored
 * decisions otherwise, i.e. execute idenfy_decision(text)?  The entry
 * points are SECURITY DEFINER: the caller is the outer user.  A caller
 * that may not gets a NULL decision, so that ingesting a crafted callback
 * reveals nothing a role could not read.  fn_oid is the entry point's,
 * in the extension's schema, where idenfy_decision is too.
 */
static bool
CallerReadsDecisions(Oid fn_oid)
{
	static Oid	decision_fn = InvalidOid;
	static uint64 generation = 0;

	if (!OidIsValid(decision_fn) || generation != idenfy_catalog_generation)
	{
		Oid			argtypes[1] = {TEXTOID};
		char	   *nspname = get_namespace_name(get_func_namespace(fn_oid));

		decision_fn = LookupFuncName(list_make2(makeString(nspname),
												makeString("idenfy_decision")),
									 1, argtypes, true);
		generation = idenfy_catalog_generation;
	}
	if (!OidIsValid(decision_fn))
		return false;
#if PG_VERSION_NUM >= 160000
	/* 16 replaced pg_proc_aclcheck by object_aclcheck */
	return object_aclcheck(ProcedureRelationId, decision_fn, GetOuterUserId(), ACL_EXECUTE) == ACLCHECK_OK;
#else
	return pg_proc_aclcheck(decision_fn, GetOuterUserId(), ACL_EXECUTE) == ACLCHECK_OK;
#endif
}

/* The columns scan_ref, outcome, decision, callback_id of a result. */
static void
ResultValues(FunctionCallInfo fcinfo, const IdenfyIngestResult *res, Datum *values, bool *nulls)
{
	Oid			outcome;

	nulls[0] = res->scan_ref == NULL || res->scan_ref[0] == '\0';
	values[0] = nulls[0] ? (Datum) 0 : CStringGetTextDatum(res->scan_ref);
	outcome = IdenfyVocabLookup(VOCAB_OUTCOME, IdenfyOutcomeName(res->outcome));
	/* an extension not yet updated to 1.6.0 has no 'rejected' */
	if (!OidIsValid(outcome) && res->outcome == OUTCOME_REJECTED)
		outcome = IdenfyVocabLookup(VOCAB_OUTCOME, IdenfyOutcomeName(OUTCOME_QUARANTINED));
	values[1] = ObjectIdGetDatum(outcome);
	nulls[1] = false;
	values[2] = ObjectIdGetDatum(res->decision);
	nulls[2] = !OidIsValid(res->decision) || !CallerReadsDecisions(fcinfo->flinfo->fn_oid);
	values[3] = Int64GetDatum(res->callback_id);
	nulls[3] = res->callback_id == 0;
}

static Datum
ResultRow(FunctionCallInfo fcinfo, const IdenfyIngestResult *res)
{
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4];

	/* the result row type, looked up once per call site */
	desc = (TupleDesc) fcinfo->flinfo->fn_extra;
	if (desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "idenfy_ingest: return type must be a row type");
		desc = BlessTupleDesc(CreateTupleDescCopy(desc));
		fcinfo->flinfo->fn_extra = desc;
		MemoryContextSwitchTo(old);
	}
	ResultValues(fcinfo, res, values, nulls);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * Reject: raise an invalid callback, or keep it in quarantine (the parsed
 * payload, or the raw body when it never became jsonb).
 */
static void
Reject(Jsonb *payload, const char *body, int bodylen, const char *event_type,
	   const char *reason, const IdenfyReadError *err, IdenfyIngestResult *res)
{
	if (idenfy_on_invalid != IDENFY_ON_INVALID_QUARANTINE)
		IdenfyRaiseReadError(err);

	SPI_connect();
	IdenfyStoreQuarantine(payload, body, bodylen, event_type, reason, err);
	SPI_finish();
	res->scan_ref = IdenfyPayloadScanRef(payload);
	res->outcome = strcmp(reason, "signature") == 0 ? OUTCOME_REJECTED : OUTCOME_QUARANTINED;
	res->decision = InvalidOid;
	res->callback_id = 0;
}

/* IdenfyReject: Reject, as the result row of the calling function */
Datum
IdenfyReject(FunctionCallInfo fcinfo, Jsonb *payload, const char *body, int bodylen,
			 const char *event_type, const char *reason, const IdenfyReadError *err)
{
	IdenfyIngestResult res;

	Reject(payload, body, bodylen, event_type, reason, err, &res);
	return ResultRow(fcinfo, &res);
}

/*
 * IngestOne: the steps of the file header, for every entry point.  routed_scan_ref
 * is the scanRef argument of idenfy_ingest_routed (NULL for idenfy_ingest).
 */
static void
IngestOne(Jsonb *payload, char *event_type, const char *routed_scan_ref, IdenfyIngestResult *res)
{
	IdenfyCallback *cb = palloc0(sizeof(IdenfyCallback));
	IdenfyReadError err;
	IdenfyStoredState state;
	IdenfyOutcome outcome;
	IdenfyDecision decision = DECISION_PENDING;
	List	   *reasons = NIL;
	Oid			result_decision;
	int64		callback_id = 0;
	int			attempt;

	/* 1. read */
	memset(&err, 0, sizeof(err));
	if (payload == NULL)
	{
		err.sqlstate = ERRCODE_NULL_VALUE_NOT_ALLOWED;
		err.path = "$";
		err.message = "callback is null";
		err.detail = "idenfy_ingest needs the webhook's request body as a jsonb object.";
		Reject(NULL, NULL, 0, event_type, "invalid", &err, res);
		return;
	}
	if (!IdenfyReadCallback(payload, event_type, cb, &err))
	{
		Reject(payload, NULL, 0, event_type, "invalid", &err, res);
		return;
	}
	if (routed_scan_ref != NULL && strcmp(routed_scan_ref, cb->v[SLOT_SCAN_REF].str) != 0)
	{
		err.sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
		err.path = "scanRef";
		err.message = "callback field \"scanRef\" does not match the scan_ref argument";
		err.detail = "idenfy_ingest_routed routes a callback by its scan_ref argument, which must equal the payload's scanRef.";
		Reject(payload, NULL, 0, event_type, "invalid", &err, res);
		return;
	}

	/* 2. vocabularies */
	IdenfyResolveVocab(cb);
	Fingerprint(payload, cb->sha256);

	SPI_connect();
	for (attempt = 1;; attempt++)
	{
		IdenfyStoreResult stored;

		/* 3. load the stored state (locking the verification row) */
		IdenfyLoadState(cb, &state);

		/* 4. rules */
		outcome = IdenfyOrderCallback(&state, cb);
		if (outcome == OUTCOME_DUPLICATE)
		{
			callback_id = state.seen_id;
			break;
		}
		if ((outcome == OUTCOME_CREATED || outcome == OUTCOME_UPDATED) && !cb->expiration_notice)
			decision = IdenfyDecideCallback(cb, &reasons);

		/* 5. store */
		callback_id = state.next_id;
		stored = IdenfyStoreCallback(cb, outcome, decision, reasons, callback_id);
		if (stored == IDENFY_STORE_STORED)
			break;
		if (stored == IDENFY_STORE_DUPLICATE)
		{
			outcome = OUTCOME_DUPLICATE;
			callback_id = 0;
			break;
		}
		/* another session created this verification meanwhile: start over */
		if (attempt >= IDENFY_MAX_ATTEMPTS)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize the callbacks of one verification"),
					 errdetail("Concurrent callbacks of the scanRef kept changing its state."),
					 errhint("Retry the call; use READ COMMITTED.")));
	}

	if ((outcome == OUTCOME_CREATED || outcome == OUTCOME_UPDATED) && !cb->expiration_notice)
		result_decision = IdenfyVocabLookup(VOCAB_DECISION, IdenfyDecisionName(decision));
	else
		result_decision = state.decision;

	SPI_finish();

	res->scan_ref = cb->v[SLOT_SCAN_REF].str;
	res->outcome = outcome;
	res->decision = result_decision;
	res->callback_id = callback_id;
}

/* IdenfyIngest: IngestOne, as the result row of the calling function */
Datum
IdenfyIngest(FunctionCallInfo fcinfo, Jsonb *payload, char *event_type, const char *routed_scan_ref)
{
	IdenfyIngestResult res;

	IngestOne(payload, event_type, routed_scan_ref, &res);
	return ResultRow(fcinfo, &res);
}

/* idenfy_ingest(payload jsonb, event_type text): store one callback */
PG_FUNCTION_INFO_V1(idenfy_ingest);
Datum
idenfy_ingest(PG_FUNCTION_ARGS)
{
	return IdenfyIngest(fcinfo,
				  PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0),
				  PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)),
				  NULL);
}

/* idenfy_ingest_routed(scan_ref text, payload jsonb, event_type text): the same, routable by scan_ref */
PG_FUNCTION_INFO_V1(idenfy_ingest_routed);
Datum
idenfy_ingest_routed(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("scan_ref argument of idenfy_ingest_routed is null"),
				 errdetail("The argument routes the call and must equal the payload's scanRef.")));
	return IdenfyIngest(fcinfo,
				  PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1),
				  PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2)),
				  text_to_cstring(PG_GETARG_TEXT_PP(0)));
}

/*
 * IngestBody: the request body as received, read by body.c (invalid JSON,
 * invalid text, a body too large are invalid callbacks like any other,
 * quarantined byte for byte), then ingested.
 */
static Datum
IngestBody(FunctionCallInfo fcinfo, const char *body, int len)
{
	char	   *event_type = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	IdenfyReadError err;
	Jsonb	   *payload;

	memset(&err, 0, sizeof(err));
	if (body == NULL)
		return IdenfyIngest(fcinfo, NULL, event_type, NULL);
	payload = IdenfyBodyToJsonb(body, len, &err);
	if (payload == NULL)
		return IdenfyReject(fcinfo, NULL, body, len, event_type, "invalid", &err);
	return IdenfyIngest(fcinfo, payload, event_type, NULL);
}

/* idenfy_ingest_body(body bytea, event_type text): store one callback from its raw body */
PG_FUNCTION_INFO_V1(idenfy_ingest_body);
Datum
idenfy_ingest_body(PG_FUNCTION_ARGS)
{
	bytea	   *body = PG_ARGISNULL(0) ? NULL : PG_GETARG_BYTEA_PP(0);

	return IngestBody(fcinfo, body ? VARDATA_ANY(body) : NULL, body ? VARSIZE_ANY_EXHDR(body) : 0);
}

/* idenfy_ingest_body(body text, event_type text): the same for a body passed as text */
PG_FUNCTION_INFO_V1(idenfy_ingest_body_text);
Datum
idenfy_ingest_body_text(PG_FUNCTION_ARGS)
{
	text	   *body = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);

	return IngestBody(fcinfo, body ? VARDATA_ANY(body) : NULL, body ? VARSIZE_ANY_EXHDR(body) : 0);
}

/* an element of idenfy_ingest_many in the order its scanRef is locked */
typedef struct ManyElement
{
	int			index;			/* 0-based position in the array */
	const char *scan_ref;		/* NULL: none usable, sorts last */
} ManyElement;

static int
ManyElementCompare(const void *a, const void *b)
{
	const ManyElement *ea = (const ManyElement *) a;
	const ManyElement *eb = (const ManyElement *) b;

	if (ea->scan_ref != NULL && eb->scan_ref != NULL)
	{
		int			c = strcmp(ea->scan_ref, eb->scan_ref);

		if (c != 0)
			return c;
	}
	else if (ea->scan_ref != NULL || eb->scan_ref != NULL)
		return ea->scan_ref != NULL ? -1 : 1;
	return ea->index - eb->index;
}

/*
 * idenfy_ingest_many(payloads jsonb[], event_types text[]): idenfy_ingest
 * of each element, one row per element in array order (ord: its 1-based
 * position).  One call for many callbacks: the SECURITY DEFINER frame,
 * with its pinned search_path, and the function call are paid once, not
 * per callback (idenfy-load sends its groups this way).  event_types NULL:
 * none; otherwise as long as payloads.  Like the calls one by one in one
 * statement: an error (an invalid callback with idenfy.on_invalid =
 * 'error') fails the whole call.
 *
 * Lock order: the elements are ingested in the order of their scanRefs
 * (bytewise; stable, so callbacks of one scanRef keep their array order),
 * so two calls sharing scanRefs lock them in the same order and cannot
 * deadlock against each other, or against single calls.
 */
PG_FUNCTION_INFO_V1(idenfy_ingest_many);
Datum
idenfy_ingest_many(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum	   *payloads = NULL;
	bool	   *payload_nulls = NULL;
	Datum	   *types = NULL;
	bool	   *type_nulls = NULL;
	int			n = 0;
	int			ntypes = 0;
	ManyElement *order;
	IdenfyIngestResult *results;
	MemoryContext element_cxt;
	MemoryContext old;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	if (ARR_NDIM(PG_GETARG_ARRAYTYPE_P(0)) > 1 ||
		(!PG_ARGISNULL(1) && ARR_NDIM(PG_GETARG_ARRAYTYPE_P(1)) > 1))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("idenfy_ingest_many takes one-dimensional arrays")));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), JSONBOID, -1, false, TYPALIGN_INT,
					  &payloads, &payload_nulls, &n);
	if (!PG_ARGISNULL(1))
	{
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT,
						  &types, &type_nulls, &ntypes);
		if (ntypes != n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("idenfy_ingest_many got %d payloads and %d event types", n, ntypes),
					 errdetail("event_types is NULL or has one element per payload.")));
	}

	order = palloc(sizeof(ManyElement) * Max(n, 1));
	results = palloc0(sizeof(IdenfyIngestResult) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		order[i].index = i;
		order[i].scan_ref = payload_nulls[i] ? NULL :
			IdenfyPayloadScanRef(DatumGetJsonbP(payloads[i]));
	}
	qsort(order, n, sizeof(ManyElement), ManyElementCompare);

	element_cxt = AllocSetContextCreate(CurrentMemoryContext, "idenfy_ingest_many element",
										ALLOCSET_DEFAULT_SIZES);
	for (int k = 0; k < n; k++)
	{
		int			i = order[k].index;
		IdenfyIngestResult *res = &results[i];

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(element_cxt);
		IngestOne(payload_nulls[i] ? NULL : DatumGetJsonbP(payloads[i]),
				  types == NULL || type_nulls[i] ? NULL : TextDatumGetCString(types[i]),
				  NULL, res);
		MemoryContextSwitchTo(old);
		/* the scanRef outlives the element's memory */
		res->scan_ref = res->scan_ref ? pstrdup(res->scan_ref) : NULL;
		MemoryContextReset(element_cxt);
	}
	MemoryContextDelete(element_cxt);

	for (int i = 0; i < n; i++)
	{
		Datum		values[5];
		bool		nulls[5];

		values[0] = Int32GetDatum(i + 1);
		nulls[0] = false;
		ResultValues(fcinfo, &results[i], &values[1], &nulls[1]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * idenfy.url_expiry(url text): the expiry of a pre-signed file link, read
 * as ingest reads it (IdenfyUrlExpiry); NULL when absent or beyond 9999.
 */
PG_FUNCTION_INFO_V1(idenfy_url_expiry);
Datum
idenfy_url_expiry(PG_FUNCTION_ARGS)
{
	char	   *url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		secs;

	if (!IdenfyUrlExpiry(url, &secs))
		PG_RETURN_NULL();
	return IdenfyEpochToTimestamptz(secs);
}
