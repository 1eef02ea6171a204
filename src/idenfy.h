/*-------------------------------------------------------------------------
 *
 * idenfy.h
 *		Shared declarations of the idenfy extension.
 *
 * Data flows one way through the files declared here:
 *
 *	 read.c    jsonb -> IdenfyCallback, checked against the vendor contract
 *	 vocab.c   vendor strings -> our enum values (unknown ones kept verbatim)
 *	 rules.c   ordering rules (created/updated/stale/duplicate) and
 *			   decision rules (PENDING/APPROVED/DENIED/REVIEW/EXPIRED)
 *	 store.c   lock the verification and read its state (index scans), then
 *			   SPI writes: history, current state, children
 *	 tables.c  our tables and indexes by OID, equality scans of an index
 *	 body.c    raw request bodies -> jsonb, by our own checks (never quoted)
 *	 signed.c  signed bodies: HMAC check, then body.c, then ingest
 *	 decision.c stored decisions recomputed (tag policy changes)
 *	 reprocess.c stored callbacks re-applied (after an upgrade adds values)
 *	 faces.c   connected groups of duplicate-face links (union-find)
 *	 lookup.c  decision and duplicate faces of one scanRef (index scans)
 *	 notify.c  trigger on idenfy.verification: NOTIFY on decision changes
 *	 idenfy.c  module entry, settings and the SQL-callable ingest function
 *
 *-------------------------------------------------------------------------
 */
#ifndef IDENFY_H
#define IDENFY_H

#include "postgres.h"

#include "common/sha2.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "nodes/pg_list.h"
#include "storage/lockdefs.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

#define IDENFY_SCHEMA "idenfy"
#define IDENFY_SCAN_REF_MAX 40	/* 36 on the reference page, 40 in older text */
#define IDENFY_TAG_MAX 100		/* our own cap on an (open-ended) tag */
#define IDENFY_SHA256_LEN PG_SHA256_DIGEST_LENGTH

/* ------------------------------------------------------------------------
 * Vocabularies: one per enum type of the install script.
 * ------------------------------------------------------------------------ */
typedef enum IdenfyVocab
{
	VOCAB_NONE,
	VOCAB_OVERALL,
	VOCAB_FACE,
	VOCAB_DOCUMENT,
	VOCAB_FRAUD_TAG,
	VOCAB_MISMATCH_TAG,
	VOCAB_DOC_TYPE,
	VOCAB_SEX,
	VOCAB_PLATFORM,
	VOCAB_ADDITIONAL_STEP,
	VOCAB_AGE_ESTIMATE,
	VOCAB_IP_PROXY_RISK,
	VOCAB_AML_STATUS,
	VOCAB_EVENT_TYPE,
	VOCAB_EXPIRATION_THRESHOLD,
	VOCAB_OUTCOME,
	VOCAB_DECISION,
	VOCAB_FACE_MATCH_KIND,
	VOCAB_FILE_SOURCE,
	VOCAB_COUNT
} IdenfyVocab;

/* ------------------------------------------------------------------------
 * The callback as read.  Every scalar field of the contract has a slot; the
 * field tables of read.c say which JSON key fills which slot, the column
 * tables of store.c which column a slot goes to.
 * ------------------------------------------------------------------------ */
