-- 03_ordering: one case per ordering rule (README: ordering rules), and the event type spellings.
\i test/helpers.sql

-- non-final then final: updated
SELECT outcome, decision FROM idenfy_ingest(t.fx('nonfinal-auto'), 'IDENTIFICATION_AUTO_FINISHED');
SELECT outcome, decision FROM idenfy_ingest(t.fx('final-manual'), 'IDENTIFICATION_MANUAL_FINISHED');
SELECT final, has_manual, overall, manual_document, decision FROM idenfy.verification;

-- a final callback is never replaced by a non-final one: the preliminary one again is stale
SELECT outcome, decision FROM idenfy_ingest(
  jsonb_set(t.fx('nonfinal-auto'), '{finishTime}', '1736000000'), 'IDENTIFICATION_AUTO_FINISHED');
SELECT final, overall, decision FROM idenfy.verification;

-- at equal finality, one with manual results is never replaced by one without
SELECT outcome FROM idenfy_ingest(
  jsonb_set(jsonb_set(jsonb_set(t.fx('final-manual'), '{status,manualFace}', 'null'),
            '{status,manualDocument}', 'null'), '{status,overall}', '"APPROVED"'));
SELECT overall, manual_document, decision FROM idenfy.verification;

-- otherwise the later arrival wins: a manual re-review after the final callback
SELECT outcome, decision FROM idenfy_ingest(t.fx('rereview-manual'), 'IDENTIFICATION_MANUAL_FINISHED');
SELECT overall, manual_document, decision FROM idenfy.verification;

-- a resubmission reopens the verification whatever its finality
SELECT outcome, decision FROM idenfy_ingest(t.fx('resubmitted-nonfinal'), 'IDENTIFICATION_RESUBMITTED');
SELECT final, has_manual, overall, auto_document, event_type, decision FROM idenfy.verification;
-- and afterwards the ordinary rules apply again: the final manual result wins
SELECT outcome, decision FROM idenfy_ingest(
  jsonb_set(t.fx('rereview-manual'), '{finishTime}', '1736000999'), 'IDENTIFICATION_MANUAL_FINISHED');

-- an identical delivery is a duplicate whatever the event type header
SELECT outcome FROM idenfy_ingest(t.fx('rereview-manual'), 'IDENTIFICATION');
SELECT outcome FROM idenfy_ingest(t.fx('rereview-manual'), NULL);

-- history: every distinct callback with its outcome, in arrival order
SELECT event_type, final, has_manual, outcome FROM idenfy.callback ORDER BY id;

-- at equal finality without manual results, the later arrival wins
SELECT outcome FROM idenfy_ingest('{"scanRef": "eq-1", "final": false, "status": {"overall": "APPROVED"}}');
SELECT outcome FROM idenfy_ingest('{"scanRef": "eq-1", "final": false, "status": {"overall": "DENIED"}}');
SELECT outcome FROM idenfy_ingest('{"scanRef": "eq-1", "final": false, "status": {"overall": "APPROVED"}}');
SELECT overall FROM idenfy.verification WHERE scan_ref = 'eq-1';

-- key order and whitespace do not make a new payload (jsonb is canonical)
SELECT outcome FROM idenfy_ingest('{"status": {"overall": "APPROVED"}, "final": false,   "scanRef": "eq-1"}');

-- every spelling of the event type header maps to one canonical value
SELECT i, e AS header,
       t.try(jsonb_build_object('scanRef', 'ev-' || i, 'final', true,
                                'expirationThreshold', 'DOCUMENT_EXPIRED'), e) AS outcome
  FROM unnest(ARRAY[
         'IDENTIFICATION', 'VERIFICATION', 'IDENTIFICATION_AUTO_FINISHED',
         'VERIFICATION AUTO FINISH', 'verification auto finished',
         'IDENTIFICATION_MANUAL_FINISHED', 'VERIFICATION MANUAL FINISH',
         'IDENTIFICATION_RESUBMITTED', 'IDENTIFICATION_CANCELLED', 'IDENTIFICATION_CANCELED',
         'VERIFICATION CANCELED', 'ID_VERIFICATION_CANCELLED', 'ID VERIFICATION CANCELED',
         'IDENTIFICATION_EXPIRED', 'ID VERIFICATION EXPIRED', 'VERIFICATION_EXPIRED',
         'DOCUMENT_EXPIRATION', 'document-expiration', 'SOMETHING_NEW']) WITH ORDINALITY AS x(e, i)
 ORDER BY i;
SELECT scan_ref, event_type_raw, coalesce(event_type::text, 'unknown') AS event_type
  FROM idenfy.callback WHERE scan_ref LIKE 'ev-%'
 ORDER BY substr(scan_ref, 4)::int;
-- the cancelled spellings mark the verification cancelled
SELECT scan_ref, cancelled, decision FROM idenfy.verification
 WHERE scan_ref LIKE 'ev-%' AND cancelled ORDER BY substr(scan_ref, 4)::int;
