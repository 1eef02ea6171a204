/*-------------------------------------------------------------------------
 *
 * notify.c
 *		Trigger on idenfy.verification: NOTIFY the application when a
 *		verification's effective decision or finality changes.
 *
 * The payload is a JSON object {"scanRef", "clientId", "decision",
 * "previousDecision", "final"}: identifiers and vocabulary only, never
 * personal data.  NOTIFY is transactional: listeners hear it when the
 * transaction commits, and not at all when it rolls back.  The channel is
 * the setting idenfy.notify_channel (default "idenfy"; empty: no
 * notifications).  The UPDATE trigger's WHEN clause skips updates that
 * change neither the decision nor finality, and stale or duplicate
 * deliveries do not touch the row at all.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/rel.h"

#include "idenfy.h"

static void
AppendTextField(StringInfo buf, const char *key, HeapTuple tuple, TupleDesc desc,
				const char *column)
{
	int			attnum = SPI_fnumber(desc, column);
	char	   *value;

	if (attnum <= 0)
		elog(ERROR, "idenfy: column \"%s\" is missing", column);
	value = SPI_getvalue(tuple, desc, attnum);
	appendStringInfo(buf, ", \"%s\": ", key);
	if (value == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, value);
}

/* idenfy.notify_decision(): AFTER INSERT OR UPDATE OR DELETE row trigger */
PG_FUNCTION_INFO_V1(idenfy_notify_decision);
Datum
idenfy_notify_decision(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	newtup = NULL;
	HeapTuple	oldtup = NULL;
	HeapTuple	tup;
	StringInfoData buf;
	char	   *final;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "idenfy_notify_decision: must be fired as an AFTER ROW trigger");

	if (idenfy_notify_channel == NULL || idenfy_notify_channel[0] == '\0')
		return PointerGetDatum(NULL);

	desc = trigdata->tg_relation->rd_att;
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		newtup = trigdata->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		oldtup = trigdata->tg_trigtuple;
		newtup = trigdata->tg_newtuple;
	}
	else
		oldtup = trigdata->tg_trigtuple;
	tup = newtup ? newtup : oldtup;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"scanRef\": ");
	escape_json(&buf, SPI_getvalue(tup, desc, SPI_fnumber(desc, "scan_ref")));
	/* an erasure does not repeat who was erased */
	if (newtup)
		AppendTextField(&buf, "clientId", tup, desc, "client_id");
	else
		appendStringInfoString(&buf, ", \"clientId\": null");
	if (newtup)
		AppendTextField(&buf, "decision", newtup, desc, "decision");
	else
		appendStringInfoString(&buf, ", \"decision\": null");
	if (oldtup)
		AppendTextField(&buf, "previousDecision", oldtup, desc, "decision");
	else
		appendStringInfoString(&buf, ", \"previousDecision\": null");
	final = newtup ? SPI_getvalue(newtup, desc, SPI_fnumber(desc, "final")) : NULL;
	appendStringInfo(&buf, ", \"final\": %s",
					 final == NULL ? "null" : (final[0] == 't' ? "true" : "false"));
	if (!newtup)
		appendStringInfoString(&buf, ", \"erased\": true");
	appendStringInfoChar(&buf, '}');

	Async_Notify(idenfy_notify_channel, buf.data);
	return PointerGetDatum(NULL);
}
