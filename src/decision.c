/*-------------------------------------------------------------------------
 *
 * decision.c
 *		Recompute stored decisions: the decision rules of rules.c applied to
 *		verifications already stored, when the tag policy changes.
 *
 * Ingest decides from the callback it reads; this file decides from the
 * stored row (unknown vendor values come back from unknown_values), so both
 * paths run the one function IdenfyDecide.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "idenfy.h"

#define RECOMPUTE_BATCH 1000

/* Inputs of the decision rules, read back from a stored verification. */
static const char *const recompute_query =
"SELECT v.scan_ref, v.final, v.cancelled,"
"  v.overall::pg_catalog.text,"
"  COALESCE(v.manual_face::pg_catalog.text,"
"    v.unknown_values OPERATOR(pg_catalog.->) 'status.manualFace' OPERATOR(pg_catalog.->>) 0,"
"    v.auto_face::pg_catalog.text,"
"    v.unknown_values OPERATOR(pg_catalog.->) 'status.autoFace' OPERATOR(pg_catalog.->>) 0),"
"  COALESCE(v.manual_document::pg_catalog.text,"
"    v.unknown_values OPERATOR(pg_catalog.->) 'status.manualDocument' OPERATOR(pg_catalog.->>) 0,"
"    v.auto_document::pg_catalog.text,"
"    v.unknown_values OPERATOR(pg_catalog.->) 'status.autoDocument' OPERATOR(pg_catalog.->>) 0),"
"  ARRAY(SELECT k FROM pg_catalog.jsonb_object_keys(v.unknown_values) AS k"
"    ORDER BY pg_catalog.octet_length(k), k COLLATE \"C\"),"
"  t.tags,"
"  ARRAY(SELECT COALESCE(p.policy::pg_catalog.text, '')"
"    FROM pg_catalog.unnest(t.tags) WITH ORDINALITY AS u(tag, i)"
"    LEFT JOIN " IDENFY_SCHEMA ".tag_policy p ON p.tag OPERATOR(pg_catalog.=) u.tag"
"    ORDER BY u.i),"
"  v.decision::pg_catalog.text, v.decision_reasons"
" FROM " IDENFY_SCHEMA ".verification v,"
"  LATERAL (SELECT v.fraud_tags::pg_catalog.text[] OPERATOR(pg_catalog.||)"
"    v.mismatch_tags::pg_catalog.text[] AS tags) t"
" WHERE $1 IS NULL OR t.tags OPERATOR(pg_catalog.&&) $1";

static const char *const update_query =
"UPDATE " IDENFY_SCHEMA ".verification"
" SET decision = $2::" IDENFY_SCHEMA ".decision, decision_reasons = $3, updated_at = pg_catalog.now()"
" WHERE scan_ref OPERATOR(pg_catalog.=) $1";

static char *
GetText(HeapTuple row, TupleDesc desc, int col)
{
	return SPI_getvalue(row, desc, col);
}

