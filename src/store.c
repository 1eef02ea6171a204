/*-------------------------------------------------------------------------
 *
 * store.c
 *		Write a read callback: lock its scanRef, load the stored state,
 *		append history, upsert the current state and its child rows.
 *
 * The stored state is read and locked by index scans (IdenfyLoadState,
 * through tables.c).  Every write is a statement prepared once per backend,
 * when first needed, as a generic plan (SPI_prepare_cursor + SPI_keepplan)
 * from the column tables below, which are the one place where table and
 * column names of the writes appear; the plans are prepared again only when
 * the catalogs of our types change (vocab.c bumps idenfy_catalog_generation).
 * Every name and operator in the statements is schema-qualified, so the
 * caller's search_path changes nothing.
 *
 * Concurrency, without a lock per scanRef in the shared lock table (so one
 * transaction may ingest any number of callbacks):
 *	 - IdenfyLoadState locks an existing verification row (as FOR UPDATE), so
 *	   callbacks of a known scanRef apply one at a time, each seeing what the
 *	   previous one committed;
 *	 - a new scanRef is inserted with ON CONFLICT DO NOTHING, guarded by "not
 *	   erased": when another session created (or erased) it meanwhile, the
 *	   insert waits for that session, does nothing, and the caller starts
 *	   over with a fresh state (IDENFY_STORE_RETRY);
 *	 - history rows are inserted with ON CONFLICT DO NOTHING on (scan_ref,
 *	   payload_sha256): a payload stored concurrently is a duplicate.
 * In READ COMMITTED every SPI statement and every IdenfyLoadState takes a
 * new snapshot, so a retry sees the committed winner.  Callers in REPEATABLE
 * READ or SERIALIZABLE get a serialization error instead of a wrong state,
 * and retry.
 *
 * The caller is connected to SPI.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/inet.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "idenfy.h"

/* ------------------------------------------------------------------------
 * Column tables: slot of the read callback -> column.
 * ------------------------------------------------------------------------ */
typedef enum ColumnKind
{
	C_TEXT,
	C_LABEL,					/* enum value, NULL when unknown */
	C_LABEL_ARRAY,				/* known enum values */
	C_TEXT_ARRAY,
	C_BOOL,
	C_TIMESTAMPTZ,				/* from Unix seconds */
	C_INET,
	C_DATE,						/* a free string parsed as YYYY-MM-DD, else NULL */
	C_JSONB,
	C_NUMERIC
} ColumnKind;

typedef struct Column
{
	const char *name;
	ColumnKind	kind;
	int			slot;
	IdenfyVocab vocab;			/* C_LABEL, C_LABEL_ARRAY */
} Column;

static const Column verification_columns[] = {
	{"client_id", C_TEXT, SLOT_CLIENT_ID},
	{"external_ref", C_TEXT, SLOT_EXTERNAL_REF},
	{"platform", C_LABEL, SLOT_PLATFORM, VOCAB_PLATFORM},
	{"overall", C_LABEL, SLOT_OVERALL, VOCAB_OVERALL},
	{"auto_face", C_LABEL, SLOT_AUTO_FACE, VOCAB_FACE},
	{"manual_face", C_LABEL, SLOT_MANUAL_FACE, VOCAB_FACE},
	{"auto_document", C_LABEL, SLOT_AUTO_DOCUMENT, VOCAB_DOCUMENT},
	{"manual_document", C_LABEL, SLOT_MANUAL_DOCUMENT, VOCAB_DOCUMENT},
	{"additional_step_status", C_LABEL, SLOT_ADDITIONAL_STEP_STATUS, VOCAB_ADDITIONAL_STEP},
	{"fraud_tags", C_LABEL_ARRAY, SLOT_FRAUD_TAGS, VOCAB_FRAUD_TAG},
	{"mismatch_tags", C_LABEL_ARRAY, SLOT_MISMATCH_TAGS, VOCAB_MISMATCH_TAG},
	{"suspicion_reasons", C_TEXT_ARRAY, SLOT_SUSPICION_REASONS},
	{"deny_reasons", C_TEXT_ARRAY, SLOT_DENY_REASONS},
	{"aml_result_class", C_LABEL, SLOT_AML_RESULT_CLASS, VOCAB_AML_STATUS},
	{"peps_status", C_LABEL, SLOT_PEPS_STATUS, VOCAB_AML_STATUS},
	{"sanctions_status", C_LABEL, SLOT_SANCTIONS_STATUS, VOCAB_AML_STATUS},
	{"adverse_media_status", C_LABEL, SLOT_ADVERSE_MEDIA_STATUS, VOCAB_AML_STATUS},
	{"start_time", C_TIMESTAMPTZ, SLOT_START_TIME},
	{"finish_time", C_TIMESTAMPTZ, SLOT_FINISH_TIME},
	{"client_ip", C_INET, SLOT_CLIENT_IP},
	{"client_ip_country", C_TEXT, SLOT_CLIENT_IP_COUNTRY},
	{"client_location", C_TEXT, SLOT_CLIENT_LOCATION},
	{"risk_score", C_NUMERIC, SLOT_RISK_SCORE},
	{"risk_level", C_TEXT, SLOT_RISK_LEVEL},
	{"risk_assessment", C_JSONB, SLOT_RISK_ASSESSMENT},
	{"company_id", C_TEXT, SLOT_COMPANY_ID},
	{"beneficiary_id", C_TEXT, SLOT_BENEFICIARY_ID},
	{"manual_address_match", C_BOOL, SLOT_MANUAL_ADDRESS_MATCH},
	{"additional_steps", C_JSONB, SLOT_ADDITIONAL_STEPS},
	{"address_verification", C_JSONB, SLOT_ADDRESS_VERIFICATION},
	{"registry_center_check", C_JSONB, SLOT_REGISTRY_CENTER_CHECK},
	{"questionnaire_answers", C_JSONB, SLOT_QUESTIONNAIRE_ANSWERS},
};

