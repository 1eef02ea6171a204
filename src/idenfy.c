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
#include "common/cryptohash.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"

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

static Datum
ResultRow(FunctionCallInfo fcinfo, const char *scan_ref, IdenfyOutcome outcome,
		  Oid decision, int64 callback_id)
{
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

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
	values[0] = CStringGetTextDatum(scan_ref);
	values[1] = ObjectIdGetDatum(IdenfyVocabLookup(VOCAB_OUTCOME, IdenfyOutcomeName(outcome)));
	values[2] = ObjectIdGetDatum(decision);
	nulls[2] = !OidIsValid(decision);
	values[3] = Int64GetDatum(callback_id);
	nulls[3] = callback_id == 0;
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * IdenfyReject: raise an invalid callback, or keep it in quarantine (the
 * parsed payload, or the raw body when it never became jsonb).
 */
Datum
IdenfyReject(FunctionCallInfo fcinfo, Jsonb *payload, const char *body, int bodylen,
			 const char *event_type, const char *reason, const IdenfyReadError *err)
{
	if (idenfy_on_invalid != IDENFY_ON_INVALID_QUARANTINE)
		IdenfyRaiseReadError(err);

	SPI_connect();
	IdenfyStoreQuarantine(payload, body, bodylen, event_type, reason, err);
	SPI_finish();
	return ResultRow(fcinfo, IdenfyPayloadScanRef(payload), OUTCOME_QUARANTINED, InvalidOid, 0);
}

/*
 * IdenfyIngest: the steps of the file header, for every entry point.  routed_scan_ref
 * is the scanRef argument of idenfy_ingest_routed (NULL for idenfy_ingest).
 */
Datum
IdenfyIngest(FunctionCallInfo fcinfo, Jsonb *payload, char *event_type, const char *routed_scan_ref)
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
		return IdenfyReject(fcinfo, NULL, NULL, 0, event_type, "invalid", &err);
	}
	if (!IdenfyReadCallback(payload, event_type, cb, &err))
		return IdenfyReject(fcinfo, payload, NULL, 0, event_type, "invalid", &err);
	if (routed_scan_ref != NULL && strcmp(routed_scan_ref, cb->v[SLOT_SCAN_REF].str) != 0)
	{
		err.sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
		err.path = "scanRef";
		err.message = "callback field \"scanRef\" does not match the scan_ref argument";
		err.detail = "idenfy_ingest_routed routes a callback by its scan_ref argument, which must equal the payload's scanRef.";
		return IdenfyReject(fcinfo, payload, NULL, 0, event_type, "invalid", &err);
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

	return ResultRow(fcinfo, cb->v[SLOT_SCAN_REF].str, outcome, result_decision, callback_id);
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
