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