static const Column document_columns[] = {
	{"doc_first_name", C_TEXT, SLOT_DOC_FIRST_NAME},
	{"doc_last_name", C_TEXT, SLOT_DOC_LAST_NAME},
	{"doc_number", C_TEXT, SLOT_DOC_NUMBER},
	{"doc_personal_code", C_TEXT, SLOT_DOC_PERSONAL_CODE},
	{"doc_expiry_raw", C_TEXT, SLOT_DOC_EXPIRY},
	{"doc_expiry", C_DATE, SLOT_DOC_EXPIRY},
	{"doc_dob_raw", C_TEXT, SLOT_DOC_DOB},
	{"doc_dob", C_DATE, SLOT_DOC_DOB},
	{"doc_date_of_issue_raw", C_TEXT, SLOT_DOC_DATE_OF_ISSUE},
	{"doc_date_of_issue", C_DATE, SLOT_DOC_DATE_OF_ISSUE},
	{"doc_type", C_LABEL, SLOT_DOC_TYPE, VOCAB_DOC_TYPE},
	{"doc_sex", C_LABEL, SLOT_DOC_SEX, VOCAB_SEX},
	{"doc_nationality", C_TEXT, SLOT_DOC_NATIONALITY},
	{"doc_issuing_country", C_TEXT, SLOT_DOC_ISSUING_COUNTRY},
	{"doc_temporary_address", C_TEXT, SLOT_DOC_TEMPORARY_ADDRESS},
	{"doc_birth_name", C_TEXT, SLOT_DOC_BIRTH_NAME},
	{"doc_patronymic", C_TEXT, SLOT_DOC_PATRONYMIC},
	{"birth_place", C_TEXT, SLOT_BIRTH_PLACE},
	{"authority", C_TEXT, SLOT_AUTHORITY},
	{"address", C_TEXT, SLOT_ADDRESS},
	{"mothers_maiden_name", C_TEXT, SLOT_MOTHERS_MAIDEN_NAME},
	{"driver_license_category", C_TEXT, SLOT_DRIVER_LICENSE_CATEGORY},
	{"manually_data_changed", C_BOOL, SLOT_MANUALLY_DATA_CHANGED},
	{"full_name", C_TEXT, SLOT_FULL_NAME},
	{"selected_country", C_TEXT, SLOT_SELECTED_COUNTRY},
	{"org_first_name", C_TEXT, SLOT_ORG_FIRST_NAME},
	{"org_last_name", C_TEXT, SLOT_ORG_LAST_NAME},
	{"org_nationality", C_TEXT, SLOT_ORG_NATIONALITY},
	{"org_birth_place", C_TEXT, SLOT_ORG_BIRTH_PLACE},
	{"org_authority", C_TEXT, SLOT_ORG_AUTHORITY},
	{"org_address", C_TEXT, SLOT_ORG_ADDRESS},
	{"org_temporary_address", C_TEXT, SLOT_ORG_TEMPORARY_ADDRESS},
	{"org_mothers_maiden_name", C_TEXT, SLOT_ORG_MOTHERS_MAIDEN_NAME},
	{"org_patronymic", C_TEXT, SLOT_ORG_PATRONYMIC},
	{"org_birth_name", C_TEXT, SLOT_ORG_BIRTH_NAME},
	{"age_estimate", C_LABEL, SLOT_AGE_ESTIMATE, VOCAB_AGE_ESTIMATE},
	{"ip_proxy_risk", C_LABEL, SLOT_IP_PROXY_RISK, VOCAB_IP_PROXY_RISK},
	{"manual_address", C_TEXT, SLOT_MANUAL_ADDRESS},
	{"additional_data", C_JSONB, SLOT_ADDITIONAL_DATA},
};

/* Leading, non-slot columns of the verification upsert ($1 .. $9). */
static const char *const verification_head[] = {
	"scan_ref", "final", "has_manual", "cancelled", "event_type",
	"unknown_values", "decision", "decision_reasons", "callback_id",
};
#define VERIFICATION_HEAD lengthof(verification_head)
#define VERIFICATION_NPARAMS (VERIFICATION_HEAD + lengthof(verification_columns))
#define DOCUMENT_NPARAMS (1 + lengthof(document_columns))

/* ------------------------------------------------------------------------
 * Plans.
 * ------------------------------------------------------------------------ */
typedef enum PlanId
{
	PLAN_POLICIES,
	PLAN_HISTORY,
	PLAN_VERIFICATION,
	PLAN_VERIFICATION_NEW,
	PLAN_DOCUMENT,
	PLAN_DOCUMENT_NEW,
	PLAN_DELETE_CHILDREN,
	PLAN_DELETE_LEGACY,
	PLAN_FILE_URLS,
	PLAN_SERVICES,
	PLAN_FACE_LINKS,
	PLAN_NOTICE,
	PLAN_QUARANTINE,
	PLAN_COUNT
} PlanId;

static SPIPlanPtr plans[PLAN_COUNT];
static uint64 plans_generation = 0;

static Oid
ColumnType(const Column *c)
{
	switch (c->kind)
	{
		case C_TEXT:
			return TEXTOID;
		case C_LABEL:
			return IdenfyVocabType(c->vocab);
		case C_LABEL_ARRAY:
			return IdenfyVocabArrayType(c->vocab);
		case C_TEXT_ARRAY:
			return TEXTARRAYOID;
		case C_BOOL:
			return BOOLOID;
		case C_TIMESTAMPTZ:
			return TIMESTAMPTZOID;
		case C_INET:
			return INETOID;
		case C_DATE:
			return DATEOID;
		case C_JSONB:
			return JSONBOID;
		case C_NUMERIC:
			return NUMERICOID;
	}
	elog(ERROR, "unexpected column kind %d", (int) c->kind);
	return InvalidOid;
}

