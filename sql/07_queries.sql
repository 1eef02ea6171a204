-- 07_queries: duplicate faces in both directions, connected groups, expired documents from each source.
\i test/helpers.sql

SELECT outcome FROM idenfy_ingest(t.fx('duplicate-faces-a'));
SELECT outcome FROM idenfy_ingest(t.fx('duplicate-faces-b'));

-- a listed b (selfie) and a never-delivered scanRef; b listed a third one (document face)
SELECT * FROM idenfy_duplicate_faces('6e8f0a2c-5d3b-4a71-9c2e-8b7a6f5e4d0a');
-- the other direction: b was listed by a
SELECT * FROM idenfy_duplicate_faces('a0b2c4d6-9e8f-4c3a-8d1b-2c3d4e5f6a0b');
-- a scanRef never delivered still has its links
SELECT * FROM idenfy_duplicate_faces('00000000-0000-4000-8000-00000000dead');
-- both directions at once, and a self-link that is ignored
SELECT outcome FROM idenfy_ingest(jsonb_build_object('scanRef', 'g-c', 'clientId', 'client-c', 'final', true,
  'data', jsonb_build_object('duplicateFaces', jsonb_build_array('6e8f0a2c-5d3b-4a71-9c2e-8b7a6f5e4d0a', 'g-c'))));
SELECT outcome FROM idenfy_ingest(jsonb_build_object('scanRef', 'g-d', 'clientId', 'client-d', 'final', true,
  'data', jsonb_build_object('duplicateFaces', jsonb_build_array('g-c'))));
SELECT * FROM idenfy_duplicate_faces('g-c');
SELECT * FROM idenfy_duplicate_faces('no-links');

-- connected groups: a~b, a~dead, b~c3, c~a, d~c form one group; e~f another
SELECT outcome FROM idenfy_ingest(jsonb_build_object('scanRef', 'g-e', 'clientId', 'client-e', 'final', true,
  'data', jsonb_build_object('duplicateDocFaces', jsonb_build_array('g-f'))));
SELECT * FROM idenfy_face_groups();

-- expired documents: from docExpiry, from a DOC_EXPIRED result, from DOCUMENT_EXPIRATION callbacks
SELECT t.reset();
SELECT outcome FROM idenfy_ingest(jsonb_build_object('scanRef', 'x-doc', 'clientId', 'p1', 'final', true,
  'finishTime', 1700000000, 'status', jsonb_build_object('overall', 'APPROVED', 'autoFace', 'FACE_MATCH', 'autoDocument', 'DOC_VALIDATED'),
  'data', jsonb_build_object('docType', 'PASSPORT', 'docExpiry', '2024-03-09')));
SELECT outcome FROM idenfy_ingest(jsonb_build_object('scanRef', 'x-result', 'clientId', 'p2', 'final', true,
  'finishTime', 1700000000, 'status', jsonb_build_object('overall', 'DENIED', 'autoFace', 'FACE_MATCH', 'autoDocument', 'DOC_EXPIRED'),
  'data', jsonb_build_object('docType', 'ID_CARD', 'docExpiry', 'unknown')));
SELECT outcome FROM idenfy_ingest(jsonb_build_object('scanRef', 'x-notice', 'clientId', 'p3', 'final', true,
  'finishTime', 1700000000, 'status', jsonb_build_object('overall', 'APPROVED', 'autoFace', 'FACE_MATCH', 'autoDocument', 'DOC_VALIDATED'),
  'data', jsonb_build_object('docType', 'DRIVER_LICENSE')));
SELECT outcome FROM idenfy_ingest('{"scanRef": "x-notice", "clientId": "p3", "expirationThreshold": "DOCUMENT_EXPIRED", "documentExpiration": "2025-01-31"}');
-- valid until 2030, and no expiry at all
SELECT outcome FROM idenfy_ingest(jsonb_build_object('scanRef', 'x-valid', 'clientId', 'p4', 'final', true,
  'finishTime', 1700000000, 'status', jsonb_build_object('overall', 'APPROVED', 'autoFace', 'FACE_MATCH', 'autoDocument', 'DOC_VALIDATED'),
  'data', jsonb_build_object('docType', 'PASSPORT', 'docExpiry', '2030-06-30')));
SELECT outcome FROM idenfy_ingest(jsonb_build_object('scanRef', 'x-none', 'clientId', 'p5', 'final', true,
  'status', jsonb_build_object('overall', 'APPROVED', 'autoFace', 'FACE_MATCH', 'autoDocument', 'DOC_VALIDATED'),
  'data', jsonb_build_object('docType', 'PASSPORT', 'docExpiry', NULL)));

SELECT s, idenfy_document_expired(s, '2026-01-01') AS expired_2026,
       idenfy_document_expired(s, '2024-01-01') AS expired_2024
  FROM unnest(ARRAY['x-doc', 'x-result', 'x-notice', 'x-valid', 'x-none', 'never-seen']) s ORDER BY s;
