/* sql/idenfy--1.4.0--1.5.0.sql: upgrade of the idenfy extension from 1.4.0 to 1.5.0 */

\echo Use "ALTER EXTENSION idenfy UPDATE TO '1.5.0'" to load this file. \quit

/*
 * Personal data out of the planner's statistics.
 *
 * ANALYZE (autovacuum's too) copies samples of every column into
 * pg_statistic: most common values and histogram bounds, that is names,
 * document numbers, dates of birth, addresses, IP addresses and whole
 * callbacks.  Those copies are out of reach of idenfy_forget_client,
 * idenfy_forget_scan and idenfy_purge, and a person's values stay there
 * until the next ANALYZE of the table, which on a large table comes after
 * a tenth of its rows have changed: weeks after an erasure, and in every
 * base backup taken meanwhile.  A statistics target of 0 makes ANALYZE
 * skip a column.  The personal columns are the ones the masked view
 * idenfy.verifications masks, the rest of the document's person (names at
 * birth, patronymic, mother's maiden name, the original-script fields,
 * additionalData) and the verification's answers and address and registry
 * checks, plus the raw payloads of history and quarantine.  The planner
 * uses its default estimates for conditions on these columns; no index and
 * no query of the extension filters on them.  (A side effect: ANALYZE of
 * idenfy.document works on 17 of its 40 columns instead of all.)
 */
ALTER TABLE idenfy.document
	ALTER COLUMN doc_first_name SET STATISTICS 0,
	ALTER COLUMN doc_last_name SET STATISTICS 0,
	ALTER COLUMN full_name SET STATISTICS 0,
	ALTER COLUMN doc_number SET STATISTICS 0,
	ALTER COLUMN doc_personal_code SET STATISTICS 0,
	ALTER COLUMN doc_dob_raw SET STATISTICS 0,
	ALTER COLUMN doc_dob SET STATISTICS 0,
	ALTER COLUMN doc_temporary_address SET STATISTICS 0,
	ALTER COLUMN doc_birth_name SET STATISTICS 0,
	ALTER COLUMN doc_patronymic SET STATISTICS 0,
	ALTER COLUMN birth_place SET STATISTICS 0,
	ALTER COLUMN address SET STATISTICS 0,
	ALTER COLUMN mothers_maiden_name SET STATISTICS 0,
	ALTER COLUMN org_first_name SET STATISTICS 0,
	ALTER COLUMN org_last_name SET STATISTICS 0,
	ALTER COLUMN org_birth_place SET STATISTICS 0,
	ALTER COLUMN org_address SET STATISTICS 0,
	ALTER COLUMN org_temporary_address SET STATISTICS 0,
	ALTER COLUMN org_mothers_maiden_name SET STATISTICS 0,
	ALTER COLUMN org_patronymic SET STATISTICS 0,
	ALTER COLUMN org_birth_name SET STATISTICS 0,
	ALTER COLUMN manual_address SET STATISTICS 0,
	ALTER COLUMN additional_data SET STATISTICS 0;

ALTER TABLE idenfy.verification
	ALTER COLUMN client_ip SET STATISTICS 0,
	ALTER COLUMN client_location SET STATISTICS 0,
	ALTER COLUMN questionnaire_answers SET STATISTICS 0,
	ALTER COLUMN address_verification SET STATISTICS 0,
	ALTER COLUMN registry_center_check SET STATISTICS 0;

ALTER TABLE idenfy.callback ALTER COLUMN payload SET STATISTICS 0;

ALTER TABLE idenfy.quarantine
	ALTER COLUMN payload SET STATISTICS 0,
	ALTER COLUMN body SET STATISTICS 0;

/*
 * ANALYZE leaves the old row of a column it skips, so what it gathered on
 * these columns before this update goes now (the extension is not trusted:
 * its scripts run as a superuser, who may delete from pg_statistic).
 */
DELETE FROM pg_catalog.pg_statistic s
 USING pg_catalog.pg_attribute a
 WHERE a.attrelid = s.starelid
   AND a.attnum = s.staattnum
   AND a.attnum > 0
   AND a.attstattarget = 0
   AND a.attrelid OPERATOR(pg_catalog.=) ANY (ARRAY['idenfy.document'::pg_catalog.regclass,
		'idenfy.verification'::pg_catalog.regclass, 'idenfy.callback'::pg_catalog.regclass,
		'idenfy.quarantine'::pg_catalog.regclass]::pg_catalog.oid[]);

/*
 * idenfy_ingest_many: idenfy_ingest of each element of an array, in order,
 * in one call.  A caller with many callbacks at hand (idenfy-load sends its
 * groups of up to 32 this way) pays the SECURITY DEFINER frame, with its
 * pinned search_path, and the function call once per array instead of once
 * per callback.  The same rights as idenfy_ingest: nobody's by default,
 * a DBA grants EXECUTE to the role that ingests (README: Privileges).
 */
CREATE FUNCTION @extschema@.idenfy_ingest_many(
	payloads jsonb[],
	event_types text[] DEFAULT NULL,
	OUT ord integer,
	OUT scan_ref text,
	OUT outcome idenfy.ingest_outcome,
	OUT decision idenfy.decision,
	OUT callback_id bigint)
RETURNS SETOF record
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
ROWS 32
AS 'MODULE_PATHNAME', 'idenfy_ingest_many';
COMMENT ON FUNCTION @extschema@.idenfy_ingest_many(jsonb[], text[]) IS
'idenfy_ingest of each callback of an array, in array order (event_types: NULL, or one per callback): one row per callback, ord its position';
REVOKE EXECUTE ON FUNCTION @extschema@.idenfy_ingest_many(jsonb[], text[]) FROM PUBLIC;
