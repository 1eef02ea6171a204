-- 12_personal_data: forget a person or a verification everywhere, retention purge, masked analyst view.
\i test/helpers.sql

-- two people: client-001 (approved, an expiration notice, a quarantined callback), client-002
SELECT outcome FROM idenfy_ingest(t.fx('approved'), 'IDENTIFICATION_AUTO_FINISHED');
SELECT outcome FROM idenfy_ingest(t.fx('document-expiration'), 'DOCUMENT_EXPIRATION');
SELECT outcome FROM idenfy_ingest(jsonb_set(t.fx('approved'), '{finishTime}', '1752000000'));
SET idenfy.on_invalid = 'quarantine';
SELECT outcome FROM idenfy_ingest(jsonb_set(t.fx('approved'), '{clientIp}', '"not-an-ip"'));
SELECT outcome FROM idenfy_ingest(jsonb_set(jsonb_set(t.fx('approved'), '{scanRef}', to_jsonb(repeat('z', 50))), '{clientIp}', '"x"'));
RESET idenfy.on_invalid;
SELECT outcome FROM idenfy_ingest(t.fx('denied-face-mismatch'));
-- a link from someone else to client-001's verification
SELECT outcome FROM idenfy_ingest(jsonb_build_object('scanRef', 'other-1', 'clientId', 'client-099', 'final', true,
  'data', jsonb_build_object('duplicateFaces', jsonb_build_array(t.fx('approved')->>'scanRef'))));

-- every personal value of client-001, and where it can be found
CREATE TABLE t.personal AS
  SELECT DISTINCT v AS value FROM (
    SELECT jsonb_path_query(t.fx('approved'), 'strict $.data.* ? (@.type() == "string")') #>> '{}' AS v
    UNION ALL SELECT t.fx('approved')->>'clientIp'
    UNION ALL SELECT t.fx('approved')->>'clientId'
    UNION ALL SELECT jsonb_path_query(t.fx('approved'), 'strict $.data.additionalData.**') #>> '{}'
    UNION ALL SELECT jsonb_path_query(t.fx('approved'), 'strict $.fileUrls.*') #>> '{}') s
  WHERE v LIKE 'MARKER%' OR v LIKE '198.51.100.%' OR v = 'client-001' OR v LIKE 'https://%';
SELECT count(*) > 8 AS enough_markers FROM t.personal;
-- t.where_found(): the tables whose rows' text contains one of those values
CREATE FUNCTION t.where_found() RETURNS text LANGUAGE plpgsql AS $$
DECLARE tbl text; found text := ''; n bigint;
BEGIN
  FOR tbl IN SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'idenfy'::regnamespace AND (c.relkind = 'r' OR c.relname IN ('file_url', 'service_result')) ORDER BY 1 LOOP
    EXECUTE format('SELECT count(*) FROM idenfy.%I x WHERE EXISTS (SELECT 1 FROM t.personal p WHERE position(p.value IN x::text) > 0 OR position(p.value IN encode(convert_to(x::text, ''UTF8''), ''escape'')) > 0)', tbl) INTO n;
    IF n > 0 THEN found := found || tbl || '=' || n || ' '; END IF;
  END LOOP;
  RETURN coalesce(nullif(found, ''), 'nowhere');
END $$;
SELECT t.where_found() AS before_forgetting;
SELECT t.counts();
-- ANALYZE copies no personal value into the planner's statistics (1.5.0: statistics target 0 on the
-- personal columns), except the clientId, the customer's own key for the person, kept for the
-- planner's per-person estimates; the other columns do get statistics, personal values among them
-- with 1.4.0 (sql/11_upgrade.sql)
ANALYZE idenfy.document, idenfy.verification, idenfy.callback, idenfy.quarantine;
SELECT s.tablename, s.attname, count(*) AS personal_values
  FROM pg_stats s JOIN t.personal p
    ON position(p.value IN concat(s.most_common_vals::text, s.histogram_bounds::text)) > 0
 WHERE s.schemaname = 'idenfy'
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT s.tablename, count(*) AS columns_with_statistics
  FROM pg_stats s WHERE s.schemaname = 'idenfy' AND s.tablename IN ('document', 'verification')
 GROUP BY 1 ORDER BY 1;

-- forget the person: counts of what was removed, in one transaction
SELECT * FROM idenfy_forget_client('client-001');
SELECT t.where_found() AS after_forgetting;
-- what stays: that the scanRef existed, was erased, and when; the fingerprints
SELECT scan_ref = t.fx('approved')->>'scanRef' AS approved_scan, reason, decision_kept, erased_at IS NOT NULL AS dated
  FROM idenfy.erasure ORDER BY scan_ref;
SELECT outcome, payload IS NULL AS erased_payload FROM idenfy.callback
 WHERE scan_ref = t.fx('approved')->>'scanRef' ORDER BY id;
