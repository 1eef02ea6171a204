-- 11_upgrade: 1.0.0 -> 1.1.0 adds a vendor value; idenfy_reprocess re-applies the stored callbacks that carried it.
DROP EXTENSION idenfy;
CREATE EXTENSION idenfy VERSION '1.0.0';
\i test/helpers.sql

-- 1.0.0 does not know the overall status EXPIRED-DELETED
SELECT count(*) AS known FROM pg_enum WHERE enumtypid = 'idenfy.overall_status'::regtype AND enumlabel = 'EXPIRED-DELETED';
SELECT scan_ref, outcome, decision FROM idenfy_ingest(jsonb_build_object('scanRef', 'u-1', 'final', true,
  'status', jsonb_build_object('overall', 'EXPIRED-DELETED', 'autoFace', 'FACE_MATCH', 'autoDocument', 'DOC_VALIDATED')));
SELECT scan_ref, outcome, decision FROM idenfy_ingest(jsonb_build_object('scanRef', 'u-2', 'final', true,
  'status', jsonb_build_object('overall', 'EXPIRED-DELETED'), 'data', jsonb_build_object('docType', 'PASSPORT')));
SELECT scan_ref, outcome, decision FROM idenfy_ingest(jsonb_build_object('scanRef', 'u-3', 'final', true,
  'status', jsonb_build_object('overall', 'APPROVED', 'autoFace', 'FACE_MATCH', 'autoDocument', 'DOC_VALIDATED',
                               'fraudTags', jsonb_build_array('STILL_UNKNOWN_TAG'))));
SELECT scan_ref, outcome, decision FROM idenfy_ingest(t.fx('approved'));
SELECT scan_ref, overall, unknown_values, decision, decision_reasons FROM idenfy.verification ORDER BY scan_ref;

-- the upgrade
ALTER EXTENSION idenfy UPDATE TO '1.1.0';
SELECT extversion FROM pg_extension WHERE extname = 'idenfy';

-- re-apply the stored callbacks (a new transaction: psql autocommit)
SELECT * FROM idenfy_reprocess();
SELECT scan_ref, overall, unknown_values, decision, decision_reasons FROM idenfy.verification ORDER BY scan_ref;
-- history is untouched; the children are rewritten from the same callback
SELECT scan_ref, outcome FROM idenfy.callback ORDER BY id;
SELECT doc_type FROM idenfy.document WHERE scan_ref = 'u-2';
-- nothing left to do, but the one value still unknown
SELECT * FROM idenfy_reprocess();
-- everything, on request
SELECT * FROM idenfy_reprocess(true);
-- new callbacks with the value are known at once
SELECT scan_ref, outcome, decision FROM idenfy_ingest(jsonb_build_object('scanRef', 'u-4', 'final', true,
  'status', jsonb_build_object('overall', 'EXPIRED-DELETED')));