static SPIPlanPtr
Prepare(const char *sql, int nargs, Oid *argtypes)
{
	/*
	 * Generic plans always: the plan cache would otherwise keep planning a
	 * custom plan per call for statements where a parameter folds a branch
	 * away (the state query's "$3 IS NOT NULL", the deletion's "$2"), as the
	 * custom plan looks cheaper; that planning was 5% of ingest time.
	 */
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		elog(ERROR, "idenfy: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "idenfy: SPI_keepplan failed");
	return plan;
}

/*
 * The INSERT of a row from the head and a column table, in one of three
 * modes (below).
 */
typedef enum UpsertMode
{
	UPSERT,						/* INSERT ... ON CONFLICT (scan_ref) DO UPDATE */
	INSERT_NEW_VERIFICATION,	/* ... WHERE not erased ON CONFLICT DO NOTHING */
	INSERT_ONLY					/* a plain INSERT: the row cannot exist */
} UpsertMode;

static SPIPlanPtr
PrepareUpsert(const char *table, const char *const *head, int nhead,
			  Oid *headtypes, const char *const *fixed, const char *const *fixed_values,
			  int nfixed, const char *const *keep_on_update,
			  const Column *cols, int ncols, UpsertMode mode)
{
	bool		new_only = mode == INSERT_NEW_VERIFICATION;
	StringInfoData sql;
	Oid		   *types = palloc(sizeof(Oid) * (nhead + ncols));
	int			i;
	int			n = 0;

	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO " IDENFY_SCHEMA ".%s AS t (", table);
	for (i = 0; i < nhead; i++)
		appendStringInfo(&sql, "%s%s", n++ ? ", " : "", head[i]);
	for (i = 0; i < nfixed; i++)
		appendStringInfo(&sql, ", %s", fixed[i]);
	for (i = 0; i < ncols; i++)
		appendStringInfo(&sql, ", %s", cols[i].name);
	appendStringInfoString(&sql, new_only ? ") SELECT " : ") VALUES (");
	for (i = 0; i < nhead; i++)
	{
		appendStringInfo(&sql, "%s$%d", i ? ", " : "", i + 1);
		types[i] = headtypes[i];
	}
	for (i = 0; i < nfixed; i++)
		appendStringInfo(&sql, ", %s", fixed_values[i]);
	for (i = 0; i < ncols; i++)
	{
		appendStringInfo(&sql, ", $%d", nhead + i + 1);
		types[nhead + i] = ColumnType(&cols[i]);
	}
	if (new_only)
	{
		appendStringInfoString(&sql, " WHERE NOT EXISTS (SELECT 1 FROM " IDENFY_SCHEMA ".erasure x"
							   " WHERE x.scan_ref OPERATOR(pg_catalog.=) $1)"
							   " ON CONFLICT (scan_ref) DO NOTHING");
		return Prepare(sql.data, nhead + ncols, types);
	}
	if (mode == INSERT_ONLY)
	{
		appendStringInfoChar(&sql, ')');
		return Prepare(sql.data, nhead + ncols, types);
	}
	appendStringInfoString(&sql, ") ON CONFLICT (scan_ref) DO UPDATE SET ");
	n = 0;
	for (i = 1; i < nhead; i++)
		appendStringInfo(&sql, "%s%s = EXCLUDED.%s", n++ ? ", " : "", head[i], head[i]);
	for (i = 0; i < nfixed; i++)
	{
		int			k;
		bool		keep = false;

		for (k = 0; keep_on_update && keep_on_update[k]; k++)
			if (strcmp(keep_on_update[k], fixed[i]) == 0)
				keep = true;
		if (!keep)
			appendStringInfo(&sql, "%s%s = EXCLUDED.%s", n++ ? ", " : "", fixed[i], fixed[i]);
	}
	for (i = 0; i < ncols; i++)
		appendStringInfo(&sql, "%s%s = EXCLUDED.%s", n++ ? ", " : "", cols[i].name, cols[i].name);

	return Prepare(sql.data, nhead + ncols, types);
}

/*
 * PreparePlan: the statement of one plan.  Plans are prepared when first
 * needed: those of the tables before 1.2.0 (file_url, service_result) only
 * while those tables exist.
 */
static SPIPlanPtr
PreparePlan(PlanId id)
{
	switch (id)
	{
		case PLAN_POLICIES:
			{
				Oid			types[] = {TEXTARRAYOID};

				return Prepare("SELECT p.tag, p.policy::pg_catalog.text FROM " IDENFY_SCHEMA ".tag_policy p"
							   " WHERE p.tag OPERATOR(pg_catalog.=) ANY ($1)",
							   1, types);
			}
		case PLAN_HISTORY:
			{
				Oid			types[] = {TEXTOID, BYTEAOID, IdenfyVocabType(VOCAB_EVENT_TYPE), TEXTOID,
				BOOLOID, BOOLOID, IdenfyVocabType(VOCAB_OUTCOME), JSONBOID, INT8OID};

				return Prepare("INSERT INTO " IDENFY_SCHEMA ".callback"
							   " (scan_ref, payload_sha256, event_type, event_type_raw,"
							   "  final, has_manual, outcome, payload, id)"
							   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
							   " ON CONFLICT (scan_ref, payload_sha256) DO NOTHING",
							   9, types);
			}
		case PLAN_VERIFICATION:
		case PLAN_VERIFICATION_NEW:
			{
				Oid			headtypes[] = {TEXTOID, BOOLOID, BOOLOID, BOOLOID,
					IdenfyVocabType(VOCAB_EVENT_TYPE), JSONBOID, IdenfyVocabType(VOCAB_DECISION),
				TEXTARRAYOID, INT8OID};
				static const char *const fixed[] = {"first_received_at", "updated_at"};
				static const char *const fixed_values[] = {"pg_catalog.now()", "pg_catalog.now()"};
				static const char *const keep[] = {"first_received_at", NULL};

				return PrepareUpsert("verification", verification_head, VERIFICATION_HEAD, headtypes,
									 fixed, fixed_values, 2, keep,
									 verification_columns, lengthof(verification_columns),
									 id == PLAN_VERIFICATION_NEW ? INSERT_NEW_VERIFICATION : UPSERT);
			}
		case PLAN_DOCUMENT:
		case PLAN_DOCUMENT_NEW:
			{
				static const char *const head[] = {"scan_ref"};
				Oid			headtypes[] = {TEXTOID};

				/*
				 * A new verification's document is a plain INSERT: documents
				 * are written and erased with their verification, so there is
				 * none to update, and the speculative insertion of ON
				 * CONFLICT would only cost time.
				 */
				return PrepareUpsert("document", head, 1, headtypes, NULL, NULL, 0, NULL,
									 document_columns, lengthof(document_columns),
									 id == PLAN_DOCUMENT_NEW ? INSERT_ONLY : UPSERT);
			}
		case PLAN_DELETE_CHILDREN:
			{
				Oid			types[] = {TEXTOID, BOOLOID};

				return Prepare("WITH d AS (DELETE FROM " IDENFY_SCHEMA ".document"
							   "  WHERE $2 AND scan_ref OPERATOR(pg_catalog.=) $1)"
							   " DELETE FROM " IDENFY_SCHEMA ".face_link WHERE scan_ref OPERATOR(pg_catalog.=) $1",
							   2, types);
			}
		case PLAN_DELETE_LEGACY:
			{
				Oid			types[] = {TEXTOID};

				return Prepare("WITH f AS (DELETE FROM " IDENFY_SCHEMA ".file_url"
							   "  WHERE scan_ref OPERATOR(pg_catalog.=) $1)"
							   " DELETE FROM " IDENFY_SCHEMA ".service_result WHERE scan_ref OPERATOR(pg_catalog.=) $1",
							   1, types);
			}
		case PLAN_FILE_URLS:
			{
				Oid			types[] = {TEXTOID, IdenfyVocabArrayType(VOCAB_FILE_SOURCE), TEXTARRAYOID,
				TEXTARRAYOID, TIMESTAMPTZARRAYOID};

				return Prepare("INSERT INTO " IDENFY_SCHEMA ".file_url (scan_ref, source, name, url, expires_at)"
							   " SELECT $1, u.source, u.name, u.url, u.expires_at"
							   " FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4),"
							   "  pg_catalog.unnest($5)) AS u(source, name, url, expires_at)",
							   5, types);
			}
		case PLAN_SERVICES:
			{
				Oid			types[] = {TEXTOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
					TEXTARRAYOID, TEXTARRAYOID, BOOLARRAYOID, BOOLARRAYOID, BOOLARRAYOID, BOOLARRAYOID,
				TEXTARRAYOID, JSONBARRAYOID};

				return Prepare("INSERT INTO " IDENFY_SCHEMA ".service_result (scan_ref, list, ord,"
							   "  service_name, service_group_type, uid, overall_status, service_suspected,"
							   "  service_used, service_found, check_successful, error_message, data)"
							   " SELECT $1, s.* FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3),"
							   "  pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6),"
							   "  pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9),"
							   "  pg_catalog.unnest($10), pg_catalog.unnest($11), pg_catalog.unnest($12),"
							   "  pg_catalog.unnest($13)) AS s",
							   13, types);
			}
		case PLAN_FACE_LINKS:
			{
				Oid			types[] = {TEXTOID, IdenfyVocabArrayType(VOCAB_FACE_MATCH_KIND), TEXTARRAYOID};

				return Prepare("INSERT INTO " IDENFY_SCHEMA ".face_link (scan_ref, kind, other_scan_ref)"
							   " SELECT $1, l.kind, l.other"
							   " FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS l(kind, other)"
							   " ON CONFLICT DO NOTHING",
							   3, types);
			}
		case PLAN_NOTICE:
			{
				Oid			types[] = {TEXTOID, TEXTOID, IdenfyVocabType(VOCAB_EXPIRATION_THRESHOLD),
				TEXTOID, TEXTOID, DATEOID, INT8OID};

				return Prepare("INSERT INTO " IDENFY_SCHEMA ".document_expiration (scan_ref, threshold_raw,"
							   "  threshold, client_id, document_expiration_raw, document_expiration,"
							   "  callback_id, received_at)"
							   " VALUES ($1, $2, $3, $4, $5, $6, $7, pg_catalog.now())"
							   " ON CONFLICT (scan_ref, threshold_raw) DO UPDATE SET"
							   "  threshold = EXCLUDED.threshold, client_id = EXCLUDED.client_id,"
							   "  document_expiration_raw = EXCLUDED.document_expiration_raw,"
							   "  document_expiration = EXCLUDED.document_expiration,"
							   "  callback_id = EXCLUDED.callback_id, received_at = EXCLUDED.received_at",
							   7, types);
			}
		case PLAN_QUARANTINE:
			{
				Oid			types[] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, BYTEAOID,
				TEXTOID};

				return Prepare("INSERT INTO " IDENFY_SCHEMA ".quarantine (scan_ref, event_type_raw, reason,"
							   "  sqlstate, message, detail, payload, body, json_path)"
							   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
							   9, types);
			}
		case PLAN_COUNT:
			break;
	}
	elog(ERROR, "idenfy: unknown plan %d", (int) id);
	return NULL;
}

static SPIPlanPtr
GetPlan(PlanId id)
{
	int			i;

	/* our types changed: every plan is prepared again, when needed */
	if (plans_generation != idenfy_catalog_generation)
	{
		for (i = 0; i < PLAN_COUNT; i++)
		{
			if (plans[i] != NULL)
				SPI_freeplan(plans[i]);
			plans[i] = NULL;
		}
		plans_generation = idenfy_catalog_generation;
	}
	if (plans[id] == NULL)
		plans[id] = PreparePlan(id);
	return plans[id];
}

/*
 * LegacyChildTables: before 1.2.0, file URLs and service results were
 * tables written at ingest (now views of the current callback).  A library
 * newer than the installed SQL objects, between a package upgrade and ALTER
 * EXTENSION idenfy UPDATE, keeps them current while they are tables.  The
 * answer is kept until a relcache invalidation of idenfy.file_url (dropped
 * by the update, or by DROP EXTENSION) or of everything.
 */
static bool legacy_known = false;
static bool legacy_tables;
static Oid	legacy_relid = InvalidOid;

static void
LegacyInvalidate(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == legacy_relid)
		legacy_known = false;
}