typedef enum IdenfySlot
{
	/* top level */
	SLOT_SCAN_REF,
	SLOT_FINAL,
	SLOT_PLATFORM,
	SLOT_CLIENT_ID,
	SLOT_EXTERNAL_REF,
	SLOT_START_TIME,
	SLOT_FINISH_TIME,
	SLOT_CLIENT_IP,
	SLOT_CLIENT_IP_COUNTRY,
	SLOT_CLIENT_LOCATION,
	SLOT_COMPANY_ID,
	SLOT_BENEFICIARY_ID,
	SLOT_MANUAL_ADDRESS,
	SLOT_MANUAL_ADDRESS_MATCH,
	SLOT_ADDITIONAL_STEPS,
	SLOT_ADDRESS_VERIFICATION,
	SLOT_REGISTRY_CENTER_CHECK,
	SLOT_QUESTIONNAIRE_ANSWERS,
	SLOT_RISK_ASSESSMENT,
	SLOT_RISK_SCORE,
	SLOT_RISK_LEVEL,
	/* status */
	SLOT_OVERALL,
	SLOT_AUTO_FACE,
	SLOT_MANUAL_FACE,
	SLOT_AUTO_DOCUMENT,
	SLOT_MANUAL_DOCUMENT,
	SLOT_ADDITIONAL_STEP_STATUS,
	SLOT_FRAUD_TAGS,
	SLOT_MISMATCH_TAGS,
	SLOT_SUSPICION_REASONS,
	SLOT_DENY_REASONS,
	SLOT_AML_RESULT_CLASS,
	SLOT_PEPS_STATUS,
	SLOT_SANCTIONS_STATUS,
	SLOT_ADVERSE_MEDIA_STATUS,
	/* data */
	SLOT_DOC_FIRST_NAME,
	SLOT_DOC_LAST_NAME,
	SLOT_DOC_NUMBER,
	SLOT_DOC_PERSONAL_CODE,
	SLOT_DOC_EXPIRY,
	SLOT_DOC_DOB,
	SLOT_DOC_DATE_OF_ISSUE,
	SLOT_DOC_TYPE,
	SLOT_DOC_SEX,
	SLOT_DOC_NATIONALITY,
	SLOT_DOC_ISSUING_COUNTRY,
	SLOT_DOC_TEMPORARY_ADDRESS,
	SLOT_DOC_BIRTH_NAME,
	SLOT_DOC_PATRONYMIC,
	SLOT_BIRTH_PLACE,
	SLOT_AUTHORITY,
	SLOT_ADDRESS,
	SLOT_MOTHERS_MAIDEN_NAME,
	SLOT_DRIVER_LICENSE_CATEGORY,
	SLOT_MANUALLY_DATA_CHANGED,
	SLOT_FULL_NAME,
	SLOT_SELECTED_COUNTRY,
	SLOT_ORG_FIRST_NAME,
	SLOT_ORG_LAST_NAME,
	SLOT_ORG_NATIONALITY,
	SLOT_ORG_BIRTH_PLACE,
	SLOT_ORG_AUTHORITY,
	SLOT_ORG_ADDRESS,
	SLOT_ORG_TEMPORARY_ADDRESS,
	SLOT_ORG_MOTHERS_MAIDEN_NAME,
	SLOT_ORG_PATRONYMIC,
	SLOT_ORG_BIRTH_NAME,
	SLOT_AGE_ESTIMATE,
	SLOT_IP_PROXY_RISK,
	SLOT_DUPLICATE_FACES,
	SLOT_DUPLICATE_DOC_FACES,
	SLOT_ADDITIONAL_DATA,
	/* DOCUMENT_EXPIRATION body */
	SLOT_EXPIRATION_THRESHOLD,
	SLOT_DOCUMENT_EXPIRATION,
	SLOT_COUNT
} IdenfySlot;

/* One vendor string resolved against one of our enum types. */
typedef struct IdenfyLabel
{
	char	   *raw;			/* as received, NUL-terminated */
	Oid			oid;			/* enum value, InvalidOid when unknown */
} IdenfyLabel;

/* The value of one slot; which member is set depends on the field's kind. */
typedef struct IdenfyValue
{
	bool		present;		/* key present with a non-null value */
	char	   *str;			/* strings, labels, IPs, countries, dates */
	IdenfyLabel label;			/* labels */
	bool		boolean;
	int64		epoch;			/* Unix seconds */
	int32		epoch_usec;		/* ... and microseconds (a fractional epoch) */
	Datum		numeric;		/* risk score */
	Jsonb	   *json;			/* objects kept whole */
	List	   *list;			/* string lists, label lists (char *) */
	IdenfyVocab vocab;			/* labels and label lists: their vocabulary */
	const char *parent;			/* labels: JSON path of the enclosing object */
	const char *key;			/* labels: JSON key */
	Oid		   *oids;			/* label lists: enum value per element, InvalidOid if unknown */
} IdenfyValue;

typedef struct IdenfyFileUrl
{
	int			source;			/* 0 fileUrls, 1 additionalStepPdfUrls */
	char	   *name;
	char	   *url;
	bool		has_expiry;
	int64		expires;		/* Unix seconds */
} IdenfyFileUrl;

typedef struct IdenfyService
{
	const char *list;			/* "AML" or "LID" */
	int			ord;
	char	   *service_name;
	char	   *service_group_type;
	char	   *uid;
	char	   *overall_status;
	int			suspected;		/* -1 null, 0 false, 1 true */
	int			used;
	int			found;
	int			check_successful;
	char	   *error_message;
	Jsonb	   *data;
} IdenfyService;

/* An unknown vendor value: kept verbatim. */
typedef struct IdenfyUnknown
{
	const char *path;			/* e.g. "status.fraudTags" */
	const char *value;
} IdenfyUnknown;