SELECT * FROM idenfy_expired_documents('2026-01-01');
SELECT * FROM idenfy_expiring_documents('5 years', '2026-01-01');

-- a person who re-verified with a new document is not expired; per_person => false shows history
SELECT outcome FROM idenfy_ingest(jsonb_build_object('scanRef', 'x-doc-2', 'clientId', 'p1', 'final', true,
  'finishTime', 1710000000, 'status', jsonb_build_object('overall', 'APPROVED', 'autoFace', 'FACE_MATCH', 'autoDocument', 'DOC_VALIDATED'),
  'data', jsonb_build_object('docType', 'PASSPORT', 'docExpiry', '2034-03-09')));
SELECT * FROM idenfy_expired_documents('2026-01-01') WHERE client_id = 'p1';
SELECT * FROM idenfy_expired_documents('2026-01-01', per_person => false) WHERE client_id = 'p1';
-- ... but a later denied attempt does not replace the approved one
SELECT outcome FROM idenfy_ingest(jsonb_build_object('scanRef', 'x-doc-3', 'clientId', 'p1', 'final', true,
  'finishTime', 1720000000, 'status', jsonb_build_object('overall', 'DENIED', 'autoFace', 'FACE_MISMATCH', 'autoDocument', 'DOC_VALIDATED'),
  'data', jsonb_build_object('docType', 'PASSPORT', 'docExpiry', '2020-01-01')));
SELECT client_id, scan_ref FROM idenfy.client_current_verification WHERE client_id = 'p1';
SELECT count(*) AS p1_expired FROM idenfy_expired_documents('2026-01-01') WHERE client_id = 'p1';

-- the analyst views carry no payloads, file URLs or additional data (personal columns are masked: 12_personal_data)
SELECT attname FROM pg_attribute
 WHERE attrelid IN ('idenfy.verifications'::regclass, 'idenfy.callbacks'::regclass, 'idenfy.quarantined'::regclass)
   AND attnum > 0
   AND (attname ~ '(payload$|url|additional_data|body)')
 ORDER BY attname;

-- decision counts: the purpose view equals grouping the masked view, and reads only the decision index
SELECT decision, verifications FROM idenfy.decision_counts ORDER BY decision;
SELECT count(*) AS differ FROM (
  (SELECT decision, verifications FROM idenfy.decision_counts
   EXCEPT SELECT decision, count(*) FROM idenfy.verifications GROUP BY decision)
  UNION ALL
  (SELECT decision, count(*) FROM idenfy.verifications GROUP BY decision
   EXCEPT SELECT decision, verifications FROM idenfy.decision_counts)) d;
VACUUM (ANALYZE) idenfy.verification;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; plan text := '';
BEGIN
  FOR r IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP plan := plan || r || E'\n'; END LOOP;
  RETURN plan;
END $$;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT pg_temp.plan_of('SELECT * FROM idenfy.decision_counts')
       LIKE '%Index Only Scan using verification_decision_idx%' AS decision_counts_index_only;
-- the face-group lookups read decision and clientId from the primary key alone
SELECT pg_temp.plan_of('SELECT v.decision, v.client_id FROM idenfy.verification v WHERE v.scan_ref = ''x''')
       LIKE '%Index Only Scan using verification_pkey%' AS pkey_covers_decision_and_client;
-- each person's current verification is read in index order, from the index alone (1.4.0)
SELECT pg_temp.plan_of('SELECT * FROM idenfy.client_current_verification')
       LIKE '%Index Only Scan using verification_client_recent_idx%' AS current_verification_index_only;
RESET enable_seqscan;
RESET enable_bitmapscan;
-- face groups (C since 1.4.0) against the SQL aggregates that computed them up to 1.3.0, on
-- random links over 400 scanRefs (300 stored, some without clientId, clients shared, 100 never
-- stored, groups of equal size): the same rows in the same order
BEGIN;
SELECT setseed(0.42);
SELECT count(*) AS stored FROM generate_series(1, 300) i,
  idenfy_ingest(jsonb_build_object('scanRef', 'fg-' || i, 'final', true,
    'clientId', CASE WHEN i % 7 <> 0 THEN 'client-' || (i % 45) END,
    'status', jsonb_build_object('overall', (ARRAY['APPROVED', 'DENIED', 'SUSPECTED'])[1 + i % 3])));
INSERT INTO idenfy.face_link (scan_ref, kind, other_scan_ref)
SELECT DISTINCT 'fg-' || (1 + floor(random() * 400))::int,
       (ARRAY['selfie', 'document'])[1 + floor(random() * 2)::int]::idenfy.face_match_kind,
       'fg-' || (1 + floor(random() * 400))::int
  FROM generate_series(1, 160);