static bool
LegacyChildTables(void)
{
	static bool registered = false;

	if (!registered)
	{
		CacheRegisterRelcacheCallback(LegacyInvalidate, (Datum) 0);
		registered = true;
	}
	if (!legacy_known)
	{
		Oid			nsp = get_namespace_oid(IDENFY_SCHEMA, false);

		legacy_relid = get_relname_relid("file_url", nsp);
		legacy_tables = OidIsValid(legacy_relid) && get_rel_relkind(legacy_relid) == RELKIND_RELATION;
		legacy_known = true;
	}
	return legacy_tables;
}

/* Run a plan; returns the number of rows it processed. */
static uint64
Execute(PlanId id, Datum *values, const char *nulls, int expected)
{
	int			rc = SPI_execute_plan(GetPlan(id), values, nulls, false, 0);

	if (rc < 0)
		elog(ERROR, "idenfy: statement %d failed: %s", (int) id, SPI_result_code_string(rc));
	if (expected != rc)
		elog(ERROR, "idenfy: statement %d returned %s, expected %s", (int) id,
			 SPI_result_code_string(rc), SPI_result_code_string(expected));
	return SPI_processed;
}

/* ------------------------------------------------------------------------
 * Values.
 * ------------------------------------------------------------------------ */
/* IdenfyEpochToTimestamptz: Unix seconds (at most IDENFY_EPOCH_MAX) as a timestamptz. */
Datum
IdenfyEpochToTimestamptz(int64 secs)
{
	return TimestampTzGetDatum((secs - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)
							   * USECS_PER_SEC);
}

static bool
IsoDate(const char *s, Datum *out)
{
	int			y,
				m,
				d;

	if (!IdenfyParseIsoDate(s, &y, &m, &d))
		return false;
	*out = DateADTGetDatum(date2j(y, m, d) - POSTGRES_EPOCH_JDATE);
	return true;
}

