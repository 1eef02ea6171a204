/* sql/idenfy--1.1.0--1.2.0.sql: upgrade of the idenfy extension from 1.1.0 to 1.2.0 */

\echo Use "ALTER EXTENSION idenfy UPDATE TO '1.2.0'" to load this file. \quit

/*
 * File URLs and AML/LID service results are no longer copied into tables of
 * their own at ingest: they are views over the current callback's payload,
 * which history keeps anyway (verification.callback_id names it).
 *
 * Why: they were 3.8 of the 6.8 rows and 30% of the bytes written per
 * callback (README, Performance), all of it a second copy of the payload's
 * own fileUrls, additionalStepPdfUrls, AML and LID, and nobody filters
 * millions of verifications by a pre-signed link that expires within hours.
 * The views have the columns the tables had, and show the same rows: for
 * callbacks ingested before the upgrade too, as they read history.
 *
 * A library of 1.2.0 still writes the tables while they exist, i.e. between
 * a package upgrade and ALTER EXTENSION idenfy UPDATE.
 */
ALTER EXTENSION idenfy DROP TABLE idenfy.file_url;
DROP TABLE idenfy.file_url;
ALTER EXTENSION idenfy DROP TABLE idenfy.service_result;
DROP TABLE idenfy.service_result;

CREATE FUNCTION idenfy.url_expiry(url text)
RETURNS timestamptz
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'idenfy_url_expiry';
COMMENT ON FUNCTION idenfy.url_expiry(text) IS
'the Expires= query parameter (Unix seconds) of a pre-signed link, as ingest has always read it; NULL when absent or malformed';
REVOKE EXECUTE ON FUNCTION idenfy.url_expiry(text) FROM PUBLIC;

CREATE VIEW idenfy.file_url AS
	SELECT v.scan_ref, m.source, u.key AS name, u.value AS url, idenfy.url_expiry(u.value) AS expires_at
	  FROM idenfy.verification v
	  JOIN idenfy.callback c
		ON c.scan_ref OPERATOR(pg_catalog.=) v.scan_ref AND c.id OPERATOR(pg_catalog.=) v.callback_id
	 CROSS JOIN LATERAL (VALUES ('fileUrls'::idenfy.file_source), ('additionalStepPdfUrls')) AS m(source)
	 CROSS JOIN LATERAL pg_catalog.jsonb_each_text(
			CASE WHEN pg_catalog.jsonb_typeof(c.payload OPERATOR(pg_catalog.->) m.source::pg_catalog.text)
					  OPERATOR(pg_catalog.=) 'object'
				 THEN c.payload OPERATOR(pg_catalog.->) m.source::pg_catalog.text END) AS u
	 WHERE u.value IS NOT NULL;
COMMENT ON VIEW idenfy.file_url IS
'fileUrls and additionalStepPdfUrls of the current callback, read from its stored payload: personal data';
REVOKE ALL ON idenfy.file_url FROM PUBLIC;

CREATE VIEW idenfy.service_result AS
	SELECT v.scan_ref, l.list, (e.ord OPERATOR(pg_catalog.-) 1)::integer AS ord,
		   e.value OPERATOR(pg_catalog.->>) 'serviceName' AS service_name,
		   e.value OPERATOR(pg_catalog.->>) 'serviceGroupType' AS service_group_type,
		   e.value OPERATOR(pg_catalog.->>) 'uid' AS uid,
		   e.value OPERATOR(pg_catalog.->) 'status' OPERATOR(pg_catalog.->>) 'overallStatus' AS overall_status,
		   (e.value OPERATOR(pg_catalog.->) 'status' OPERATOR(pg_catalog.->>) 'serviceSuspected')::boolean
			   AS service_suspected,
		   (e.value OPERATOR(pg_catalog.->) 'status' OPERATOR(pg_catalog.->>) 'serviceUsed')::boolean
			   AS service_used,
		   (e.value OPERATOR(pg_catalog.->) 'status' OPERATOR(pg_catalog.->>) 'serviceFound')::boolean
			   AS service_found,
		   (e.value OPERATOR(pg_catalog.->) 'status' OPERATOR(pg_catalog.->>) 'checkSuccessful')::boolean
			   AS check_successful,
		   e.value OPERATOR(pg_catalog.->>) 'errorMessage' AS error_message,
		   NULLIF(e.value OPERATOR(pg_catalog.->) 'data', 'null'::jsonb) AS data
	  FROM idenfy.verification v
	  JOIN idenfy.callback c
		ON c.scan_ref OPERATOR(pg_catalog.=) v.scan_ref AND c.id OPERATOR(pg_catalog.=) v.callback_id
	 CROSS JOIN LATERAL (VALUES ('AML'::pg_catalog.text), ('LID')) AS l(list)
	 CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(
			CASE WHEN pg_catalog.jsonb_typeof(c.payload OPERATOR(pg_catalog.->) l.list) OPERATOR(pg_catalog.=) 'array'
				 THEN c.payload OPERATOR(pg_catalog.->) l.list END) WITH ORDINALITY AS e(value, ord);