typedef struct IdenfyCallback
{
	Jsonb	   *payload;
	uint8		sha256[IDENFY_SHA256_LEN];
	bool		expiration_notice;	/* a DOCUMENT_EXPIRATION body */
	bool		has_data;		/* "data" is an object */
	IdenfyValue v[SLOT_COUNT];
	List	   *file_urls;		/* IdenfyFileUrl * */
	List	   *services;		/* IdenfyService * */

	/* the event type header */
	char	   *event_type_raw;	/* as given, NULL when not given */
	IdenfyLabel event_type;		/* raw: canonical spelling */

	/* filled by IdenfyResolveVocab */
	List	   *unknown;		/* IdenfyUnknown * */
	bool		final;			/* effective finality (README) */
	bool		has_manual;
	bool		cancelled;
	bool		resubmitted;
} IdenfyCallback;

/* A validation failure: what ereport() will say, or quarantine will keep. */
typedef struct IdenfyReadError
{
	int			sqlstate;
	char	   *path;
	char	   *message;
	char	   *detail;
	char	   *hint;
} IdenfyReadError;

/* ------------------------------------------------------------------------
 * Ordering and decision rules (rules.c).
 * ------------------------------------------------------------------------ */
typedef enum IdenfyOutcome
{
	OUTCOME_CREATED,
	OUTCOME_UPDATED,
	OUTCOME_STALE,
	OUTCOME_DUPLICATE,
	OUTCOME_QUARANTINED,
	OUTCOME_ERASED,
	OUTCOME_REJECTED			/* signature failure, kept in quarantine (1.6.0) */
} IdenfyOutcome;

typedef enum IdenfyDecision
{
	DECISION_PENDING,
	DECISION_APPROVED,
	DECISION_DENIED,
	DECISION_REVIEW,
	DECISION_EXPIRED
} IdenfyDecision;

/* What the ordering rules need to know of the stored current state. */
typedef struct IdenfyStoredState
{
	bool		exists;			/* a verification row exists */
	bool		erased;			/* the scanRef was erased (idenfy.erasure) */
	bool		seen_payload;	/* this exact payload is in history */
	int64		seen_id;		/* ... as this history row */
	bool		final;
	bool		has_manual;
	bool		notice_exists;	/* expiration notices: same threshold stored */
	Oid			decision;		/* stored decision, InvalidOid when none */
	int64		next_id;		/* the id a new history row gets */
} IdenfyStoredState;

typedef enum IdenfyStoreResult
{
	IDENFY_STORE_STORED,
	IDENFY_STORE_RETRY,			/* a new scanRef was created meanwhile: start over */
	IDENFY_STORE_DUPLICATE		/* the same payload was stored meanwhile */
} IdenfyStoreResult;

/* The inputs of the decision rules: a verification's current state. */
typedef struct IdenfyDecisionInput
{
	bool		final;
	bool		cancelled;
	const char *overall;		/* NULL when null or unknown to our enum type */
	const char *face;			/* manual when present, else auto; NULL when null */
	const char *document;
	int			nunknown;
	const char **unknown_paths;	/* paths of unknown values, in jsonb key order */
	int			ntags;
	const char **tags;			/* fraud then mismatch tags (known ones) */
	const int  *tag_policies;	/* per tag: an IdenfyDecision, -1 when no policy row */
} IdenfyDecisionInput;

extern IdenfyOutcome IdenfyOrderCallback(const IdenfyStoredState *stored,
										 const IdenfyCallback *cb);
extern IdenfyDecision IdenfyDecide(const IdenfyDecisionInput *in,
								   List **reasons);
extern const char *IdenfyOutcomeName(IdenfyOutcome outcome);
extern const char *IdenfyDecisionName(IdenfyDecision decision);

/* body.c: the raw request body */
extern Jsonb *IdenfyBodyToJsonb(const char *body, int len, IdenfyReadError *err);
extern int	idenfy_max_body_size;

#define IDENFY_BODY_DEFAULT_SIZE (1024 * 1024)
#define IDENFY_BODY_MAX_SIZE (16 * 1024 * 1024)

/* read.c */
extern bool IdenfyReadCallback(Jsonb *payload, const char *event_type,
							   IdenfyCallback *cb, IdenfyReadError *err);
#if PG_VERSION_NUM >= 180000
/* PostgreSQL 18: pg_attribute_noreturn() is gone; pg_noreturn comes first */
pg_noreturn extern void IdenfyRaiseReadError(const IdenfyReadError *err);
#else
extern void IdenfyRaiseReadError(const IdenfyReadError *err) pg_attribute_noreturn();
#endif
extern char *IdenfyPayloadScanRef(Jsonb *payload);
extern bool IdenfyParseIsoDate(const char *s, int *year, int *month, int *day);
extern bool IdenfyUrlExpiry(const char *url, int64 *expires);

/* the last second a timestamptz of ours may hold: 9999-12-31 23:59:59 UTC */
#define IDENFY_EPOCH_MAX INT64CONST(253402300799)