static Datum
TextArray(List *strings)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(strings), 1));
	ListCell   *lc;
	int			n = 0;

	foreach(lc, strings)
		elems[n++] = CStringGetTextDatum(lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static Datum
EnumArray(Oid elemtype, const Oid *oids, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i,
				k = 0;

	for (i = 0; i < n; i++)
		if (OidIsValid(oids[i]))
			elems[k++] = ObjectIdGetDatum(oids[i]);
	return PointerGetDatum(construct_array(elems, k, elemtype, sizeof(Oid), true, TYPALIGN_INT));
}

static void
ColumnValue(const IdenfyCallback *cb, const Column *c, Datum *value, char *null)
{
	const IdenfyValue *v = &cb->v[c->slot];

	*null = 'n';
	if (!v->present)
	{
		/* empty lists, not nulls, for the tag arrays */
		if (c->kind == C_LABEL_ARRAY)
		{
			*value = EnumArray(IdenfyVocabType(c->vocab), NULL, 0);
			*null = ' ';
		}
		return;
	}
	*null = ' ';
	switch (c->kind)
	{
		case C_TEXT:
			*value = CStringGetTextDatum(v->str);
			break;
		case C_LABEL:
			if (OidIsValid(v->label.oid))
				*value = ObjectIdGetDatum(v->label.oid);
			else
				*null = 'n';
			break;
		case C_LABEL_ARRAY:
			*value = EnumArray(IdenfyVocabType(c->vocab), v->oids, list_length(v->list));
			break;
		case C_TEXT_ARRAY:
			*value = TextArray(v->list);
			break;
		case C_BOOL:
			*value = BoolGetDatum(v->boolean);
			break;
		case C_TIMESTAMPTZ:
			*value = TimestampTzGetDatum(DatumGetTimestampTz(IdenfyEpochToTimestamptz(v->epoch)) +
										 v->epoch_usec);
			break;
		case C_INET:
			*value = DirectFunctionCall1(inet_in, CStringGetDatum(v->str));
			break;
		case C_DATE:
			if (!IsoDate(v->str, value))
				*null = 'n';
			break;
		case C_JSONB:
			*value = JsonbPGetDatum(v->json);
			break;
		case C_NUMERIC:
			*value = v->numeric;
			break;
	}
}

static int
UnknownCompare(const void *a, const void *b)
{
	const IdenfyUnknown *ua = *(IdenfyUnknown *const *) a;
	const IdenfyUnknown *ub = *(IdenfyUnknown *const *) b;
	int			c = strcmp(ua->path, ub->path);

	return c != 0 ? c : strcmp(ua->value, ub->value);
}

/*
 * {"json.path": ["value", ...]} of the unknown vendor values, each value
 * once per path (sorted), or NULL when there is none.
 */
static Jsonb *
UnknownValuesJsonb(List *unknown)
{
	JsonbParseState *state = NULL;
	JsonbValue	jv;
	IdenfyUnknown **sorted;
	int			n = list_length(unknown);
	int			i;
	JsonbValue *res;

	if (unknown == NIL)
		return NULL;
	sorted = palloc(sizeof(IdenfyUnknown *) * n);
	for (i = 0; i < n; i++)
		sorted[i] = list_nth(unknown, i);
	qsort(sorted, n, sizeof(IdenfyUnknown *), UnknownCompare);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < n; i++)
	{
		IdenfyUnknown *u = sorted[i];

		if (i > 0 && UnknownCompare(&sorted[i - 1], &sorted[i]) == 0)
			continue;			/* the same value again */
		if (i == 0 || strcmp(sorted[i - 1]->path, u->path) != 0)
		{
			if (i > 0)
				pushJsonbValue(&state, WJB_END_ARRAY, NULL);
			jv.type = jbvString;
			jv.val.string.val = (char *) u->path;
			jv.val.string.len = strlen(u->path);
			pushJsonbValue(&state, WJB_KEY, &jv);
			pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		}
		jv.type = jbvString;
		jv.val.string.val = (char *) u->value;
		jv.val.string.len = strlen(u->value);
		pushJsonbValue(&state, WJB_ELEM, &jv);
	}
	pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* ------------------------------------------------------------------------
 * Steps.
 * ------------------------------------------------------------------------ */

/*
 * LockVerification: lock the verification row in slot FOR UPDATE, as the
 * executor's LockRows does; on success the slot holds the locked version.
 * In READ COMMITTED a row updated meanwhile is locked in its latest version
 * (the key, which no update changes, still matches); false when it was
 * deleted meanwhile (erased: the caller goes on as for no row).  Under a
 * transaction snapshot a concurrent change is a serialization failure.
 */
static bool
LockVerification(Relation rel, TupleTableSlot *slot, Snapshot snapshot)
{
	ItemPointerData tid = slot->tts_tid;
	TM_FailureData tmfd;
	TM_Result	result;

	result = table_tuple_lock(rel, &tid, snapshot, slot, GetCurrentCommandId(true),
							  LockTupleExclusive, LockWaitBlock,
							  IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
							  &tmfd);
	switch (result)
	{
		case TM_Ok:
			return true;
		case TM_SelfModified:
			/* changed by this very command: not possible after the CommandCounterIncrement */
			return false;
		case TM_Updated:
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			if (result == TM_Deleted)
				return false;
			break;
		default:
			break;
	}
	elog(ERROR, "idenfy: unexpected table_tuple_lock status %d", (int) result);
	return false;					/* keep the compiler quiet */
}

/* Is there a row with these leading index columns, under snapshot? Its column attno in *value. */
static bool
Probe(Oid relid, Oid indexid, Snapshot snapshot, int nkeys, const Datum *keys,
	  const RegProcedure *procs, AttrNumber attno, Datum *value)
{
	Relation	rel = IdenfyOpenTable(relid, ACL_SELECT, AccessShareLock);
	IdenfyKeyScan ks;
	bool		found;

	IdenfyKeyScanBegin(&ks, rel, indexid, snapshot, nkeys);
	IdenfyKeyScanFind(&ks, keys, procs);
	found = IdenfyKeyScanNext(&ks);
	if (found && attno != InvalidAttrNumber)
	{
		bool		isnull;

		*value = slot_getattr(ks.slot, attno, &isnull);
		Assert(!isnull);
	}
	IdenfyKeyScanEnd(&ks);
	table_close(rel, NoLock);
	return found;
}

/*
 * IdenfyLoadState: what the ordering rules need of the stored state; locks
 * the verification row when there is one, and reserves the id a new history
 * row would get.
 *
 * Index scans under one snapshot, taken as SPI takes one for each statement
 * of a read-write function (after a CommandCounterIncrement, so that the
 * callbacks this transaction already stored are seen; in READ COMMITTED a
 * new one each time, so that a retry sees what was committed meanwhile).
 * This was one SPI statement (a LEFT JOIN LATERAL ... FOR UPDATE with three
 * subqueries); its executor start and end cost more than the four probes.
 */
void
IdenfyLoadState(const IdenfyCallback *cb, IdenfyStoredState *state)
{
	const IdenfyTables *t = IdenfyGetTables();
	text	   *scan_ref = cstring_to_text(cb->v[SLOT_SCAN_REF].str);
	bytea	   *sha = palloc(VARHDRSZ + IDENFY_SHA256_LEN);
	Snapshot	snapshot;
	Relation	verification;
	IdenfyKeyScan ks;
	Datum		keys[2];
	RegProcedure procs[2];
	Datum		value;

	/* what SELECT ... FOR UPDATE checks before it locks */
	PreventCommandIfReadOnly("idenfy_ingest()");
	PreventCommandIfParallelMode("idenfy_ingest()");

	memset(state, 0, sizeof(*state));
	SET_VARSIZE(sha, VARHDRSZ + IDENFY_SHA256_LEN);
	memcpy(VARDATA(sha), cb->sha256, IDENFY_SHA256_LEN);

	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());

	/* the verification row, locked */
	verification = IdenfyOpenTable(t->verification, ACL_SELECT | ACL_UPDATE, RowShareLock);
	IdenfyKeyScanBegin(&ks, verification, t->verification_pkey, snapshot, 1);
	keys[0] = PointerGetDatum(scan_ref);
	procs[0] = F_TEXTEQ;
	IdenfyKeyScanFind(&ks, keys, procs);
	if (IdenfyKeyScanNext(&ks) && LockVerification(verification, ks.slot, snapshot))
	{
		bool		isnull;
		Datum		d;

		state->exists = true;
		d = slot_getattr(ks.slot, t->v_final, &isnull);
		state->final = !isnull && DatumGetBool(d);
		d = slot_getattr(ks.slot, t->v_has_manual, &isnull);
		state->has_manual = !isnull && DatumGetBool(d);
		d = slot_getattr(ks.slot, t->v_decision, &isnull);
		state->decision = isnull ? InvalidOid : DatumGetObjectId(d);
	}
	IdenfyKeyScanEnd(&ks);
	table_close(verification, NoLock);

	/* this exact payload in history */
	keys[1] = PointerGetDatum(sha);
	procs[1] = F_BYTEAEQ;
	if (Probe(t->callback, t->callback_pkey, snapshot, 2, keys, procs, t->c_id, &value))
	{
		state->seen_payload = true;
		state->seen_id = DatumGetInt64(value);
	}

	/* an expiration notice of the same threshold */
	if (cb->expiration_notice)
	{
		keys[1] = CStringGetTextDatum(cb->v[SLOT_EXPIRATION_THRESHOLD].str);
		procs[1] = F_TEXTEQ;
		state->notice_exists = Probe(t->document_expiration, t->document_expiration_pkey,
									 snapshot, 2, keys, procs, InvalidAttrNumber, NULL);
	}

	/* erased */
	state->erased = Probe(t->erasure, t->erasure_pkey, snapshot, 1, keys, procs,
						  InvalidAttrNumber, NULL);

	state->next_id = nextval_internal(t->callback_id_seq, true);
	UnregisterSnapshot(snapshot);
}

