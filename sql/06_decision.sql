-- 06_decision: one case per row of the decision truth table (README: decision rules), and the tag policy.
\i test/helpers.sql

-- t.cb(scanRef, final, overall, autoFace, manualFace, autoDocument, manualDocument, fraudTags, mismatchTags)
CREATE FUNCTION t.cb(s text, final boolean, overall text, af text, mf text, ad text, md text,
                     fraud text[] DEFAULT '{}', mismatch text[] DEFAULT '{}') RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('scanRef', s, 'final', final, 'clientId', 'client-' || s,
    'status', jsonb_build_object('overall', overall, 'autoFace', af, 'manualFace', mf,
      'autoDocument', ad, 'manualDocument', md, 'fraudTags', to_jsonb(fraud),
      'mismatchTags', to_jsonb(mismatch)))
$$;

-- the customer's tag policy for the cases below
INSERT INTO idenfy.tag_policy VALUES
  ('FAKE_PHOTO', 'DENIED'), ('DOC_MOBILE_PHOTO', 'APPROVED'), ('NAME', 'APPROVED'),
  ('VIRTUAL_CAMERA', 'REVIEW');

CREATE TABLE t.cases AS SELECT c, i.scan_ref, i.decision
  FROM (VALUES
    ('1 not final, approved', t.cb('d01', false, 'APPROVED', 'FACE_MATCH', NULL, 'DOC_VALIDATED', NULL), NULL),
    ('1 not final, denied', t.cb('d02', false, 'DENIED', 'FACE_MISMATCH', NULL, 'DOC_VALIDATED', NULL), NULL),
    ('2 overall EXPIRED', t.cb('d03', true, 'EXPIRED', NULL, NULL, NULL, NULL), NULL),
    ('2 cancelled', t.cb('d04', true, 'DENIED', NULL, NULL, NULL, NULL), 'IDENTIFICATION_CANCELLED'),
    ('3 face mismatch', t.cb('d05', true, 'DENIED', 'FACE_MISMATCH', 'FACE_MISMATCH', 'DOC_VALIDATED', 'DOC_VALIDATED'), NULL),
    ('3 face null', t.cb('d06', true, 'APPROVED', NULL, NULL, 'DOC_VALIDATED', NULL), NULL),
    ('3 document fake', t.cb('d07', true, 'DENIED', 'FACE_MATCH', 'FACE_MATCH', 'DOC_VALIDATED', 'DOC_FAKE'), NULL),
    ('3 manual face wins over auto', t.cb('d08', true, 'APPROVED', 'FACE_MISMATCH', 'FACE_MATCH', 'DOC_VALIDATED', NULL), NULL),
    ('3 manual document wins over auto', t.cb('d09', true, 'DENIED', 'FACE_MATCH', NULL, 'DOC_VALIDATED', 'DOC_EXPIRED'), NULL),
    ('3 unknown face status', t.cb('d10', true, 'APPROVED', 'FACE_ALIEN', NULL, 'DOC_VALIDATED', NULL), NULL),
    ('3 both failed', t.cb('d11', true, 'DENIED', 'NO_FACE_FOUND', NULL, 'DOC_NOT_FOUND', NULL), NULL),
    ('4 overall DENIED, checks passed', t.cb('d12', true, 'DENIED', 'FACE_MATCH', NULL, 'DOC_VALIDATED', NULL), NULL),
    ('5 unknown fraud tag', t.cb('d13', true, 'SUSPECTED', 'FACE_MATCH', NULL, 'DOC_VALIDATED', NULL, '{BRAND_NEW_TAG}'), NULL),
    ('5 unknown overall', t.cb('d14', true, 'ON_HOLD', 'FACE_MATCH', NULL, 'DOC_VALIDATED', NULL), NULL),
    ('6 suspected, tag policy DENIED', t.cb('d15', true, 'SUSPECTED', 'FACE_MATCH', NULL, 'DOC_VALIDATED', NULL, '{FAKE_PHOTO}', '{NAME}'), NULL),
    ('6 suspected, every policy APPROVED', t.cb('d16', true, 'SUSPECTED', 'FACE_MATCH', NULL, 'DOC_VALIDATED', NULL, '{DOC_MOBILE_PHOTO}', '{NAME}'), NULL),
    ('6 suspected, a tag without policy', t.cb('d17', true, 'SUSPECTED', 'FACE_MATCH', NULL, 'DOC_VALIDATED', NULL, '{DOC_MOBILE_PHOTO}', '{SURNAME}'), NULL),
    ('6 suspected, policy REVIEW', t.cb('d18', true, 'SUSPECTED', 'FACE_MATCH', NULL, 'DOC_VALIDATED', NULL, '{VIRTUAL_CAMERA}'), NULL),
    ('6 suspected without a tag', t.cb('d19', true, 'SUSPECTED', 'FACE_MATCH', NULL, 'DOC_VALIDATED', NULL), NULL),
    ('6 approved with a tag', t.cb('d20', true, 'APPROVED', 'FACE_MATCH', NULL, 'DOC_VALIDATED', NULL, '{}', '{SURNAME}'), NULL),
    ('7 approved', t.cb('d21', true, 'APPROVED', 'FACE_MATCH', 'FACE_MATCH', 'DOC_VALIDATED', 'DOC_VALIDATED'), NULL),
    ('8 reviewing', t.cb('d22', true, 'REVIEWING', 'FACE_MATCH', NULL, 'DOC_VALIDATED', NULL), NULL),
    ('8 overall null', t.cb('d23', true, NULL, 'FACE_MATCH', NULL, 'DOC_VALIDATED', NULL), NULL)
  ) AS x(c, p, e),
  LATERAL idenfy_ingest(p, e) i;
