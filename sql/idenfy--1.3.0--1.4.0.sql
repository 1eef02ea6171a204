/* sql/idenfy--1.3.0--1.4.0.sql: upgrade of the idenfy extension from 1.3.0 to 1.4.0 */

\echo Use "ALTER EXTENSION idenfy UPDATE TO '1.4.0'" to load this file. \quit

/*
 * Query speed (README, Performance), three changes; no answer changes.
 *
 * 1. idenfy_face_groups in C (src/faces.c): the same rows in the same order,
 * signature, grants (CREATE OR REPLACE keeps them) and rights (SECURITY
 * DEFINER, as 1.0.0 set it).  As SQL, its two ordered aggregates and its
 * DISTINCT aggregate sorted every group on its own, tens of thousands of
 * small sorts, two thirds of its time; in C the groups come out of one sort
 * of the linked scanRefs, and their decisions and clientIds out of one
 * statement of primary-key probes.  On 224,000 verifications with 53,000
 * linked scanRefs in 18,000 groups: 285-310 ms -> 195-205 ms.  No sort is
 * left to spill, so the work_mem and jit settings of 1.3.0 go (CREATE OR
 * REPLACE sets only the SET clauses it names).
 */
CREATE OR REPLACE FUNCTION @extschema@.idenfy_face_groups()
RETURNS TABLE (group_id text, size integer, scan_refs text[], client_ids text[], decisions idenfy.decision[])
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'idenfy_face_groups';

/*
 * 2. Expired and expiring documents: each person's current verification is
 * read in the order of verification_client_recent_idx instead of sorting
 * every verification.  The index had that order but not the columns the
 * ordering is computed from, so no index-only scan could use it: now it
 * includes them (rebuilt here: a few seconds per million verifications,
 * during which ingest waits).  On 224,000 verifications the current
 * verifications took 354 ms (a sort of all of them), now 29 ms.  And the
 * report keeps a fact of a person's current verification by a hashed
 * lookup in that list rather than a merge join, which sorted both sides by
 * scanRef.  idenfy_expired_documents on 224,000 verifications: 827 ->
 * 280 ms.  The same rows (sql/11_upgrade.sql compares them).
 */
DROP INDEX idenfy.verification_client_recent_idx;
CREATE INDEX verification_client_recent_idx ON idenfy.verification
	(client_id, (decision = 'APPROVED') DESC, (COALESCE(finish_time, first_received_at)) DESC, scan_ref)
	INCLUDE (decision, finish_time, first_received_at);
COMMENT ON INDEX idenfy.verification_client_recent_idx IS 'a person''s verifications, most recent approved first, with the columns of that order (index-only): serves idenfy.client_current_verification and lookups by client_id';

CREATE OR REPLACE FUNCTION idenfy.document_expiry_report(after date, until date, with_results boolean,
	per_person boolean)
RETURNS TABLE (client_id text, scan_ref text, doc_type idenfy.document_type, expiry date, source text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET work_mem = '256MB'
SET jit = off
AS $$
	WITH current_verification AS MATERIALIZED (
		SELECT c.scan_ref FROM idenfy.client_current_verification c WHERE per_person),
	facts AS (
		SELECT d.scan_ref, d.doc_expiry AS expiry, 'docExpiry' AS source
		  FROM idenfy.document d
		 WHERE d.doc_expiry OPERATOR(pg_catalog.<=) until
		   AND (after IS NULL OR d.doc_expiry OPERATOR(pg_catalog.>) after)
		UNION ALL
		SELECT v.scan_ref, NULL::date, 'DOC_EXPIRED'
		  FROM idenfy.verification v
		 WHERE with_results
		   AND (v.manual_document OPERATOR(pg_catalog.=) 'DOC_EXPIRED'
				OR (v.manual_document IS NULL AND v.auto_document OPERATOR(pg_catalog.=) 'DOC_EXPIRED'))
		UNION ALL
		SELECT e.scan_ref, e.document_expiration, 'DOCUMENT_EXPIRATION'
		  FROM idenfy.document_expiration e
		 WHERE CASE WHEN e.document_expiration IS NOT NULL
					THEN e.document_expiration OPERATOR(pg_catalog.<=) until
						 AND (after IS NULL OR e.document_expiration OPERATOR(pg_catalog.>) after)
					ELSE with_results AND e.threshold OPERATOR(pg_catalog.=) 'DOCUMENT_EXPIRED' END)
	SELECT v.client_id, f.scan_ref, d.doc_type, f.expiry, f.source
	  FROM facts f
	  LEFT JOIN idenfy.verification v ON v.scan_ref OPERATOR(pg_catalog.=) f.scan_ref
	  LEFT JOIN idenfy.document d ON d.scan_ref OPERATOR(pg_catalog.=) f.scan_ref
	 WHERE NOT per_person OR v.client_id IS NULL
		OR f.scan_ref OPERATOR(pg_catalog.=) ANY (SELECT c.scan_ref FROM current_verification c)
$$;

/*
 * 3. The lookups of one scanRef in C (src/lookup.c): one index scan per
 * lookup under the caller's snapshot, where PL/pgSQL started and ended the
 * executor for its kept plan on every call.  Still SECURITY DEFINER,
 * STABLE, STRICT, PARALLEL SAFE, with the pinned search_path of every
 * SECURITY DEFINER function here (the C code resolves no name through it;
 * the pin costs about 1 us a call and keeps the rule without exceptions);
 * they check that the owner may read the tables.  On 224,000 verifications
 * (planning + execution, median of 51): decision of one scanRef 0.008 ->
 * 0.005 ms, duplicate faces 0.035 -> 0.016 ms.
 */
CREATE OR REPLACE FUNCTION @extschema@.idenfy_effective_decision(scan_ref text)
RETURNS idenfy.decision
LANGUAGE C STABLE STRICT PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'idenfy_effective_decision';

CREATE OR REPLACE FUNCTION @extschema@.idenfy_duplicate_faces(scan_ref text)
RETURNS TABLE (other_scan_ref text, kind idenfy.face_match_kind, direction text,
			   other_client_id text, other_decision idenfy.decision, other_known boolean)
LANGUAGE C STABLE STRICT PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'idenfy_duplicate_faces';