static int
TextArrayToCStrings(Datum array, char ***out)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;

	deconstruct_array(DatumGetArrayTypeP(array), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	*out = palloc(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
		(*out)[i] = nulls[i] ? "" : TextDatumGetCString(elems[i]);
	return n;
}

static bool
SameReasons(List *reasons, Datum stored)
{
	char	  **old;
	int			n = TextArrayToCStrings(stored, &old);
	ListCell   *lc;
	int			i = 0;

	if (n != list_length(reasons))
		return false;
	foreach(lc, reasons)
		if (strcmp(lfirst(lc), old[i++]) != 0)
			return false;
	return true;
}

/* idenfy.recompute_decisions(tags text[]): decide stored verifications again */
PG_FUNCTION_INFO_V1(idenfy_recompute_decisions);
Datum
idenfy_recompute_decisions(PG_FUNCTION_ARGS)
{
	Datum		tags = PG_GETARG_DATUM(0);
	bool		all = array_contains_nulls(PG_GETARG_ARRAYTYPE_P(0));
	Oid			argtypes[4] = {TEXTARRAYOID, TEXTOID, TEXTOID, TEXTARRAYOID};
	SPIPlanPtr	select_plan;
	SPIPlanPtr	update_plan;
	Portal		portal;
	Datum		arg;
	char		argnull;
	int64		changed = 0;
	MemoryContext proc_cxt;
	MemoryContext row_cxt;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "idenfy: SPI_connect failed");
	/* what one row allocates, reset after it: memory stays flat over any number of rows */
	proc_cxt = CurrentMemoryContext;
	row_cxt = AllocSetContextCreate(proc_cxt, "idenfy recompute row", ALLOCSET_DEFAULT_SIZES);
	select_plan = SPI_prepare(recompute_query, 1, argtypes);
	update_plan = SPI_prepare(update_query, 3, &argtypes[1]);
	if (select_plan == NULL || update_plan == NULL)
		elog(ERROR, "idenfy: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));

	arg = tags;
	argnull = all ? 'n' : ' ';
	portal = SPI_cursor_open(NULL, select_plan, &arg, &argnull, false);
	for (;;)
	{
		SPITupleTable *batch;
		uint64		r;
		uint64		nrows;

		SPI_cursor_fetch(portal, true, RECOMPUTE_BATCH);
		nrows = SPI_processed;
		batch = SPI_tuptable;
		if (nrows == 0)
			break;
		for (r = 0; r < nrows; r++)
		{
			HeapTuple	row = batch->vals[r];
			TupleDesc	desc = batch->tupdesc;
			IdenfyDecisionInput in;
			IdenfyDecision decision;
			List	   *reasons;
			char	  **policy_names;
			int		   *policies;
			char	  **tag_names;
			bool		isnull;
			int			i;
			const char *old_decision;
			Datum		old_reasons;

			MemoryContextSwitchTo(row_cxt);
			memset(&in, 0, sizeof(in));
			in.final = DatumGetBool(SPI_getbinval(row, desc, 2, &isnull));
			in.cancelled = DatumGetBool(SPI_getbinval(row, desc, 3, &isnull));
			in.overall = GetText(row, desc, 4);
			in.face = GetText(row, desc, 5);
			in.document = GetText(row, desc, 6);
			{
				char	  **paths;

				in.nunknown = TextArrayToCStrings(SPI_getbinval(row, desc, 7, &isnull), &paths);
				in.unknown_paths = (const char **) paths;
			}
			in.ntags = TextArrayToCStrings(SPI_getbinval(row, desc, 8, &isnull), &tag_names);
			in.tags = (const char **) tag_names;
			TextArrayToCStrings(SPI_getbinval(row, desc, 9, &isnull), &policy_names);
			policies = palloc(sizeof(int) * Max(in.ntags, 1));
			for (i = 0; i < in.ntags; i++)
				policies[i] = strcmp(policy_names[i], "APPROVED") == 0 ? DECISION_APPROVED :
					strcmp(policy_names[i], "DENIED") == 0 ? DECISION_DENIED :
					strcmp(policy_names[i], "REVIEW") == 0 ? DECISION_REVIEW : -1;
			in.tag_policies = policies;

			decision = IdenfyDecide(&in, &reasons);
			old_decision = GetText(row, desc, 10);
			old_reasons = SPI_getbinval(row, desc, 11, &isnull);
			if (strcmp(old_decision, IdenfyDecisionName(decision)) != 0 ||
				!SameReasons(reasons, old_reasons))
			{
				Datum		values[3];
				List	   *l = reasons;
				Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(l), 1));
				ListCell   *lc;
				int			n = 0;

				foreach(lc, l)
					elems[n++] = CStringGetTextDatum(lfirst(lc));
				values[0] = SPI_getbinval(row, desc, 1, &isnull);
				values[1] = CStringGetTextDatum(IdenfyDecisionName(decision));
				values[2] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
				if (SPI_execute_plan(update_plan, values, NULL, false, 0) != SPI_OK_UPDATE)
					elog(ERROR, "idenfy: could not update a decision");
				changed++;
			}
			/* SPI calls leave the SPI procedure context current: back to it, and free the row */
			MemoryContextSwitchTo(proc_cxt);
			MemoryContextReset(row_cxt);
		}
		SPI_freetuptable(batch);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	PG_RETURN_INT64(changed);
}