-- the decision idenfy_ingest returned, the stored one and its reasons
SELECT c AS "case", x.decision AS returned, v.decision AS stored, v.decision_reasons
  FROM t.cases x JOIN idenfy.verification v USING (scan_ref)
 ORDER BY c;

-- the effective decision and its reasons through the query functions
SELECT idenfy_effective_decision('d15'), idenfy_effective_decision('never-seen');
SELECT decision, reasons, final, overall FROM idenfy_decision('d17');

-- policy changes: the stored decisions follow in the same statement
INSERT INTO idenfy.tag_policy VALUES ('SURNAME', 'APPROVED');
SELECT scan_ref, decision FROM idenfy.verification WHERE scan_ref IN ('d17', 'd20') ORDER BY 1;
UPDATE idenfy.tag_policy SET policy = 'DENIED' WHERE tag = 'NAME';
SELECT scan_ref, decision, decision_reasons FROM idenfy.verification WHERE scan_ref IN ('d15', 'd16') ORDER BY 1;
DELETE FROM idenfy.tag_policy WHERE tag IN ('NAME', 'DOC_MOBILE_PHOTO');
SELECT scan_ref, decision FROM idenfy.verification WHERE scan_ref IN ('d15', 'd16', 'd17') ORDER BY 1;
-- a verification without tags is not touched by policy changes
SELECT decision, updated_at = first_received_at AS untouched FROM idenfy.verification WHERE scan_ref = 'd21';
-- a policy for an unknown tag does not override rule 5
INSERT INTO idenfy.tag_policy VALUES ('BRAND_NEW_TAG', 'APPROVED');
SELECT decision, decision_reasons FROM idenfy.verification WHERE scan_ref = 'd13';
-- only APPROVED, REVIEW and DENIED are policies
INSERT INTO idenfy.tag_policy VALUES ('FACE_SUSPECTED', 'PENDING');

-- the decision follows the current state when a later callback updates it
SELECT outcome, decision FROM idenfy_ingest(t.cb('d05', true, 'APPROVED', 'FACE_MISMATCH', 'FACE_MATCH', 'DOC_VALIDATED', 'DOC_VALIDATED'));

-- the analyst view shows one row per verification and counts by decision
SELECT decision, count(*) FROM idenfy.verifications GROUP BY decision ORDER BY decision;

-- the routable entry point: the scanRef argument must match the payload's
SELECT scan_ref, outcome, decision FROM idenfy_ingest_routed('r-1', t.cb('r-1', true, 'APPROVED', 'FACE_MATCH', NULL, 'DOC_VALIDATED', NULL), 'IDENTIFICATION_AUTO_FINISHED');
SELECT scan_ref, outcome FROM idenfy_ingest_routed('r-1', t.cb('r-1', true, 'APPROVED', 'FACE_MATCH', NULL, 'DOC_VALIDATED', NULL));
SELECT * FROM idenfy_ingest_routed('r-2', t.cb('r-1', true, 'APPROVED', 'FACE_MATCH', NULL, 'DOC_VALIDATED', NULL));
SELECT * FROM idenfy_ingest_routed(NULL, t.cb('r-1', true, 'APPROVED', 'FACE_MATCH', NULL, 'DOC_VALIDATED', NULL));
SELECT count(*) AS stored FROM idenfy.verification WHERE scan_ref IN ('r-1', 'r-2');
SET idenfy.on_invalid = 'quarantine';
SELECT scan_ref, outcome FROM idenfy_ingest_routed('r-3', t.cb('r-1', true, 'APPROVED', 'FACE_MATCH', NULL, 'DOC_VALIDATED', NULL));
SELECT scan_ref, message FROM idenfy.quarantine ORDER BY id;
RESET idenfy.on_invalid;
-- unknown values: each kept once per path; the reason names the first path in key order
SELECT outcome, decision FROM idenfy_ingest(jsonb_build_object('scanRef', 'uk-1', 'final', true,
  'status', jsonb_build_object('overall', 'ON_HOLD', 'autoFace', 'FACE_MATCH', 'autoDocument', 'DOC_VALIDATED',
                               'fraudTags', jsonb_build_array('NEW_B', 'NEW_A', 'NEW_B', 'DOC_MOBILE_PHOTO')),
  'data', jsonb_build_object('docType', 'NEW_DOC')));
SELECT fraud_tags, unknown_values, decision_reasons FROM idenfy.verification WHERE scan_ref = 'uk-1';
-- the rules applied to the stored rows agree with what ingest decided, for every verification
SELECT idenfy.recompute_decisions(ARRAY[NULL]::text[]) AS changed_by_recompute;

DROP TABLE t.cases;