/* jsonb key order: shorter first, then bytewise */
static int
PathCompare(const void *a, const void *b)
{
	const char *pa = *(const char *const *) a;
	const char *pb = *(const char *const *) b;
	size_t		la = strlen(pa);
	size_t		lb = strlen(pb);

	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(pa, pb);
}

/*
 * IdenfyDecideCallback: the decision rules applied to a callback about to
 * become the current state, with the tag policies looked up (only when the
 * callback has tags).
 */
IdenfyDecision
IdenfyDecideCallback(const IdenfyCallback *cb, List **reasons)
{
	IdenfyDecisionInput in;
	const IdenfyValue *mf = &cb->v[SLOT_MANUAL_FACE];
	const IdenfyValue *md = &cb->v[SLOT_MANUAL_DOCUMENT];
	const IdenfyValue *tagslots[2] = {&cb->v[SLOT_FRAUD_TAGS], &cb->v[SLOT_MISMATCH_TAGS]};
	int			ntags = list_length(tagslots[0]->list) + list_length(tagslots[1]->list);
	int			i,
				k;
	ListCell   *lc;

	memset(&in, 0, sizeof(in));
	in.final = cb->final;
	in.cancelled = cb->cancelled;
	/* an unknown overall status is left to rule 5; unknown face and document
	 * statuses are simply "not FACE_MATCH" / "not DOC_VALIDATED" (rule 3) */
	in.overall = OidIsValid(cb->v[SLOT_OVERALL].label.oid) ? cb->v[SLOT_OVERALL].label.raw : NULL;
	in.face = mf->present ? mf->label.raw : cb->v[SLOT_AUTO_FACE].label.raw;
	in.document = md->present ? md->label.raw : cb->v[SLOT_AUTO_DOCUMENT].label.raw;
	/* every unknown path once, in jsonb key order, as decision.c reads them back */
	in.unknown_paths = palloc(sizeof(char *) * Max(list_length(cb->unknown), 1));
	foreach(lc, cb->unknown)
	{
		const char *path = ((IdenfyUnknown *) lfirst(lc))->path;

		for (i = 0; i < in.nunknown; i++)
			if (strcmp(in.unknown_paths[i], path) == 0)
				break;
		if (i == in.nunknown)
			in.unknown_paths[in.nunknown++] = path;
	}
	qsort(in.unknown_paths, in.nunknown, sizeof(char *), PathCompare);

	in.ntags = 0;
	in.tags = palloc(sizeof(char *) * Max(ntags, 1));
	for (k = 0; k < 2; k++)
	{
		foreach(lc, tagslots[k]->list)
			in.tags[in.ntags++] = lfirst(lc);
	}

	/* policies only matter past rule 5, and only when there are tags */
	if (in.ntags > 0 && in.final && in.nunknown == 0)
	{
		int		   *policies = palloc(sizeof(int) * in.ntags);
		Datum		arg;
		uint64		r;

		for (i = 0; i < in.ntags; i++)
			policies[i] = -1;
		{
			List	   *l = NIL;

			for (i = 0; i < in.ntags; i++)
				l = lappend(l, (char *) in.tags[i]);
			arg = TextArray(l);
		}
		Execute(PLAN_POLICIES, &arg, NULL, SPI_OK_SELECT);
		for (r = 0; r < SPI_processed; r++)
		{
			char	   *tag = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
			char	   *policy = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
			int			p = strcmp(policy, "APPROVED") == 0 ? DECISION_APPROVED :
			strcmp(policy, "DENIED") == 0 ? DECISION_DENIED : DECISION_REVIEW;

			for (i = 0; i < in.ntags; i++)
				if (strcmp(in.tags[i], tag) == 0)
					policies[i] = p;
		}
		in.tag_policies = policies;
	}
	return IdenfyDecide(&in, reasons);
}