-- links both ways, of both kinds, and a self-link
INSERT INTO idenfy.face_link (scan_ref, kind, other_scan_ref)
SELECT f.other_scan_ref, f.kind, f.scan_ref FROM idenfy.face_link f WHERE f.scan_ref LIKE 'fg-1%'
ON CONFLICT DO NOTHING;
INSERT INTO idenfy.face_link (scan_ref, kind, other_scan_ref)
SELECT f.scan_ref, 'document', f.other_scan_ref FROM idenfy.face_link f WHERE f.scan_ref LIKE 'fg-2%'
ON CONFLICT DO NOTHING;
INSERT INTO idenfy.face_link VALUES ('fg-3', 'selfie', 'fg-3'), ('fg-3', 'selfie', 'fg-5');
CREATE TEMP TABLE fg_c AS SELECT row_number() OVER () AS n, g::text AS g, g.size FROM idenfy_face_groups() g;
CREATE TEMP TABLE fg_sql AS
SELECT row_number() OVER () AS n, s::text AS g, s.size FROM (
  SELECT c.group_id, count(*)::integer AS size,
         array_agg(c.scan_ref ORDER BY c.scan_ref COLLATE "C"),
         array_remove(array_agg(DISTINCT v.client_id), NULL),
         array_agg(v.decision ORDER BY c.scan_ref COLLATE "C")
    FROM idenfy.face_components() c
    LEFT JOIN idenfy.verification v ON v.scan_ref = c.scan_ref
   GROUP BY c.group_id
   ORDER BY count(*) DESC, c.group_id COLLATE "C") s;
SELECT count(*) AS groups, max(size) AS largest, count(*) FILTER (WHERE g LIKE '%NULL%') AS with_unstored,
       count(DISTINCT size) AS sizes
  FROM fg_c;
SELECT count(*) AS rows_differ FROM (
  (SELECT * FROM fg_c EXCEPT ALL SELECT * FROM fg_sql)
  UNION ALL (SELECT * FROM fg_sql EXCEPT ALL SELECT * FROM fg_c)) d;
-- the lookups of one scanRef (C since 1.4.0) against the SQL of 1.3.0, for every scanRef of a link,
-- stored or not, and one never seen: the same rows in the same order
CREATE TEMP TABLE fg_keys AS
  SELECT scan_ref AS k FROM idenfy.face_link UNION SELECT other_scan_ref FROM idenfy.face_link
  UNION SELECT 'never-seen';
CREATE TEMP TABLE df_c AS
  SELECT k.k, d.n, (d.other_scan_ref, d.kind, d.direction, d.other_client_id, d.other_decision,
                    d.other_known)::text AS d
    FROM fg_keys k, idenfy_duplicate_faces(k.k) WITH ORDINALITY
         AS d(other_scan_ref, kind, direction, other_client_id, other_decision, other_known, n);
CREATE TEMP TABLE df_sql AS
  SELECT k.k, row_number() OVER (PARTITION BY k.k ORDER BY s.other, s.kind) AS n, s::text AS d
    FROM fg_keys k, LATERAL (
    SELECT l.other, l.kind,
           CASE WHEN bool_or(l.listed) AND bool_or(NOT l.listed) THEN 'both'
                WHEN bool_or(l.listed) THEN 'listed' ELSE 'listed_by' END,
           v.client_id, v.decision, v.scan_ref IS NOT NULL
      FROM (SELECT f.other_scan_ref AS other, f.kind, true AS listed FROM idenfy.face_link f WHERE f.scan_ref = k.k
            UNION ALL
            SELECT f.scan_ref, f.kind, false FROM idenfy.face_link f WHERE f.other_scan_ref = k.k) l
      LEFT JOIN idenfy.verification v ON v.scan_ref = l.other
     WHERE l.other <> k.k
     GROUP BY l.other, l.kind, v.scan_ref, v.client_id, v.decision) s;
SELECT count(*) AS rows, count(*) FILTER (WHERE d LIKE '%,both,%') AS both_ways,
       count(*) FILTER (WHERE d LIKE '%,f)') AS unknown_other, count(DISTINCT k) AS scan_refs
  FROM df_c;
SELECT count(*) AS rows_differ FROM (
  (SELECT * FROM df_c EXCEPT ALL SELECT * FROM df_sql)
  UNION ALL (SELECT * FROM df_sql EXCEPT ALL SELECT * FROM df_c)) d;
SELECT count(*) AS decisions_differ
  FROM (SELECT k FROM fg_keys UNION ALL SELECT NULL) k
  LEFT JOIN idenfy.verification v ON v.scan_ref = k.k
 WHERE idenfy_effective_decision(k.k) IS DISTINCT FROM v.decision;
ROLLBACK;
