/* sql/idenfy--1.5.0--1.6.0.sql: upgrade of the idenfy extension from 1.5.0 to 1.6.0 */

\echo Use "ALTER EXTENSION idenfy UPDATE TO '1.6.0'" to load this file. \quit

/*
 * The door: the raw request body in, every real vendor shape accepted, an
 * answer the web app can act on.
 */

/*
 * Vendor values seen in the vendor's documents that 1.5.0 kept verbatim as
 * unknown (decision REVIEW): document types of its current OpenAPI
 * description, and the overall status of its 2018 documentation.  Stored
 * verifications holding them keep REVIEW until idenfy_reprocess() reads
 * their callbacks again (README: Upgrading).
 */
ALTER TYPE idenfy.document_type ADD VALUE IF NOT EXISTS 'LA_WALLET';
ALTER TYPE idenfy.document_type ADD VALUE IF NOT EXISTS 'SAMSUNG_WALLET';
ALTER TYPE idenfy.document_type ADD VALUE IF NOT EXISTS 'MOJE_ID_CZ';
ALTER TYPE idenfy.document_type ADD VALUE IF NOT EXISTS 'SOCIAL_SECURITY_CARD';
ALTER TYPE idenfy.overall_status ADD VALUE IF NOT EXISTS 'NOT_REVIEWED';

/* A signature failure kept in quarantine is told apart from an invalid callback. */
ALTER TYPE idenfy.ingest_outcome ADD VALUE IF NOT EXISTS 'rejected';
COMMENT ON TYPE idenfy.ingest_outcome IS
'what an entry point did with a callback (README: ordering rules, answering the webhook): created, updated, stale, duplicate, erased; quarantined (invalid, kept in idenfy.quarantine); rejected (signature failure, kept in idenfy.quarantine)';

/*
 * The raw body entry point: the body as the web framework received it,
 * read by the extension itself (body.c), so that a body that is not JSON,
 * not valid text or too large is an invalid callback like any other (a
 * clear error with its position, or quarantined byte for byte) and no
 * part of it is ever quoted in a message.  bytea is the exact bytes; the
 * text overload is for drivers that cannot send bytes.
 */
CREATE FUNCTION @extschema@.idenfy_ingest_body(
	body bytea,
	event_type text DEFAULT NULL,
	OUT scan_ref text,
	OUT outcome idenfy.ingest_outcome,
	OUT decision idenfy.decision,
	OUT callback_id bigint)
RETURNS record
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'idenfy_ingest_body';
COMMENT ON FUNCTION @extschema@.idenfy_ingest_body(bytea, text) IS
'validate one iDenfy callback from its raw request body (the exact bytes) and store it, like idenfy_ingest; a body that is not JSON is an invalid callback, quarantined byte for byte with idenfy.on_invalid = ''quarantine''';

CREATE FUNCTION @extschema@.idenfy_ingest_body(
	body text,
	event_type text DEFAULT NULL,
	OUT scan_ref text,
	OUT outcome idenfy.ingest_outcome,
	OUT decision idenfy.decision,
	OUT callback_id bigint)
RETURNS record
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'idenfy_ingest_body_text';
COMMENT ON FUNCTION @extschema@.idenfy_ingest_body(text, text) IS
'idenfy_ingest_body for a body passed as text (a driver that cannot send bytes; text cannot carry invalid UTF-8, bytea can)';

REVOKE EXECUTE ON FUNCTION
	@extschema@.idenfy_ingest_body(bytea, text),
	@extschema@.idenfy_ingest_body(text, text)
FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.idenfy_ingest(jsonb, text) IS
'validate one iDenfy callback and store it: returns its scanRef, the outcome (created, updated, stale, duplicate, erased, quarantined), the effective decision (NULL for a caller that may not execute idenfy_decision) and the history row id';

/*
 * Nothing is executable by PUBLIC: the masked view's helpers are granted
 * with the view (README: Privileges), the trigger functions need no grant
 * to fire.
 */
REVOKE EXECUTE ON FUNCTION
	idenfy.mask(text, boolean),
	idenfy.reader_sees_personal_data(),
	idenfy.notify_decision(),
	idenfy.tag_policy_changed()
FROM PUBLIC;

/*
 * Quarantine: scan_ref is part of the primary key (the distribution
 * column on Citus), so a callback without a usable scanRef keeps '' in
 * the table; the view and the entry points' answers say NULL.
 */
COMMENT ON COLUMN idenfy.quarantine.scan_ref IS
'the payload''s scanRef when it is a usable string, else the empty string (a key column; idenfy.quarantined shows NULL)';
CREATE OR REPLACE VIEW idenfy.quarantined AS
	SELECT q.id, NULLIF(q.scan_ref, '') AS scan_ref, q.received_at, q.event_type_raw, q.reason,
		   q.sqlstate, q.json_path, q.message, q.detail
	  FROM idenfy.quarantine q;

/* Invalid callbacks and signature failures counted apart, for analysts and alerts. */
CREATE VIEW idenfy.quarantine_counts AS
	SELECT q.reason, q.sqlstate, pg_catalog.count(*) AS callbacks,
		   pg_catalog.min(q.received_at) AS first_received_at,
		   pg_catalog.max(q.received_at) AS last_received_at
	  FROM idenfy.quarantine q
	 GROUP BY q.reason, q.sqlstate;
COMMENT ON VIEW idenfy.quarantine_counts IS
'quarantined callbacks per reason (invalid: broke the contract; signature: failed the signature check) and SQLSTATE, without payloads';
REVOKE ALL ON idenfy.quarantine_counts FROM PUBLIC;