static void
StoreFileUrls(const char *scan_ref, List *file_urls)
{
	int			n = list_length(file_urls);
	Datum	   *sources = palloc(sizeof(Datum) * n);
	Datum	   *names = palloc(sizeof(Datum) * n);
	Datum	   *urls = palloc(sizeof(Datum) * n);
	Datum	   *expires = palloc(sizeof(Datum) * n);
	bool	   *expires_null = palloc(sizeof(bool) * n);
	Datum		values[5];
	int			dims[1] = {n};
	int			lbs[1] = {1};
	ListCell   *lc;
	int			i = 0;
	Oid			source_oids[2];

	source_oids[0] = IdenfyVocabLookup(VOCAB_FILE_SOURCE, "fileUrls");
	source_oids[1] = IdenfyVocabLookup(VOCAB_FILE_SOURCE, "additionalStepPdfUrls");
	foreach(lc, file_urls)
	{
		IdenfyFileUrl *f = lfirst(lc);

		sources[i] = ObjectIdGetDatum(source_oids[f->source]);
		names[i] = CStringGetTextDatum(f->name);
		urls[i] = CStringGetTextDatum(f->url);
		expires_null[i] = !f->has_expiry;
		expires[i] = f->has_expiry ? IdenfyEpochToTimestamptz(f->expires) : (Datum) 0;
		i++;
	}
	values[0] = CStringGetTextDatum(scan_ref);
	values[1] = PointerGetDatum(construct_array(sources, n, IdenfyVocabType(VOCAB_FILE_SOURCE),
												sizeof(Oid), true, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(urls, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[4] = PointerGetDatum(construct_md_array(expires, expires_null, 1, dims, lbs,
												   TIMESTAMPTZOID, sizeof(TimestampTz),
												   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	Execute(PLAN_FILE_URLS, values, NULL, SPI_OK_INSERT);
}

static void
StoreServices(const char *scan_ref, List *services)
{
	enum
	{
		A_LIST, A_ORD, A_NAME, A_GROUP, A_UID, A_OVERALL, A_SUSPECTED, A_USED,
		A_FOUND, A_SUCCESSFUL, A_ERROR, A_DATA, A_COUNT
	};
	static const Oid elemtypes[A_COUNT] = {TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, BOOLOID, BOOLOID, BOOLOID, BOOLOID, TEXTOID, JSONBOID};
	int			n = list_length(services);
	Datum	   *elems[A_COUNT];
	bool	   *isnull[A_COUNT];
	Datum		values[1 + A_COUNT];
	int			dims[1] = {n};
	int			lbs[1] = {1};
	ListCell   *lc;
	int			a,
				i = 0;

	for (a = 0; a < A_COUNT; a++)
	{
		elems[a] = palloc0(sizeof(Datum) * n);
		isnull[a] = palloc0(sizeof(bool) * n);
	}
#define SET_TEXT(a, s) ((s) ? (elems[a][i] = CStringGetTextDatum(s)) : (isnull[a][i] = true, (Datum) 0))
#define SET_BOOL(a, t) ((t) >= 0 ? (elems[a][i] = BoolGetDatum((t) == 1)) : (isnull[a][i] = true, (Datum) 0))
	foreach(lc, services)
	{
		IdenfyService *s = lfirst(lc);

		SET_TEXT(A_LIST, s->list);
		elems[A_ORD][i] = Int32GetDatum(s->ord);
		SET_TEXT(A_NAME, s->service_name);
		SET_TEXT(A_GROUP, s->service_group_type);
		SET_TEXT(A_UID, s->uid);
		SET_TEXT(A_OVERALL, s->overall_status);
		SET_BOOL(A_SUSPECTED, s->suspected);
		SET_BOOL(A_USED, s->used);
		SET_BOOL(A_FOUND, s->found);
		SET_BOOL(A_SUCCESSFUL, s->check_successful);
		SET_TEXT(A_ERROR, s->error_message);
		if (s->data)
			elems[A_DATA][i] = JsonbPGetDatum(s->data);
		else
			isnull[A_DATA][i] = true;
		i++;
	}
#undef SET_TEXT
#undef SET_BOOL
	values[0] = CStringGetTextDatum(scan_ref);
	for (a = 0; a < A_COUNT; a++)
	{
		/* the element types are built in: their storage is known */
		int16		typlen = elemtypes[a] == INT4OID ? 4 : elemtypes[a] == BOOLOID ? 1 : -1;
		bool		typbyval = typlen > 0;
		char		typalign = elemtypes[a] == BOOLOID ? TYPALIGN_CHAR : TYPALIGN_INT;

		values[1 + a] = PointerGetDatum(construct_md_array(elems[a], isnull[a], 1, dims, lbs,
														   elemtypes[a], typlen, typbyval, typalign));
	}
	Execute(PLAN_SERVICES, values, NULL, SPI_OK_INSERT);
}

static void
StoreFaceLinks(const IdenfyCallback *cb)
{
	List	   *selfie = cb->v[SLOT_DUPLICATE_FACES].list;
	List	   *document = cb->v[SLOT_DUPLICATE_DOC_FACES].list;
	int			n = list_length(selfie) + list_length(document);
	Datum	   *kinds = palloc(sizeof(Datum) * n);
	List	   *others = list_concat_copy(selfie, document);
	Datum		values[3];
	Oid			kind_selfie = IdenfyVocabLookup(VOCAB_FACE_MATCH_KIND, "selfie");
	Oid			kind_document = IdenfyVocabLookup(VOCAB_FACE_MATCH_KIND, "document");
	int			i;

	for (i = 0; i < n; i++)
		kinds[i] = ObjectIdGetDatum(i < list_length(selfie) ? kind_selfie : kind_document);
	values[0] = CStringGetTextDatum(cb->v[SLOT_SCAN_REF].str);
	values[1] = PointerGetDatum(construct_array(kinds, n, IdenfyVocabType(VOCAB_FACE_MATCH_KIND),
												sizeof(Oid), true, TYPALIGN_INT));
	values[2] = TextArray(others);
	Execute(PLAN_FACE_LINKS, values, NULL, SPI_OK_INSERT);
}

/* the history row's columns, for a direct insert: PLAN_HISTORY's, and received_at */
static const char *const history_names[] = {"scan_ref", "payload_sha256", "event_type",
	"event_type_raw", "final", "has_manual", "outcome", "payload", "id", "received_at"};
static IdenfyRowTarget history_target = {"callback", lengthof(history_names), history_names};

/*
 * A history row; false when the same payload was stored meanwhile (a
 * duplicate).  first: the first callback of a verification this transaction
 * has just inserted.  Every other callback of its scanRef waits for that
 * insert, so no other history row of this payload can come meanwhile: the
 * row goes in by a direct insert (tables.c), with no ON CONFLICT to check.
 */
static bool
StoreHistory(const IdenfyCallback *cb, IdenfyOutcome outcome, int64 id, bool first)
{
	Datum		values[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bytea	   *sha = palloc(VARHDRSZ + IDENFY_SHA256_LEN);

	SET_VARSIZE(sha, VARHDRSZ + IDENFY_SHA256_LEN);
	memcpy(VARDATA(sha), cb->sha256, IDENFY_SHA256_LEN);
	values[0] = CStringGetTextDatum(cb->v[SLOT_SCAN_REF].str);
	values[1] = PointerGetDatum(sha);
	if (OidIsValid(cb->event_type.oid))
		values[2] = ObjectIdGetDatum(cb->event_type.oid);
	else
		nulls[2] = 'n';
	if (cb->event_type_raw)
		values[3] = CStringGetTextDatum(cb->event_type_raw);
	else
		nulls[3] = 'n';
	if (cb->expiration_notice)
		nulls[4] = nulls[5] = 'n';
	else
	{
		values[4] = BoolGetDatum(cb->final);
		values[5] = BoolGetDatum(cb->has_manual);
	}
	values[6] = ObjectIdGetDatum(IdenfyVocabLookup(VOCAB_OUTCOME, IdenfyOutcomeName(outcome)));
	/* an erased scanRef keeps the fingerprint of the callback, not its content */
	if (outcome == OUTCOME_ERASED)
		nulls[7] = 'n';
	else
		values[7] = JsonbPGetDatum(cb->payload);

	values[8] = Int64GetDatum(id);
	if (first)
	{
		Oid			types[10] = {TEXTOID, BYTEAOID, IdenfyVocabType(VOCAB_EVENT_TYPE), TEXTOID,
			BOOLOID, BOOLOID, IdenfyVocabType(VOCAB_OUTCOME), JSONBOID, INT8OID, TIMESTAMPTZOID};

		values[9] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());		/* now() */
		if (IdenfyInsertRow(&history_target, types, values, nulls))
			return true;
	}
	return Execute(PLAN_HISTORY, values, nulls, SPI_OK_INSERT) == 1;
}

static void
StoreNotice(const IdenfyCallback *cb, int64 callback_id)
{
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	const IdenfyValue *threshold = &cb->v[SLOT_EXPIRATION_THRESHOLD];
	const IdenfyValue *expiry = &cb->v[SLOT_DOCUMENT_EXPIRATION];

	values[0] = CStringGetTextDatum(cb->v[SLOT_SCAN_REF].str);
	values[1] = CStringGetTextDatum(threshold->str);
	if (OidIsValid(threshold->label.oid))
		values[2] = ObjectIdGetDatum(threshold->label.oid);
	else
		nulls[2] = 'n';
	if (cb->v[SLOT_CLIENT_ID].present)
		values[3] = CStringGetTextDatum(cb->v[SLOT_CLIENT_ID].str);
	else
		nulls[3] = 'n';
	if (expiry->present)
	{
		values[4] = CStringGetTextDatum(expiry->str);
		if (!IsoDate(expiry->str, &values[5]))
			nulls[5] = 'n';
	}
	else
		nulls[4] = nulls[5] = 'n';
	values[6] = Int64GetDatum(callback_id);
	Execute(PLAN_NOTICE, values, nulls, SPI_OK_INSERT);
}

/*
 * The verification row: an upsert of the locked row, or (new_only) the
 * insert of a new one; false when a new one lost a race (see the header).
 */
static bool
StoreVerification(const IdenfyCallback *cb, IdenfyDecision decision, List *reasons,
				  int64 callback_id, bool new_only)
{
	Datum		values[VERIFICATION_NPARAMS];
	char		nulls[VERIFICATION_NPARAMS];
	Jsonb	   *unknown = UnknownValuesJsonb(cb->unknown);
	int			i;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(cb->v[SLOT_SCAN_REF].str);
	values[1] = BoolGetDatum(cb->final);
	values[2] = BoolGetDatum(cb->has_manual);
	values[3] = BoolGetDatum(cb->cancelled);
	if (OidIsValid(cb->event_type.oid))
		values[4] = ObjectIdGetDatum(cb->event_type.oid);
	else
		nulls[4] = 'n';
	if (unknown)
		values[5] = JsonbPGetDatum(unknown);
	else
		nulls[5] = 'n';
	values[6] = ObjectIdGetDatum(IdenfyVocabLookup(VOCAB_DECISION, IdenfyDecisionName(decision)));
	values[7] = TextArray(reasons);
	values[8] = Int64GetDatum(callback_id);
	for (i = 0; i < (int) lengthof(verification_columns); i++)
		ColumnValue(cb, &verification_columns[i], &values[VERIFICATION_HEAD + i],
					&nulls[VERIFICATION_HEAD + i]);
	return Execute(new_only ? PLAN_VERIFICATION_NEW : PLAN_VERIFICATION,
				   values, nulls, SPI_OK_INSERT) == 1;
}

/*
 * A new verification's document by a direct insert (tables.c); false when
 * the table is not as the extension made it (PLAN_DOCUMENT_NEW then).
 */
static bool
InsertDocument(const Datum *values, const char *nulls)
{
	static const char *names[DOCUMENT_NPARAMS];
	static IdenfyRowTarget target = {"document", DOCUMENT_NPARAMS, names};
	Oid			types[DOCUMENT_NPARAMS];
	int			i;

	/* the columns and their types: needed only to (re)prepare the target */
	if (!target.valid)
	{
		names[0] = "scan_ref";
		types[0] = TEXTOID;
		for (i = 0; i < (int) lengthof(document_columns); i++)
		{
			names[1 + i] = document_columns[i].name;
			types[1 + i] = ColumnType(&document_columns[i]);
		}
	}
	return IdenfyInsertRow(&target, types, values, nulls);
}

/* The child rows of the current callback; replace: drop those of the previous one first. */
static void
StoreChildren(const IdenfyCallback *cb, bool replace)
{
	const char *scan_ref = cb->v[SLOT_SCAN_REF].str;
	bool		legacy = LegacyChildTables();
	int			i;

	if (replace)
	{
		Datum		args[2];

		args[0] = CStringGetTextDatum(scan_ref);
		args[1] = BoolGetDatum(!cb->has_data);
		Execute(PLAN_DELETE_CHILDREN, args, NULL, SPI_OK_DELETE);
		if (legacy)
			Execute(PLAN_DELETE_LEGACY, args, NULL, SPI_OK_DELETE);
	}
	if (cb->has_data)
	{
		Datum		dvalues[DOCUMENT_NPARAMS];
		char		dnulls[DOCUMENT_NPARAMS];

		dvalues[0] = CStringGetTextDatum(scan_ref);
		dnulls[0] = ' ';
		for (i = 0; i < (int) lengthof(document_columns); i++)
			ColumnValue(cb, &document_columns[i], &dvalues[1 + i], &dnulls[1 + i]);
		if (replace || !InsertDocument(dvalues, dnulls))
			Execute(replace ? PLAN_DOCUMENT : PLAN_DOCUMENT_NEW, dvalues, dnulls, SPI_OK_INSERT);
	}
	if (legacy && cb->file_urls != NIL)
		StoreFileUrls(scan_ref, cb->file_urls);
	if (legacy && cb->services != NIL)
		StoreServices(scan_ref, cb->services);
	if (cb->v[SLOT_DUPLICATE_FACES].list != NIL || cb->v[SLOT_DUPLICATE_DOC_FACES].list != NIL)
		StoreFaceLinks(cb);
}

/*
 * IdenfyStoreReapply: rewrite the current state from its own stored callback
 * (idenfy_reprocess); no history row.
 */
void
IdenfyStoreReapply(const IdenfyCallback *cb, IdenfyDecision decision, List *reasons,
				   int64 callback_id)
{
	StoreVerification(cb, decision, reasons, callback_id, false);
	StoreChildren(cb, true);
}

/*
 * IdenfyStoreCallback: write what the ordering rules decided, as history
 * row callback_id (reserved by IdenfyLoadState).  A new verification is
 * written first (it may lose a race: IDENFY_STORE_RETRY), every other
 * outcome writes history first (the same payload stored meanwhile:
 * IDENFY_STORE_DUPLICATE).  Not called for duplicates.
 */
IdenfyStoreResult
IdenfyStoreCallback(const IdenfyCallback *cb, IdenfyOutcome outcome,
					IdenfyDecision decision, List *reasons, int64 callback_id)
{
	Assert(outcome != OUTCOME_DUPLICATE && outcome != OUTCOME_QUARANTINED);

	if (outcome == OUTCOME_CREATED && !cb->expiration_notice)
	{
		if (!StoreVerification(cb, decision, reasons, callback_id, true))
			return IDENFY_STORE_RETRY;
		if (!StoreHistory(cb, outcome, callback_id, true))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize the callbacks of one verification"),
					 errdetail("The same callback was stored concurrently."),
					 errhint("Retry the call.")));
		StoreChildren(cb, false);
		return IDENFY_STORE_STORED;
	}

	if (!StoreHistory(cb, outcome, callback_id, false))
		return IDENFY_STORE_DUPLICATE;
	if (outcome == OUTCOME_ERASED)
		return IDENFY_STORE_STORED;
	if (cb->expiration_notice)
		StoreNotice(cb, callback_id);
	else if (outcome == OUTCOME_UPDATED)
	{
		StoreVerification(cb, decision, reasons, callback_id, false);
		StoreChildren(cb, true);
	}
	return IDENFY_STORE_STORED;
}

/* IdenfyStoreQuarantine: keep an invalid callback with its error. */
void
IdenfyStoreQuarantine(Jsonb *payload, const char *body, int bodylen,
					  const char *event_type, const char *reason,
					  const IdenfyReadError *err)
{
	Datum		values[9];
	char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	char	   *scan_ref;

	/* part of the primary key (the distribution column): '' when there is none */
	scan_ref = IdenfyPayloadScanRef(payload);
	values[0] = CStringGetTextDatum(scan_ref ? scan_ref : "");
	if (event_type)
		values[1] = CStringGetTextDatum(event_type);
	else
		nulls[1] = 'n';
	values[2] = CStringGetTextDatum(reason);
	values[3] = CStringGetTextDatum(unpack_sql_state(err->sqlstate));
	values[4] = CStringGetTextDatum(err->message);
	if (err->detail)
		values[5] = CStringGetTextDatum(err->detail);
	else
		nulls[5] = 'n';
	if (payload)
		values[6] = JsonbPGetDatum(payload);
	else
		nulls[6] = 'n';
	if (body)
	{
		bytea	   *b = palloc(VARHDRSZ + bodylen);

		SET_VARSIZE(b, VARHDRSZ + bodylen);
		memcpy(VARDATA(b), body, bodylen);
		values[7] = PointerGetDatum(b);
	}
	else
		nulls[7] = 'n';
	if (err->path)
		values[8] = CStringGetTextDatum(err->path);
	else
		nulls[8] = 'n';
	Execute(PLAN_QUARANTINE, values, nulls, SPI_OK_INSERT);
}