/* vocab.c */
extern void IdenfyResolveVocab(IdenfyCallback *cb);
extern uint64 idenfy_catalog_generation;
extern Oid	IdenfyVocabType(IdenfyVocab vocab);
extern Oid	IdenfyVocabArrayType(IdenfyVocab vocab);
extern Oid	IdenfyVocabLookup(IdenfyVocab vocab, const char *label);
extern bool IdenfyIsCountryCode(const char *s, int len);

/* tables.c */
typedef struct IdenfyTables
{
	bool		valid;
	Oid			verification;
	Oid			verification_pkey;
	Oid			face_link;
	Oid			face_link_pkey;		/* (scan_ref, kind, other_scan_ref) */
	Oid			face_link_other;	/* (other_scan_ref) */
	Oid			callback;
	Oid			callback_pkey;		/* (scan_ref, payload_sha256) */
	Oid			erasure;
	Oid			erasure_pkey;
	Oid			document_expiration;
	Oid			document_expiration_pkey;	/* (scan_ref, threshold_raw) */
	Oid			callback_id_seq;
	AttrNumber	v_client_id;
	AttrNumber	v_decision;
	AttrNumber	v_final;
	AttrNumber	v_has_manual;
	AttrNumber	f_scan_ref;
	AttrNumber	f_kind;
	AttrNumber	f_other;
	AttrNumber	c_id;
} IdenfyTables;

#define IDENFY_MAX_SCAN_KEYS 2

typedef struct IdenfyKeyScan
{
	Relation	index;
	struct IndexScanDescData *scan;
	struct TupleTableSlot *slot;
	int			nkeys;
} IdenfyKeyScan;

#define IDENFY_MAX_ROW_COLUMNS 64

/* a table the caller inserts rows into directly (see IdenfyInsertRow) */
typedef struct IdenfyRowTarget
{
	const char *table;			/* in schema idenfy */
	int			ncols;
	const char *const *names;	/* the caller's columns, in its order */
	/* found on first use, again after a relcache invalidation */
	bool		valid;
	bool		usable;			/* false: the caller runs its statement */
	Oid			relid;
	AttrNumber	attnums[IDENFY_MAX_ROW_COLUMNS];
} IdenfyRowTarget;

extern const IdenfyTables *IdenfyGetTables(void);
extern Relation IdenfyOpenTable(Oid relid, AclMode rights, LOCKMODE lock);
extern void IdenfyKeyScanBegin(IdenfyKeyScan *ks, Relation heap, Oid indexid,
							   Snapshot snapshot, int nkeys);
extern void IdenfyKeyScanFind(IdenfyKeyScan *ks, const Datum *keys, const RegProcedure *procs);
extern bool IdenfyKeyScanNext(IdenfyKeyScan *ks);
extern void IdenfyKeyScanEnd(IdenfyKeyScan *ks);
extern bool IdenfyInsertRow(IdenfyRowTarget *target, const Oid *types,
							const Datum *values, const char *nulls);

/* store.c */
extern Datum IdenfyEpochToTimestamptz(int64 secs);
extern void IdenfyLoadState(const IdenfyCallback *cb, IdenfyStoredState *state);
extern IdenfyDecision IdenfyDecideCallback(const IdenfyCallback *cb, List **reasons);
extern IdenfyStoreResult IdenfyStoreCallback(const IdenfyCallback *cb, IdenfyOutcome outcome,
											 IdenfyDecision decision, List *reasons,
											 int64 callback_id);
extern void IdenfyStoreReapply(const IdenfyCallback *cb, IdenfyDecision decision,
							   List *reasons, int64 callback_id);
extern void IdenfyStoreQuarantine(Jsonb *payload, const char *body, int bodylen,
								  const char *event_type, const char *reason,
								  const IdenfyReadError *err);

/* idenfy.c: the ingest steps, shared by every entry point */
/* what one callback's ingest returns */
typedef struct IdenfyIngestResult
{
	const char *scan_ref;
	IdenfyOutcome outcome;
	Oid			decision;		/* InvalidOid: NULL */
	int64		callback_id;	/* 0: NULL */
} IdenfyIngestResult;

extern Datum IdenfyIngest(FunctionCallInfo fcinfo, Jsonb *payload, char *event_type,
						  const char *routed_scan_ref);
extern Datum IdenfyReject(FunctionCallInfo fcinfo, Jsonb *payload, const char *body,
						  int bodylen, const char *event_type, const char *reason,
						  const IdenfyReadError *err);

/* idenfy.c: settings */
extern int	idenfy_on_invalid;
extern char *idenfy_notify_channel;

#define IDENFY_ON_INVALID_ERROR 0
#define IDENFY_ON_INVALID_QUARANTINE 1

#endif							/* IDENFY_H */