-- 1.1.0 -> 1.2.0: file URLs and service results become views of the current callback.
-- Until the update, the library keeps writing the 1.1.0 tables; after it, the views
-- must show exactly the rows the tables had, including edge cases of links and results.
SELECT count(*) AS ingested FROM t.fixture f, LATERAL idenfy_ingest(f.body) r WHERE f.name <> 'approved';
SELECT count(*) AS ingested FROM (VALUES
  ('x-1', jsonb_build_object('fileUrls', jsonb_build_object(
     'A', 'https://h/a?X-Amz-Date=1&Expires=1700000000&Signature=s',
     'B', 'https://h/b?Expires=1700000001#frag',
     'C', 'https://h/c?a=1&Expires=17000000000000',
     'D', 'https://h/d?a=1&Expires=abc&Expires=5',
     'E', 'https://h/e?Expires=999999999999',
     'F', 'https://h/f/Expires=5',
     'G', 'https://h/g?notExpires=5&Expires=7&Expires=9',
     'H', NULL),
   'additionalStepPdfUrls', jsonb_build_object('UTILITY_BILL', 'https://h/u?Expires=1'))),
  ('x-2', jsonb_build_object('fileUrls', NULL, 'additionalStepPdfUrls', NULL, 'AML', NULL, 'LID', jsonb_build_array())),
  ('x-3', jsonb_build_object('AML', jsonb_build_array(
     jsonb_build_object('status', NULL, 'data', NULL, 'serviceName', NULL),
     jsonb_build_object('status', jsonb_build_object('serviceSuspected', false, 'serviceUsed', true,
        'serviceFound', NULL, 'checkSuccessful', true, 'overallStatus', 'NOT_SUSPECTED'),
        'data', jsonb_build_array(), 'serviceName', 'PilotApiAmlV2', 'serviceGroupType', 'AML',
        'uid', 'u"1\', 'errorMessage', 'e\u00e9')),
   'LID', jsonb_build_array(jsonb_build_object('data', jsonb_build_object('k', 1)))))
) AS x(scan_ref, body), LATERAL idenfy_ingest(x.body || jsonb_build_object('scanRef', x.scan_ref, 'final', true)) r;
CREATE TABLE t.urls_1_1 AS SELECT * FROM idenfy.file_url;
CREATE TABLE t.services_1_1 AS SELECT * FROM idenfy.service_result;
SELECT (SELECT count(*) FROM t.urls_1_1) AS file_urls, (SELECT count(*) FROM t.services_1_1) AS service_results;
SELECT name, expires_at FROM t.urls_1_1 WHERE scan_ref = 'x-1' ORDER BY source, name;
ALTER EXTENSION idenfy UPDATE TO '1.2.0';
SELECT c.relname, c.relkind FROM pg_class c
 WHERE c.oid IN ('idenfy.file_url'::regclass, 'idenfy.service_result'::regclass) ORDER BY 1;
-- the same rows, now read from history (0 and 0)
SELECT count(*) AS file_urls_differ FROM (
  (SELECT * FROM t.urls_1_1 EXCEPT ALL SELECT * FROM idenfy.file_url)
  UNION ALL (SELECT * FROM idenfy.file_url EXCEPT ALL SELECT * FROM t.urls_1_1)) d;
SELECT count(*) AS service_results_differ FROM (
  (SELECT * FROM t.services_1_1 EXCEPT ALL SELECT * FROM idenfy.service_result)
  UNION ALL (SELECT * FROM idenfy.service_result EXCEPT ALL SELECT * FROM t.services_1_1)) d;
-- and the check can fail: one edited history payload shows at once
BEGIN;
UPDATE idenfy.callback SET payload = jsonb_set(payload, '{fileUrls,A}', '"https://h/a?Expires=2"')
 WHERE scan_ref = 'x-1';
SELECT count(*) AS file_urls_differ FROM (
  (SELECT * FROM t.urls_1_1 EXCEPT ALL SELECT * FROM idenfy.file_url)
  UNION ALL (SELECT * FROM idenfy.file_url EXCEPT ALL SELECT * FROM t.urls_1_1)) d;
ROLLBACK;
-- a new callback is written without the tables and read through the views
SELECT outcome FROM idenfy_ingest(jsonb_build_object('scanRef', 'x-1', 'final', true, 'fileUrls',
  jsonb_build_object('FACE', 'https://h/face?Expires=1800000000')));
SELECT source, name, expires_at FROM idenfy.file_url WHERE scan_ref = 'x-1';
SELECT * FROM idenfy_forget_scan('x-3');
SELECT count(*) AS left_after_forget FROM idenfy.service_result WHERE scan_ref = 'x-3';
-- 1.2.0 -> 1.3.0: the lookups of one scanRef become PL/pgSQL, the reports run without JIT and
-- with more work_mem.  The same answers before and after, for every stored scanRef (0 differences).
CREATE VIEW t.answers AS
  SELECT 'effective_decision' AS q, v.scan_ref AS k, idenfy_effective_decision(v.scan_ref)::text AS a
    FROM idenfy.verification v
  UNION ALL SELECT 'effective_decision', 'never-seen', idenfy_effective_decision('never-seen')::text
  UNION ALL SELECT 'effective_decision', 'null', idenfy_effective_decision(NULL)::text
  UNION ALL SELECT 'duplicate_faces', v.scan_ref, d::text
    FROM idenfy.verification v, idenfy_duplicate_faces(v.scan_ref) d
  UNION ALL SELECT 'duplicate_faces', 'null', d::text FROM idenfy_duplicate_faces(NULL) d
  UNION ALL SELECT 'face_groups', g.group_id, g::text FROM idenfy_face_groups() g
  UNION ALL SELECT 'expired_documents', e.scan_ref, e::text FROM idenfy_expired_documents('2100-01-01') e
  UNION ALL SELECT 'expired_documents', e.scan_ref, e::text FROM idenfy_expired_documents('2100-01-01', false) e
  UNION ALL SELECT 'expiring_documents', e.scan_ref, e::text
    FROM idenfy_expiring_documents('100 years', '2000-01-01') e;
CREATE TABLE t.answers_1_2 AS SELECT * FROM t.answers;
CREATE VIEW t.rights AS
  SELECT p.oid::regprocedure::text AS function, p.prosecdef, p.provolatile, p.proisstrict, p.proparallel,
         p.proacl::text AS acl, pg_get_function_result(p.oid) AS result
    FROM pg_proc p
   WHERE p.proname IN ('idenfy_effective_decision', 'idenfy_duplicate_faces', 'idenfy_face_groups',
                       'idenfy_expired_documents', 'idenfy_expiring_documents', 'document_expiry_report');
GRANT EXECUTE ON FUNCTION idenfy_duplicate_faces(text) TO PUBLIC;
CREATE TABLE t.rights_1_2 AS SELECT * FROM t.rights;
SELECT q, count(*) AS answers FROM t.answers_1_2 GROUP BY q ORDER BY q;
ALTER EXTENSION idenfy UPDATE TO '1.3.0';
SELECT extversion FROM pg_extension WHERE extname = 'idenfy';
SELECT p.oid::regprocedure AS function, l.lanname, p.proconfig
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.proname IN ('idenfy_effective_decision', 'idenfy_duplicate_faces', 'idenfy_face_groups',
                     'idenfy_expired_documents', 'idenfy_expiring_documents', 'document_expiry_report')
 ORDER BY p.oid::regprocedure::text;
SELECT count(*) AS answers_differ FROM (
  (SELECT * FROM t.answers_1_2 EXCEPT ALL SELECT * FROM t.answers)
  UNION ALL (SELECT * FROM t.answers EXCEPT ALL SELECT * FROM t.answers_1_2)) d;
-- rights, grants, volatility, strictness and result types unchanged (0); the entry points SECURITY DEFINER
SELECT count(*) AS rights_differ FROM (
  (SELECT * FROM t.rights_1_2 EXCEPT ALL SELECT * FROM t.rights)
  UNION ALL (SELECT * FROM t.rights EXCEPT ALL SELECT * FROM t.rights_1_2)) d;
SELECT function, prosecdef FROM t.rights ORDER BY function;
REVOKE EXECUTE ON FUNCTION idenfy_duplicate_faces(text) FROM PUBLIC;
-- 1.3.0 -> 1.4.0: face groups and the lookups of one scanRef in C, the expiry report by an index-only
-- scan.  The same answers, rights and grants (0 differences).
CREATE TABLE t.answers_1_3 AS SELECT * FROM t.answers;
GRANT EXECUTE ON FUNCTION idenfy_face_groups(), idenfy_effective_decision(text) TO PUBLIC;
CREATE TABLE t.rights_1_3 AS SELECT * FROM t.rights;
SELECT count(*) AS face_groups FROM t.answers_1_3 WHERE q = 'face_groups';
ALTER EXTENSION idenfy UPDATE TO '1.4.0';
SELECT extversion FROM pg_extension WHERE extname = 'idenfy';
SELECT p.oid::regprocedure AS function, l.lanname, p.prosecdef, p.proconfig
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.proname IN ('idenfy_face_groups', 'idenfy_effective_decision', 'idenfy_duplicate_faces',
                     'document_expiry_report')
 ORDER BY p.oid::regprocedure::text;
SELECT count(*) AS answers_differ FROM (
  (SELECT * FROM t.answers_1_3 EXCEPT ALL SELECT * FROM t.answers)
  UNION ALL (SELECT * FROM t.answers EXCEPT ALL SELECT * FROM t.answers_1_3)) d;
SELECT count(*) AS rights_differ FROM (
  (SELECT * FROM t.rights_1_3 EXCEPT ALL SELECT * FROM t.rights)
  UNION ALL (SELECT * FROM t.rights EXCEPT ALL SELECT * FROM t.rights_1_3)) d;
REVOKE EXECUTE ON FUNCTION idenfy_face_groups(), idenfy_effective_decision(text) FROM PUBLIC;

-- 1.4.0 -> 1.5.0: no planner statistics on the personal columns.  ANALYZE at 1.4.0 gathers them;
-- the update removes what it gathered, and ANALYZE skips them from then on (the other columns keep
-- theirs).
ANALYZE idenfy.document, idenfy.verification, idenfy.callback, idenfy.quarantine;
CREATE TABLE t.stats_1_4 AS SELECT tablename, attname FROM pg_stats WHERE schemaname = 'idenfy';
ALTER EXTENSION idenfy UPDATE TO '1.5.0';
SELECT extversion FROM pg_extension WHERE extname = 'idenfy';
SELECT a.attrelid::regclass AS table_name, count(*) AS columns_without_statistics
  FROM pg_attribute a
 WHERE a.attrelid IN ('idenfy.document'::regclass, 'idenfy.verification'::regclass,
                      'idenfy.callback'::regclass, 'idenfy.quarantine'::regclass)
   AND a.attnum > 0 AND a.attstattarget = 0
 GROUP BY 1 ORDER BY 1::text;
-- personal columns that had statistics at 1.4.0, and that have them now (none)
SELECT count(*) > 0 AS had_at_1_4 FROM t.stats_1_4 s
  JOIN pg_attribute a ON a.attrelid = ('idenfy.' || s.tablename)::regclass AND a.attname = s.attname
 WHERE a.attstattarget = 0;
SELECT count(*) AS have_after_update FROM pg_stats s
  JOIN pg_attribute a ON a.attrelid = ('idenfy.' || s.tablename)::regclass AND a.attname = s.attname
 WHERE s.schemaname = 'idenfy' AND a.attstattarget = 0;
ANALYZE idenfy.document, idenfy.verification, idenfy.callback, idenfy.quarantine;
SELECT count(*) AS have_after_analyze FROM pg_stats s
  JOIN pg_attribute a ON a.attrelid = ('idenfy.' || s.tablename)::regclass AND a.attname = s.attname
 WHERE s.schemaname = 'idenfy' AND a.attstattarget = 0;
SELECT (SELECT count(*) FROM pg_stats WHERE schemaname = 'idenfy') =
       (SELECT count(*) FROM t.stats_1_4 s
          JOIN pg_attribute a ON a.attrelid = ('idenfy.' || s.tablename)::regclass AND a.attname = s.attname
         WHERE a.attstattarget IS DISTINCT FROM 0) AS other_columns_keep_theirs;  -- NULL: default, since PostgreSQL 17

-- 1.5.0 -> 1.6.0: five vendor values 1.5.0 keeps verbatim (REVIEW); the outcome rejected; the raw
-- body entry point.  At 1.5.0 (with the 1.6.0 library) a signature failure still answers quarantined.
\pset null '(null)'
SELECT idenfy_signing_key_add('k', 'TestingKey');
SET idenfy.on_invalid = 'quarantine';
SELECT scan_ref, outcome FROM idenfy_ingest_signed('{"scanRef": "u6-forged"}'::text, repeat('0', 64));
RESET idenfy.on_invalid;
CREATE TABLE t.new_values (scan_ref text, payload jsonb);
INSERT INTO t.new_values
SELECT 'u6-' || v, jsonb_set(jsonb_set(t.fx('approved'), '{scanRef}', to_jsonb('u6-' || v)),
                             '{data,docType}', to_jsonb(v))
  FROM unnest(ARRAY['LA_WALLET', 'SAMSUNG_WALLET', 'MOJE_ID_CZ', 'SOCIAL_SECURITY_CARD']) v;
INSERT INTO t.new_values
SELECT 'u6-NOT_REVIEWED', jsonb_set(jsonb_set(t.fx('approved'), '{scanRef}', '"u6-NOT_REVIEWED"'),
                                    '{status,overall}', '"NOT_REVIEWED"');
SELECT n.scan_ref, r.outcome, r.decision FROM t.new_values n, idenfy_ingest(n.payload) r ORDER BY 1;
SELECT scan_ref, decision, decision_reasons FROM idenfy.verification WHERE scan_ref LIKE 'u6-%' ORDER BY 1;
ALTER EXTENSION idenfy UPDATE TO '1.6.0';
SELECT extversion FROM pg_extension WHERE extname = 'idenfy';
-- still REVIEW until the stored callbacks are read again
SELECT count(*) AS still_review FROM idenfy.verification WHERE scan_ref LIKE 'u6-%' AND decision = 'REVIEW';
SELECT reprocessed >= 5 AS reprocessed_them, decision_changed >= 5 AS changed FROM idenfy_reprocess();
SELECT v.scan_ref, v.decision, v.decision_reasons, v.unknown_values, d.doc_type
  FROM idenfy.verification v JOIN idenfy.document d USING (scan_ref)
 WHERE v.scan_ref LIKE 'u6-%' ORDER BY 1;
-- quarantine rows without a scanRef show NULL in the view; forgeries are counted apart
SELECT scan_ref, reason FROM idenfy.quarantined WHERE reason = 'signature' ORDER BY id;
SELECT reason, callbacks >= 1 AS counted FROM idenfy.quarantine_counts WHERE reason = 'signature';
SET idenfy.on_invalid = 'quarantine';
SELECT scan_ref, outcome FROM idenfy_ingest_signed('{"scanRef": "u6-forged-2"}'::text, repeat('0', 64));
SELECT scan_ref, outcome FROM idenfy_ingest_body('{"scanRef": "u6-body",}');
RESET idenfy.on_invalid;
