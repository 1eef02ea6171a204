/*-------------------------------------------------------------------------
 *
 * reprocess.c
 *		Re-apply stored callbacks: after an upgrade teaches our enum types
 *		values they did not know, read each affected verification's current
 *		callback again (read.c, vocab.c), decide again (rules.c) and rewrite
 *		its current state (store.c).  History is not touched.
 *
 * Run it in its own transaction after ALTER EXTENSION idenfy UPDATE: an
 * enum value added in a transaction cannot be used before that commits.
 * Each verification row is locked (FOR UPDATE) as it is read, like an
 * ingest of its scanRef locks it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "idenfy.h"

#define REPROCESS_BATCH 500

static const char *const reprocess_query =
"SELECT v.scan_ref, c.id, c.payload, c.event_type_raw, v.decision::pg_catalog.text"
" FROM " IDENFY_SCHEMA ".verification v"
" JOIN " IDENFY_SCHEMA ".callback c ON c.scan_ref OPERATOR(pg_catalog.=) v.scan_ref"
"  AND c.id OPERATOR(pg_catalog.=) v.callback_id"
" WHERE c.payload IS NOT NULL AND ($1 OR v.unknown_values IS NOT NULL)"
" ORDER BY v.scan_ref"
" FOR UPDATE OF v";

/* idenfy_reprocess(all_verifications boolean): re-apply current callbacks */
PG_FUNCTION_INFO_V1(idenfy_reprocess);
Datum
idenfy_reprocess(PG_FUNCTION_ARGS)
{
	bool		all = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);
	Oid			argtypes[1] = {BOOLOID};
	Datum		arg = BoolGetDatum(all);
	SPIPlanPtr	plan;
	Portal		portal;
	int64		reprocessed = 0;
	int64		decision_changed = 0;
	int64		still_unknown = 0;
	int64		failed = 0;
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "idenfy_reprocess: return type must be a row type");
	desc = BlessTupleDesc(desc);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "idenfy: SPI_connect failed");
	plan = SPI_prepare(reprocess_query, 1, argtypes);
	if (plan == NULL)
		elog(ERROR, "idenfy: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, &arg, NULL, false);
	for (;;)
	{
		SPITupleTable *batch;
		uint64		r;
		uint64		nrows;

		SPI_cursor_fetch(portal, true, REPROCESS_BATCH);
		nrows = SPI_processed;
		batch = SPI_tuptable;
		if (nrows == 0)
			break;
		for (r = 0; r < nrows; r++)
		{
			HeapTuple	row = batch->vals[r];
			bool		isnull;
			char	   *scan_ref;
			int64		callback_id;
			Jsonb	   *payload;
			char	   *event_type;
			char	   *old_decision;
			IdenfyCallback *cb;
			IdenfyReadError err;
			IdenfyDecision decision;
			List	   *reasons;

			/*
			 * One SPI level per row: what the row allocates (the callback
			 * struct, its strings, the statements' results) goes with it,
			 * so memory stays flat however many verifications there are.
			 */
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "idenfy: SPI_connect failed");
			scan_ref = SPI_getvalue(row, batch->tupdesc, 1);
			callback_id = DatumGetInt64(SPI_getbinval(row, batch->tupdesc, 2, &isnull));
			payload = DatumGetJsonbP(SPI_getbinval(row, batch->tupdesc, 3, &isnull));	/* detoasted here */
			event_type = SPI_getvalue(row, batch->tupdesc, 4);
			old_decision = SPI_getvalue(row, batch->tupdesc, 5);
			cb = palloc0(sizeof(IdenfyCallback));
			memset(&err, 0, sizeof(err));
			if (!IdenfyReadCallback(payload, event_type, cb, &err))
			{
				/* a stricter reader than the one that stored it: keep the row */
				ereport(WARNING,
						(errcode(err.sqlstate),
						 errmsg("stored callback %s of verification \"%s\" no longer reads: %s",
								psprintf(INT64_FORMAT, callback_id), scan_ref, err.message)));
				failed++;
				SPI_finish();
				continue;
			}
			IdenfyResolveVocab(cb);
			decision = IdenfyDecideCallback(cb, &reasons);
			IdenfyStoreReapply(cb, decision, reasons, callback_id);
			reprocessed++;
			if (strcmp(old_decision, IdenfyDecisionName(decision)) != 0)
				decision_changed++;
			if (cb->unknown != NIL)
				still_unknown++;
			SPI_finish();
		}
		SPI_freetuptable(batch);
	}
	SPI_cursor_close(portal);
	SPI_finish();

	values[0] = Int64GetDatum(reprocessed);
	values[1] = Int64GetDatum(decision_changed);
	values[2] = Int64GetDatum(still_unknown);
	values[3] = Int64GetDatum(failed);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}
