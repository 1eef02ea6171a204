/* sql/idenfy--1.3.0--1.4.0.sql: upgrade of the idenfy extension from 1.3.0 to 1.4.0 */

\echo Use "ALTER EXTENSION idenfy UPDATE TO '1.4.0'" to load this file. \quit

/*
 * idenfy_face_groups in C (src/faces.c): the same rows in the same order,
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