-- another person's data is untouched, except the link that pointed at the erased verification
SELECT scan_ref, client_id, decision FROM idenfy.verification ORDER BY scan_ref;
SELECT count(*) AS other_person_document FROM idenfy.document WHERE scan_ref = t.fx('denied-face-mismatch')->>'scanRef';
SELECT count(*) AS links_to_erased FROM idenfy.face_link;
-- a redelivery of an erased callback is a duplicate; a new one stores its fingerprint only
SELECT outcome FROM idenfy_ingest(t.fx('approved'), 'IDENTIFICATION_AUTO_FINISHED');
SELECT outcome FROM idenfy_ingest(t.fx('document-expiration'));
SELECT outcome FROM idenfy_ingest(jsonb_set(t.fx('approved'), '{finishTime}', '1753000000'));
SELECT t.where_found() AS after_redelivery;
-- idempotent
SELECT * FROM idenfy_forget_client('client-001');
SELECT * FROM idenfy_forget_scan(t.fx('approved')->>'scanRef');

-- forget one verification
SELECT verifications, documents, callbacks, file_urls, service_results
  FROM idenfy_forget_scan(t.fx('denied-face-mismatch')->>'scanRef');
SELECT scan_ref, client_id FROM idenfy.verification ORDER BY scan_ref;

-- retention: erase exactly the verifications whose last callback is older than the interval
SELECT t.reset();
SELECT outcome FROM idenfy_ingest(t.fx('approved'));
SELECT outcome FROM idenfy_ingest(t.fx('suspected-tags'));
SELECT outcome FROM idenfy_ingest(t.fx('denied-face-mismatch'));
SELECT outcome FROM idenfy_ingest(t.fx('nonfinal-auto'));
-- age them: approved and suspected 6 years ago, denied 6 years ago but with a stale callback last month
UPDATE idenfy.verification SET updated_at = now() - interval '6 years'
 WHERE scan_ref IN (t.fx('approved')->>'scanRef', t.fx('suspected-tags')->>'scanRef', t.fx('denied-face-mismatch')->>'scanRef');
UPDATE idenfy.callback SET received_at = now() - interval '6 years'
 WHERE scan_ref IN (t.fx('approved')->>'scanRef', t.fx('suspected-tags')->>'scanRef', t.fx('denied-face-mismatch')->>'scanRef');
SELECT outcome FROM idenfy_ingest(jsonb_set(jsonb_set(t.fx('denied-face-mismatch'), '{final}', 'false'), '{status,manualFace}', 'null'));
-- one batch of one, then the rest, keeping decisions for the first
SELECT * FROM idenfy_purge('5 years', keep_decision => true, max_verifications => 1);
SELECT * FROM idenfy_purge('5 years');
SELECT * FROM idenfy_purge('5 years');
SELECT e.reason, e.decision_kept, v.decision, v.client_id, v.final
  FROM idenfy.erasure e LEFT JOIN idenfy.verification v USING (scan_ref) ORDER BY e.decision_kept DESC, e.scan_ref;
SELECT scan_ref, client_id FROM idenfy.verification WHERE scan_ref NOT IN (SELECT scan_ref FROM idenfy.erasure) ORDER BY 1;
SELECT count(*) AS kept_documents FROM idenfy.document;
CALL idenfy_purge_all('5 years');

-- the masked analyst view
SELECT t.reset();
SELECT outcome FROM idenfy_ingest(t.fx('approved'));
CREATE ROLE idenfy_test_analyst2;
GRANT USAGE ON SCHEMA idenfy TO idenfy_test_analyst2;
GRANT SELECT ON idenfy.verifications TO idenfy_test_analyst2;
-- the view's helpers, as the README's recipe grants them (PUBLIC has no EXECUTE since 1.6.0)
GRANT EXECUTE ON FUNCTION idenfy.mask(text, boolean), idenfy.reader_sees_personal_data() TO idenfy_test_analyst2;
SET ROLE idenfy_test_analyst2;
SELECT doc_first_name, doc_last_name, full_name, doc_number, doc_personal_code, doc_dob, address,
       birth_place, client_ip, client_location, doc_type, doc_expiry, decision
  FROM idenfy.verifications;
RESET ROLE;
-- with the full-access role (created by the DBA, not by the extension)
SELECT count(*) AS role_exists FROM pg_roles WHERE rolname = 'idenfy_personal_data';
CREATE ROLE idenfy_personal_data;
GRANT idenfy_personal_data TO idenfy_test_analyst2;
SET ROLE idenfy_test_analyst2;
SELECT doc_first_name, doc_number, doc_dob, client_ip FROM idenfy.verifications;
RESET ROLE;
DROP OWNED BY idenfy_test_analyst2;
DROP ROLE idenfy_test_analyst2;
DROP ROLE idenfy_personal_data;
DROP TABLE t.personal;
