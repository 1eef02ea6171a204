/* sql/idenfy--1.2.0--1.3.0.sql: upgrade of the idenfy extension from 1.2.0 to 1.3.0 */

\echo Use "ALTER EXTENSION idenfy UPDATE TO '1.3.0'" to load this file. \quit

/*
 * Query speed (README, Performance).  Same results, signatures, privileges
 * (CREATE OR REPLACE keeps the grants) and rights (SECURITY DEFINER, as
 * 1.0.0 set them: CREATE OR REPLACE would make them SECURITY INVOKER).
 *
 * The lookups of one scanRef are PL/pgSQL: a SQL function that cannot be
 * inlined (these have SET search_path, and duplicate faces is STRICT) plans
 * its statement again in every query that calls it; PL/pgSQL plans it once
 * per session.  On 224,000 verifications (planning + execution, median of
 * 25): decision of one scanRef 0.025 -> 0.008 ms, duplicate faces 0.18-0.26
 * -> 0.034 ms.  (idenfy_decision stays SQL: for a scanRef never seen it
 * returns NULL, where PL/pgSQL with OUT parameters would return a row of
 * NULLs.)
 */
CREATE OR REPLACE FUNCTION @extschema@.idenfy_effective_decision(scan_ref text)
RETURNS idenfy.decision
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT v.decision FROM idenfy.verification v
			 WHERE v.scan_ref OPERATOR(pg_catalog.=) idenfy_effective_decision.scan_ref);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.idenfy_duplicate_faces(scan_ref text)
RETURNS TABLE (other_scan_ref text, kind idenfy.face_match_kind, direction text,
			   other_client_id text, other_decision idenfy.decision, other_known boolean)
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY
	SELECT l.other, l.kind,
		   CASE WHEN pg_catalog.bool_or(l.listed) AND pg_catalog.bool_or(NOT l.listed) THEN 'both'
				WHEN pg_catalog.bool_or(l.listed) THEN 'listed'
				ELSE 'listed_by' END,
		   v.client_id, v.decision, v.scan_ref IS NOT NULL
	  FROM (SELECT f.other_scan_ref AS other, f.kind, true AS listed
			  FROM idenfy.face_link f
			 WHERE f.scan_ref OPERATOR(pg_catalog.=) idenfy_duplicate_faces.scan_ref
			UNION ALL
			SELECT f.scan_ref, f.kind, false
			  FROM idenfy.face_link f
			 WHERE f.other_scan_ref OPERATOR(pg_catalog.=) idenfy_duplicate_faces.scan_ref) l
	  LEFT JOIN idenfy.verification v ON v.scan_ref OPERATOR(pg_catalog.=) l.other
	 WHERE l.other OPERATOR(pg_catalog.<>) idenfy_duplicate_faces.scan_ref
	 GROUP BY l.other, l.kind, v.scan_ref, v.client_id, v.decision
	 ORDER BY l.other, l.kind;
END
$$;

/*
 * The reports over all verifications: no JIT (compiling their ~100
 * expressions took longer than it saved: +350 ms on 224,000 verifications
 * when forced, and at 1,000,000 the planner's costs turn it on with inlining
 * and optimization, in each parallel worker too), and enough work_mem for
 * their sorts and hashes to stay in memory at a million verifications (each
 * person's current verification sorts every verification: 72 MB spilled to
 * disk at the default 4 MB).  work_mem is a limit, not an allocation: a
 * smaller database uses what it needs.
 */
ALTER FUNCTION idenfy.document_expiry_report(date, date, boolean, boolean)
	SET work_mem = '256MB';
ALTER FUNCTION idenfy.document_expiry_report(date, date, boolean, boolean)
	SET jit = off;
ALTER FUNCTION @extschema@.idenfy_expired_documents(date, boolean) SET work_mem = '64MB';
ALTER FUNCTION @extschema@.idenfy_expired_documents(date, boolean) SET jit = off;
ALTER FUNCTION @extschema@.idenfy_expiring_documents(interval, date, boolean) SET work_mem = '64MB';
ALTER FUNCTION @extschema@.idenfy_expiring_documents(interval, date, boolean) SET jit = off;
ALTER FUNCTION @extschema@.idenfy_face_groups() SET work_mem = '64MB';
ALTER FUNCTION @extschema@.idenfy_face_groups() SET jit = off;