COMMENT ON VIEW idenfy.service_result IS
'AML and LID service results of the current callback, in callback order, read from its stored payload; data holds the hits (personal data)';
REVOKE ALL ON idenfy.service_result FROM PUBLIC;

/* erasure counts the file URLs and service results it makes unreadable */
CREATE OR REPLACE FUNCTION idenfy.erase_scan(target text, reason text, keep_decision boolean,
	OUT verifications bigint, OUT documents bigint, OUT callbacks bigint, OUT file_urls bigint,
	OUT service_results bigint, OUT face_links bigint, OUT expiration_notices bigint,
	OUT quarantined bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	/* the row lock idenfy_ingest takes too: the two never interleave */
	PERFORM 1 FROM idenfy.verification v WHERE v.scan_ref OPERATOR(pg_catalog.=) target FOR UPDATE;
	/* views of the current callback's payload, which goes below */
	SELECT pg_catalog.count(*) INTO file_urls FROM idenfy.file_url f
	 WHERE f.scan_ref OPERATOR(pg_catalog.=) target;
	SELECT pg_catalog.count(*) INTO service_results FROM idenfy.service_result s
	 WHERE s.scan_ref OPERATOR(pg_catalog.=) target;
	IF keep_decision THEN
		UPDATE idenfy.verification v
		   SET client_id = NULL, external_ref = NULL, client_ip = NULL, client_location = NULL,
			   company_id = NULL, beneficiary_id = NULL, risk_assessment = NULL,
			   additional_steps = NULL, address_verification = NULL,
			   registry_center_check = NULL, questionnaire_answers = NULL
		 WHERE v.scan_ref OPERATOR(pg_catalog.=) target
		   AND (v.client_id IS NOT NULL OR v.external_ref IS NOT NULL OR v.client_ip IS NOT NULL
				OR v.client_location IS NOT NULL OR v.company_id IS NOT NULL
				OR v.beneficiary_id IS NOT NULL OR v.risk_assessment IS NOT NULL
				OR v.additional_steps IS NOT NULL OR v.address_verification IS NOT NULL
				OR v.registry_center_check IS NOT NULL OR v.questionnaire_answers IS NOT NULL);
	ELSE
		DELETE FROM idenfy.verification v WHERE v.scan_ref OPERATOR(pg_catalog.=) target;
	END IF;
	GET DIAGNOSTICS verifications = ROW_COUNT;
	DELETE FROM idenfy.document d WHERE d.scan_ref OPERATOR(pg_catalog.=) target;
	GET DIAGNOSTICS documents = ROW_COUNT;
	UPDATE idenfy.callback c SET payload = NULL
	 WHERE c.scan_ref OPERATOR(pg_catalog.=) target AND c.payload IS NOT NULL;
	GET DIAGNOSTICS callbacks = ROW_COUNT;
	DELETE FROM idenfy.face_link l
	 WHERE l.scan_ref OPERATOR(pg_catalog.=) target OR l.other_scan_ref OPERATOR(pg_catalog.=) target;
	GET DIAGNOSTICS face_links = ROW_COUNT;
	DELETE FROM idenfy.document_expiration e WHERE e.scan_ref OPERATOR(pg_catalog.=) target;
	GET DIAGNOSTICS expiration_notices = ROW_COUNT;
	DELETE FROM idenfy.quarantine q WHERE q.scan_ref OPERATOR(pg_catalog.=) target;
	GET DIAGNOSTICS quarantined = ROW_COUNT;
	INSERT INTO idenfy.erasure (scan_ref, reason, decision_kept)
	VALUES (target, reason, keep_decision)
	ON CONFLICT ON CONSTRAINT erasure_pkey DO NOTHING;
END
$$;

/*
 * The primary key of verification carries the decision and clientId, so the
 * queries that look them up for many scanRefs (idenfy_face_groups: every
 * linked scanRef; idenfy_duplicate_faces: the other side of each link) read
 * the index alone, not one heap page per scanRef.  ON CONFLICT (scan_ref)
 * still infers this index: INCLUDE columns are not part of the key.
 */
ALTER TABLE idenfy.verification DROP CONSTRAINT verification_pkey,
	ADD CONSTRAINT verification_pkey PRIMARY KEY (scan_ref) INCLUDE (decision, client_id);

/*
 * Decision counts, the analysts' most frequent question.  Through the masked
 * view idenfy.verifications, PostgreSQL 15 cannot answer it from the small
 * (deduplicated) decision index: the document join the view removes leaves
 * verification.scan_ref among the columns the scan must produce, so every
 * verification row is read.  This view reads the index only.
 */
CREATE VIEW idenfy.decision_counts AS
	SELECT v.decision, pg_catalog.count(*) AS verifications
	  FROM idenfy.verification v
	 GROUP BY v.decision;
COMMENT ON VIEW idenfy.decision_counts IS
'verifications per effective decision (an index-only scan of verification_decision_idx); no personal data';
REVOKE ALL ON idenfy.decision_counts FROM PUBLIC;
