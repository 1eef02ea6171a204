/* sql/idenfy--1.0.0.sql: install script of the idenfy extension, version 1.0.0 */

\echo Use "CREATE EXTENSION idenfy" to load this file. \quit

/*
 * Layout.  Data objects (types, tables, views) live in the schema "idenfy",
 * created here, so that analysts find everything under one name and DROP
 * EXTENSION removes it all.  The functions applications call keep the names
 * the customer chose (idenfy_ingest, ...) and are created in the extension's
 * schema (@extschema@, normally public), so they are callable unqualified
 * after a plain CREATE EXTENSION.  Every name below is schema-qualified, and
 * every function pins its search_path.
 */
CREATE SCHEMA idenfy;
COMMENT ON SCHEMA idenfy IS 'iDenfy verification callbacks: vocabularies, current state, history, quarantine';

/* ------------------------------------------------------------------------
 * Vendor vocabularies.  The union of the vendor's reference page and what
 * its other documents show (../shared/vendor/NOTES.md).  A value missing
 * here is not an error: the callback is stored, the value kept verbatim in
 * verification.unknown_values, and the decision becomes REVIEW.  New values
 * arrive by ALTER TYPE ... ADD VALUE in an upgrade script.
 * ------------------------------------------------------------------------ */
CREATE TYPE idenfy.overall_status AS ENUM (
	'APPROVED', 'DENIED', 'SUSPECTED', 'REVIEWING', 'EXPIRED', 'ACTIVE',
	'DELETED', 'ARCHIVED');
COMMENT ON TYPE idenfy.overall_status IS 'status.overall of a callback';

CREATE TYPE idenfy.face_status AS ENUM (
	'FACE_MATCH', 'FACE_MISMATCH', 'NO_FACE_FOUND', 'TOO_MANY_FACES',
	'FACE_TOO_BLURRY', 'FACE_GLARED', 'FACE_UNCERTAIN', 'FACE_NOT_ANALYSED',
	'FACE_NOT_CHECKED', 'FACE_ERROR', 'AUTO_UNVERIFIABLE', 'FAKE_FACE');
COMMENT ON TYPE idenfy.face_status IS 'status.autoFace and status.manualFace';

CREATE TYPE idenfy.document_status AS ENUM (
	'DOC_VALIDATED', 'DOC_INFO_MISMATCH', 'DOC_NOT_FOUND',
	'DOC_NOT_FULLY_VISIBLE', 'DOC_NOT_SUPPORTED', 'DOC_FACE_NOT_FOUND',
	'DOC_TOO_BLURRY', 'DOC_GLARED', 'DOC_FACE_GLARED', 'MRZ_NOT_FOUND',
	'MRZ_OCR_READING_ERROR', 'BARCODE_NOT_FOUND', 'DOC_EXPIRED',
	'COUNTRY_MISMATCH', 'DOC_TYPE_MISMATCH', 'DOC_SIDE_MISMATCH', 'DOC_DAMAGED',
	'DOC_FAKE', 'DOC_ERROR', 'AUTO_UNVERIFIABLE', 'DOC_NOT_ANALYSED',
	'DOC_NAME_ERROR', 'DOC_SURNAME_ERROR', 'DOC_EXPIRY_ERROR', 'DOC_DOB_ERROR',
	'DOC_PERSONAL_NUMBER_ERROR', 'DOC_NUMBER_ERROR', 'DOC_DATE_OF_ISSUE_ERROR',
	'DOC_SEX_ERROR', 'DOC_NATIONALITY_ERROR', 'COUNTRY_NOT_SUPPORTED',
	'DOC_PERSONAL_CODE_INVALID', 'DOC_SPOOF_DETECTED', 'MRZ_INVALID',
	'DOC_NOT_ALLOWED', 'NFC_INIT_FAILED', 'NFC_FAILLED', 'NFC_TIMEOUT',
	'DOC_SUBTYPE_MISMATCH', 'EID_FAILED', 'NFC_FAILED');
COMMENT ON TYPE idenfy.document_status IS 'status.autoDocument and status.manualDocument (both NFC_FAILLED and NFC_FAILED exist)';

CREATE TYPE idenfy.fraud_tag AS ENUM (
	'FACE_SUSPECTED', 'FACE_BLACKLISTED', 'DOC_FACE_BLACKLISTED',
	'DOC_MOBILE_PHOTO', 'DEV_TOOLS_OPENED', 'DOC_PRINT_SPOOFED', 'FAKE_PHOTO',
	'AML_SUSPECTION', 'AML_FAILED', 'LID_SUSPECTION', 'LID_FAILED', 'RC_FAILED',
	'UTILITY_ADDRESS_CHECK_FAILURE', 'VIRTUAL_CAMERA', 'FACE_IN_BLACKLIST',
	'DOC_FACE_IN_BLACKLIST', 'DUPLICATE_FACE', 'DUPLICATE_DOC_FACE',
	'CRIMINAL_SUSPECTED', 'CRIMINAL_CHECK_FAILED', 'DL_FAILED',
	'DATA_BLACKLISTED', 'DATA_IN_BLACKLIST', 'DUPLICATE_PERSONAL_DATA',
	'ADDRESS_UNVERIFIED', 'PORTRAIT_SUBSTITUTION', 'SANCTIONS_SUSPECTION',
	'SANCTIONS_FAILED', 'AUTO_UNVERIFIABLE');
COMMENT ON TYPE idenfy.fraud_tag IS 'status.fraudTags elements';

CREATE TYPE idenfy.mismatch_tag AS ENUM (
	'NAME', 'SURNAME', 'DOCUMENT_NUMBER', 'PERSONAL_CODE', 'EXPIRY_DATE',
	'DATE_OF_BIRTH', 'DATE_OF_ISSUE', 'FULL_NAME', 'UNDER_AGE', 'OVER_AGE',
	'UNKNOWN_AGE', 'SEX', 'NATIONALITY', 'INVALID_ADDITIONAL_STEP',
	'ADDITIONAL_STEP_NOT_FOUND', 'DOC_INFO_MISMATCH',
	'ADDITIONAL_STEP_INFORMATION_MISMATCH', 'EXPIRED_ADDITIONAL_STEP_INFORMATION',
	'REGISTRY_CENTER_INFO_MISMATCH', 'DRIVER_LICENSE_INFO_MISMATCH',
	'UTILITY_ADDRESS', 'UTILITY_NAME', 'EXPIRED_UTILITY_BILL',
	'NOT_SUPPORTED_POA_DOCUMENT_TYPE', 'NOT_SUPPORTED_POA_DOCUMENT_COUNTRY',
	'POA_COUNTRIES_MISMATCH', 'POA_SCREENSHOT_DETECTED');
COMMENT ON TYPE idenfy.mismatch_tag IS 'status.mismatchTags elements';

CREATE TYPE idenfy.document_type AS ENUM (
	'ID_CARD', 'PASSPORT', 'RESIDENCE_PERMIT', 'DRIVER_LICENSE', 'PAN_CARD',
	'AADHAAR', 'VISA', 'NATIONAL_PASSPORT', 'PROVISIONAL_DRIVER_LICENSE',
	'OLD_ID_CARD', 'MILITARY_CARD', 'BANK_ID_SE', 'ADDRESS_CARD', 'OTHER',
	'SMART_ID', 'YOTI_ID', 'WORK_PERMIT', 'BANK_ID_NO', 'BANK_ID_CZ', 'CLEAR',
	'ONE_ID', 'MIT_ID', 'VERIMI', 'SPID', 'ITSME', 'FTN', 'BORDER_CROSSING',
	'ASYLUM', 'PHOTO_CARD', 'PROOF_OF_AGE_CARD', 'TRAVEL_CARD', 'VOTER_CARD',
	'DIPLOMATIC_ID', 'TRAVEL_PASSPORT');
COMMENT ON TYPE idenfy.document_type IS 'data.docType (an open set: unknown types are kept verbatim)';

CREATE TYPE idenfy.sex AS ENUM ('MALE', 'FEMALE', 'UNDEFINED');
COMMENT ON TYPE idenfy.sex IS 'data.docSex';

CREATE TYPE idenfy.platform AS ENUM (
	'PC', 'MOBILE', 'TABLET', 'MOBILE_APP', 'MOBILE_SDK', 'OTHER');
COMMENT ON TYPE idenfy.platform IS 'platform used to complete the verification';

CREATE TYPE idenfy.additional_step_status AS ENUM ('VALID', 'INVALID', 'NOT_FOUND');
COMMENT ON TYPE idenfy.additional_step_status IS 'status.additionalSteps (a string; not the top-level additionalSteps object)';

CREATE TYPE idenfy.age_estimate AS ENUM (
	'UNDER_8', 'OVER_8', 'UNDER_13', 'OVER_13', 'OVER_16', 'OVER_18',
	'OVER_21', 'OVER_22', 'OVER_25', 'OVER_30');
COMMENT ON TYPE idenfy.age_estimate IS 'data.ageEstimate';

CREATE TYPE idenfy.ip_proxy_risk AS ENUM (
	'VERY_LOW', 'LOW', 'MEDIUM', 'HIGH', 'VERY_HIGH', 'NOT_CHECKED');
COMMENT ON TYPE idenfy.ip_proxy_risk IS 'data.clientIpProxyRiskLevel';

CREATE TYPE idenfy.aml_status AS ENUM (
	'NOT_CHECKED', 'NO_FLAGS', 'FALSE_POSITIVE', 'TRUE_POSITIVE', 'FLAGS_FOUND');
COMMENT ON TYPE idenfy.aml_status IS 'status.amlResultClass, pepsStatus, sanctionsStatus, adverseMediaStatus';

CREATE TYPE idenfy.event_type AS ENUM (
	'IDENTIFICATION', 'IDENTIFICATION_AUTO_FINISHED',
	'IDENTIFICATION_MANUAL_FINISHED', 'IDENTIFICATION_RESUBMITTED',
	'IDENTIFICATION_CANCELLED', 'IDENTIFICATION_EXPIRED', 'DOCUMENT_EXPIRATION');
COMMENT ON TYPE idenfy.event_type IS 'Idenfy-Event-Type header, canonical spelling (every spelling in NOTES.md is accepted and mapped here)';

CREATE TYPE idenfy.expiration_threshold AS ENUM (
	'DOCUMENT_EXPIRES_WITHIN_30_DAYS', 'DOCUMENT_EXPIRES_WITHIN_7_DAYS',
	'DOCUMENT_EXPIRES_WITHIN_1_DAY', 'DOCUMENT_EXPIRED');
COMMENT ON TYPE idenfy.expiration_threshold IS 'expirationThreshold of a DOCUMENT_EXPIRATION callback';

/* Our own vocabularies. */
CREATE TYPE idenfy.ingest_outcome AS ENUM (
	'created', 'updated', 'stale', 'duplicate', 'quarantined', 'erased');
COMMENT ON TYPE idenfy.ingest_outcome IS 'what idenfy_ingest did with a callback (README: ordering rules)';

CREATE TYPE idenfy.decision AS ENUM (
	'PENDING', 'APPROVED', 'DENIED', 'REVIEW', 'EXPIRED');
COMMENT ON TYPE idenfy.decision IS 'effective decision of a verification (README: decision rules)';

CREATE TYPE idenfy.face_match_kind AS ENUM ('selfie', 'document');
COMMENT ON TYPE idenfy.face_match_kind IS 'selfie: data.duplicateFaces; document: data.duplicateDocFaces';

CREATE TYPE idenfy.file_source AS ENUM ('fileUrls', 'additionalStepPdfUrls');
COMMENT ON TYPE idenfy.file_source IS 'which callback map a file URL came from';

/* ------------------------------------------------------------------------
 * Tables.  Every per-verification table has scan_ref first in its primary
 * key and in every unique constraint (it can be distributed by scan_ref).
 * Child tables have no foreign keys: only idenfy_ingest writes them, in the
 * same transaction as their verification, and links (face_link) may point
 * at scanRefs never delivered here.
 * ------------------------------------------------------------------------ */

/* Current state: one row per scanRef, written by idenfy_ingest. */
CREATE TABLE idenfy.verification (
	scan_ref text NOT NULL PRIMARY KEY,
	client_id text,
	external_ref text,
	final boolean NOT NULL,
	has_manual boolean NOT NULL,
	cancelled boolean NOT NULL DEFAULT false,
	platform idenfy.platform,
	overall idenfy.overall_status,
	auto_face idenfy.face_status,
	manual_face idenfy.face_status,
	auto_document idenfy.document_status,
	manual_document idenfy.document_status,
	additional_step_status idenfy.additional_step_status,
	fraud_tags idenfy.fraud_tag[] NOT NULL DEFAULT '{}',
	mismatch_tags idenfy.mismatch_tag[] NOT NULL DEFAULT '{}',
	suspicion_reasons text[],
	deny_reasons text[],
	aml_result_class idenfy.aml_status,
	peps_status idenfy.aml_status,
	sanctions_status idenfy.aml_status,
	adverse_media_status idenfy.aml_status,
	start_time timestamptz,
	finish_time timestamptz,
	client_ip inet,
	client_ip_country text,
	client_location text,
	risk_score numeric,
	risk_level text,
	risk_assessment jsonb,
	company_id text,
	beneficiary_id text,
	manual_address_match boolean,
	additional_steps jsonb,
	address_verification jsonb,
	registry_center_check jsonb,
	questionnaire_answers jsonb,
	unknown_values jsonb,
	event_type idenfy.event_type,
	decision idenfy.decision NOT NULL,
	decision_reasons text[] NOT NULL DEFAULT '{}',
	callback_id bigint NOT NULL,
	first_received_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL
);
COMMENT ON TABLE idenfy.verification IS 'current state of each verification (one row per scanRef), as the ordering rules choose it';
COMMENT ON COLUMN idenfy.verification.has_manual IS 'status.manualFace or status.manualDocument is not null';
COMMENT ON COLUMN idenfy.verification.cancelled IS 'the current callback came with event type IDENTIFICATION_CANCELLED';
COMMENT ON COLUMN idenfy.verification.risk_score IS 'riskAssessment.riskScore or riskAssessment.risk_score';
COMMENT ON COLUMN idenfy.verification.risk_level IS 'riskAssessment.riskLevel or riskAssessment.risk_level';
COMMENT ON COLUMN idenfy.verification.unknown_values IS 'vendor values our enum types do not know, as {"json.path": value}; NULL when none';
COMMENT ON COLUMN idenfy.verification.event_type IS 'event type of the callback that set the current state (NULL when not given or unknown)';
COMMENT ON COLUMN idenfy.verification.decision IS 'effective decision, kept current by ingest and by tag policy changes';
COMMENT ON COLUMN idenfy.verification.decision_reasons IS 'why: e.g. FACE:FACE_MISMATCH, TAG:DOC_MOBILE_PHOTO, UNKNOWN_VALUE:status.fraudTags';
COMMENT ON COLUMN idenfy.verification.callback_id IS 'idenfy.callback.id of the callback that set the current state';

/* Document data (data.* of the current callback): personal data. */
CREATE TABLE idenfy.document (
	scan_ref text NOT NULL PRIMARY KEY,
	doc_first_name text,
	doc_last_name text,
	doc_number text,
	doc_personal_code text,
	doc_expiry_raw text,
	doc_expiry date,
	doc_dob_raw text,
	doc_dob date,
	doc_date_of_issue_raw text,
	doc_date_of_issue date,
	doc_type idenfy.document_type,
	doc_sex idenfy.sex,
	doc_nationality text,
	doc_issuing_country text,
	doc_temporary_address text,
	doc_birth_name text,
	doc_patronymic text,
	birth_place text,
	authority text,
	address text,
	mothers_maiden_name text,
	driver_license_category text,
	manually_data_changed boolean,
	full_name text,
	selected_country text,
	org_first_name text,
	org_last_name text,
	org_nationality text,
	org_birth_place text,
	org_authority text,
	org_address text,
	org_temporary_address text,
	org_mothers_maiden_name text,
	org_patronymic text,
	org_birth_name text,
	age_estimate idenfy.age_estimate,
	ip_proxy_risk idenfy.ip_proxy_risk,
	manual_address text,
	additional_data jsonb
);
COMMENT ON TABLE idenfy.document IS 'document data of the current callback (data.*): personal data';
COMMENT ON COLUMN idenfy.document.doc_expiry IS 'doc_expiry_raw parsed as YYYY-MM-DD; NULL when it does not parse';
COMMENT ON COLUMN idenfy.document.doc_dob IS 'doc_dob_raw parsed as YYYY-MM-DD; NULL when it does not parse';
COMMENT ON COLUMN idenfy.document.doc_date_of_issue IS 'doc_date_of_issue_raw parsed as YYYY-MM-DD; NULL when it does not parse';
COMMENT ON COLUMN idenfy.document.manual_address IS 'manualAddress (top level, or inside data in some payloads)';
CREATE INDEX document_doc_expiry_idx ON idenfy.document (doc_expiry) WHERE doc_expiry IS NOT NULL;
COMMENT ON INDEX idenfy.document_doc_expiry_idx IS 'expired and expiring documents';

/* Duplicate faces: links to other scanRefs, which may never have been delivered. */
CREATE TABLE idenfy.face_link (
	scan_ref text NOT NULL,
	kind idenfy.face_match_kind NOT NULL,
	other_scan_ref text NOT NULL,
	PRIMARY KEY (scan_ref, kind, other_scan_ref)
);
COMMENT ON TABLE idenfy.face_link IS 'data.duplicateFaces (selfie) and data.duplicateDocFaces (document) of the current callback';
CREATE INDEX face_link_other_idx ON idenfy.face_link (other_scan_ref);
COMMENT ON INDEX idenfy.face_link_other_idx IS 'the reverse direction: who listed this scanRef';

/* File URLs: pre-signed links, with the expiry of each. */
CREATE TABLE idenfy.file_url (
	scan_ref text NOT NULL,
	source idenfy.file_source NOT NULL,
	name text NOT NULL,
	url text NOT NULL,
	expires_at timestamptz,
	PRIMARY KEY (scan_ref, source, name)
);
COMMENT ON TABLE idenfy.file_url IS 'fileUrls and additionalStepPdfUrls of the current callback: personal data';
COMMENT ON COLUMN idenfy.file_url.expires_at IS 'the Expires= query parameter of the pre-signed link; NULL when absent';

/* AML and LID service results. */
CREATE TABLE idenfy.service_result (
	scan_ref text NOT NULL,
	list text NOT NULL CHECK (list IN ('AML', 'LID')),
	ord integer NOT NULL,
	service_name text,
	service_group_type text,
	uid text,
	overall_status text,
	service_suspected boolean,
	service_used boolean,
	service_found boolean,
	check_successful boolean,
	error_message text,
	data jsonb,
	PRIMARY KEY (scan_ref, list, ord)
);
COMMENT ON TABLE idenfy.service_result IS 'AML and LID service results of the current callback, in callback order; data holds the hits (personal data)';

/* DOCUMENT_EXPIRATION notices: one row per scanRef and threshold. */
CREATE TABLE idenfy.document_expiration (
	scan_ref text NOT NULL,
	threshold_raw text NOT NULL,
	threshold idenfy.expiration_threshold,
	client_id text,
	document_expiration_raw text,
	document_expiration date,
	callback_id bigint NOT NULL,
	received_at timestamptz NOT NULL,
	PRIMARY KEY (scan_ref, threshold_raw)
);
COMMENT ON TABLE idenfy.document_expiration IS 'DOCUMENT_EXPIRATION callbacks (30, 7, 1 days before expiry and on the day)';
COMMENT ON COLUMN idenfy.document_expiration.threshold IS 'NULL when threshold_raw is a value our enum type does not know';

/*
 * History: every distinct callback.  (scan_ref, payload_sha256) is the
 * duplicate check: a redelivery of the same payload is not stored again.
 */
CREATE SEQUENCE idenfy.callback_id_seq;
COMMENT ON SEQUENCE idenfy.callback_id_seq IS 'arrival order of callbacks';
CREATE TABLE idenfy.callback (
	scan_ref text NOT NULL,
	payload_sha256 bytea NOT NULL,
	id bigint NOT NULL DEFAULT pg_catalog.nextval('idenfy.callback_id_seq'),
	received_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	event_type idenfy.event_type,
	event_type_raw text,
	final boolean,
	has_manual boolean,
	outcome idenfy.ingest_outcome NOT NULL,
	payload jsonb,
	PRIMARY KEY (scan_ref, payload_sha256)
);
ALTER SEQUENCE idenfy.callback_id_seq OWNED BY idenfy.callback.id;
ALTER TABLE idenfy.callback ALTER COLUMN payload SET COMPRESSION lz4;
COMMENT ON TABLE idenfy.callback IS 'history: every distinct callback as received, with its outcome';
COMMENT ON COLUMN idenfy.callback.payload_sha256 IS 'SHA-256 of the payload as jsonb: identical payloads are duplicates';
COMMENT ON COLUMN idenfy.callback.event_type_raw IS 'the event type header exactly as given';
COMMENT ON COLUMN idenfy.callback.outcome IS 'created, updated, stale, or erased (a callback for an erased scanRef: fingerprint only); duplicates are not stored again';
COMMENT ON COLUMN idenfy.callback.payload IS 'the callback as received (jsonb, lz4-compressed): personal data; NULL once erased (payload_sha256 stays, so a redelivery is a duplicate)';

/* Quarantine: invalid callbacks kept when idenfy.on_invalid = 'quarantine'. */
CREATE SEQUENCE idenfy.quarantine_id_seq;
COMMENT ON SEQUENCE idenfy.quarantine_id_seq IS 'arrival order of quarantined callbacks';
CREATE TABLE idenfy.quarantine (
	scan_ref text NOT NULL,
	id bigint NOT NULL DEFAULT pg_catalog.nextval('idenfy.quarantine_id_seq'),
	received_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	event_type_raw text,
	reason text NOT NULL CHECK (reason IN ('invalid', 'signature')),
	sqlstate text NOT NULL,
	message text NOT NULL,
	detail text,
	json_path text,
	payload jsonb,
	body bytea,
	PRIMARY KEY (scan_ref, id)
);
ALTER SEQUENCE idenfy.quarantine_id_seq OWNED BY idenfy.quarantine.id;
ALTER TABLE idenfy.quarantine ALTER COLUMN payload SET COMPRESSION lz4;
COMMENT ON TABLE idenfy.quarantine IS 'callbacks that failed validation, with the error; nothing else was written for them';
COMMENT ON COLUMN idenfy.quarantine.scan_ref IS 'the payload''s scanRef when it is a usable string, else the empty string';
COMMENT ON COLUMN idenfy.quarantine.payload IS 'the callback as received: personal data';
COMMENT ON COLUMN idenfy.quarantine.json_path IS 'the field that broke the contract ("data.docFirstName", "$" for the whole body, "Idenfy-Signature")';
COMMENT ON COLUMN idenfy.quarantine.body IS 'the raw request body, when it never became jsonb (signature failure, invalid JSON): personal data';

/* Tag policy: how SUSPECTED verifications and tags resolve (README: decision rules). */
CREATE TABLE idenfy.tag_policy (
	tag text NOT NULL PRIMARY KEY,
	policy idenfy.decision NOT NULL CHECK (policy IN ('APPROVED', 'REVIEW', 'DENIED'))
);
COMMENT ON TABLE idenfy.tag_policy IS 'customer policy per fraud or mismatch tag; a tag without a row counts as REVIEW';

/* Signing keys of the webhooks: readable by the extension's owner only. */
CREATE TABLE idenfy.signing_key (
	name text NOT NULL PRIMARY KEY,
	secret bytea NOT NULL,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE idenfy.signing_key IS 'HMAC-SHA256 keys of the webhooks (several at once during a rotation); owner only';
REVOKE ALL ON idenfy.signing_key FROM PUBLIC;

/* Erased scanRefs: what stays after idenfy_forget_* and idenfy_purge. */
CREATE TABLE idenfy.erasure (
	scan_ref text NOT NULL PRIMARY KEY,
	erased_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	reason text NOT NULL CHECK (reason IN ('request', 'retention')),
	decision_kept boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE idenfy.erasure IS 'scanRefs whose personal data was erased, when and why; later callbacks for them are kept as fingerprints only';
COMMENT ON COLUMN idenfy.erasure.decision_kept IS 'retention purge that kept the verification row (decision, statuses, dates) without its personal fields';

SELECT pg_catalog.pg_extension_config_dump('idenfy.verification', '');
SELECT pg_catalog.pg_extension_config_dump('idenfy.document', '');
SELECT pg_catalog.pg_extension_config_dump('idenfy.face_link', '');
SELECT pg_catalog.pg_extension_config_dump('idenfy.file_url', '');
SELECT pg_catalog.pg_extension_config_dump('idenfy.service_result', '');
SELECT pg_catalog.pg_extension_config_dump('idenfy.document_expiration', '');
SELECT pg_catalog.pg_extension_config_dump('idenfy.callback', '');
SELECT pg_catalog.pg_extension_config_dump('idenfy.callback_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('idenfy.quarantine', '');
SELECT pg_catalog.pg_extension_config_dump('idenfy.quarantine_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('idenfy.tag_policy', '');
SELECT pg_catalog.pg_extension_config_dump('idenfy.signing_key', '');
SELECT pg_catalog.pg_extension_config_dump('idenfy.erasure', '');

/* ------------------------------------------------------------------------
 * Entry points.
 * ------------------------------------------------------------------------ */
CREATE FUNCTION @extschema@.idenfy_ingest(
	payload jsonb,
	event_type text DEFAULT NULL,
	OUT scan_ref text,
	OUT outcome idenfy.ingest_outcome,
	OUT decision idenfy.decision,
	OUT callback_id bigint)
RETURNS record
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'idenfy_ingest';
COMMENT ON FUNCTION @extschema@.idenfy_ingest(jsonb, text) IS
'validate one iDenfy callback and store it: returns its scanRef, the outcome (created, updated, stale, duplicate, quarantined), the effective decision and the history row id';

/* The decision rules recomputed for stored verifications (tag policy changes). */
CREATE FUNCTION idenfy.recompute_decisions(tags text[])
RETURNS bigint
LANGUAGE c VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'idenfy_recompute_decisions';
COMMENT ON FUNCTION idenfy.recompute_decisions(text[]) IS
'recompute the stored decision of every verification carrying one of these tags (NULL element: every verification); returns the number changed';

CREATE FUNCTION idenfy.tag_policy_changed()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	changed text[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		SELECT pg_catalog.array_agg(n.tag) INTO changed FROM new_rows n;
	ELSIF TG_OP = 'DELETE' THEN
		SELECT pg_catalog.array_agg(o.tag) INTO changed FROM old_rows o;
	ELSE
		SELECT pg_catalog.array_agg(t.tag) INTO changed
		  FROM (SELECT n.tag FROM new_rows n UNION SELECT o.tag FROM old_rows o) t;
	END IF;
	IF changed IS NOT NULL THEN
		PERFORM idenfy.recompute_decisions(changed);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION idenfy.tag_policy_changed() IS 'keeps stored decisions current when the tag policy changes';

CREATE TRIGGER tag_policy_insert AFTER INSERT ON idenfy.tag_policy
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION idenfy.tag_policy_changed();
CREATE TRIGGER tag_policy_update AFTER UPDATE ON idenfy.tag_policy
	REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION idenfy.tag_policy_changed();
CREATE TRIGGER tag_policy_delete AFTER DELETE ON idenfy.tag_policy
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION idenfy.tag_policy_changed();

/* Notifications: a row trigger, so every path that changes a decision notifies. */
CREATE FUNCTION idenfy.notify_decision()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'idenfy_notify_decision';
COMMENT ON FUNCTION idenfy.notify_decision() IS
'NOTIFY on channel idenfy.notify_channel with {scanRef, clientId, decision, previousDecision, final}';

CREATE TRIGGER verification_notify_insert AFTER INSERT ON idenfy.verification
	FOR EACH ROW EXECUTE FUNCTION idenfy.notify_decision();
CREATE TRIGGER verification_notify_update AFTER UPDATE ON idenfy.verification
	FOR EACH ROW
	WHEN (OLD.decision IS DISTINCT FROM NEW.decision OR OLD.final IS DISTINCT FROM NEW.final)
	EXECUTE FUNCTION idenfy.notify_decision();
CREATE TRIGGER verification_notify_delete AFTER DELETE ON idenfy.verification
	FOR EACH ROW EXECUTE FUNCTION idenfy.notify_decision();
COMMENT ON TRIGGER verification_notify_insert ON idenfy.verification IS 'a new verification: notify its first decision';
COMMENT ON TRIGGER verification_notify_update ON idenfy.verification IS 'notify when the decision or finality changes';
COMMENT ON TRIGGER verification_notify_delete ON idenfy.verification IS 'notify an erasure ({"erased": true}, no clientId)';
COMMENT ON TRIGGER tag_policy_insert ON idenfy.tag_policy IS 'recompute the decisions of verifications with the new tags';
COMMENT ON TRIGGER tag_policy_update ON idenfy.tag_policy IS 'recompute the decisions of verifications with the changed tags';
COMMENT ON TRIGGER tag_policy_delete ON idenfy.tag_policy IS 'recompute the decisions of verifications with the removed tags';

/* ------------------------------------------------------------------------
 * Questions apps and analysts ask.  They read the tables; none parses a
 * callback.
 * ------------------------------------------------------------------------ */
CREATE INDEX verification_decision_idx ON idenfy.verification (decision);
COMMENT ON INDEX idenfy.verification_decision_idx IS 'decision counts and lists by decision (index-only scans)';
CREATE INDEX verification_doc_expired_idx ON idenfy.verification (scan_ref)
	WHERE manual_document = 'DOC_EXPIRED' OR (manual_document IS NULL AND auto_document = 'DOC_EXPIRED');
COMMENT ON INDEX idenfy.verification_doc_expired_idx IS 'verifications whose document result is DOC_EXPIRED';

CREATE FUNCTION @extschema@.idenfy_effective_decision(scan_ref text)
RETURNS idenfy.decision
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT v.decision FROM idenfy.verification v
	 WHERE v.scan_ref OPERATOR(pg_catalog.=) idenfy_effective_decision.scan_ref
$$;
COMMENT ON FUNCTION @extschema@.idenfy_effective_decision(text) IS
'effective decision of a verification (README: decision rules); NULL for a scanRef never seen';

CREATE FUNCTION @extschema@.idenfy_decision(scan_ref text,
	OUT decision idenfy.decision, OUT reasons text[], OUT final boolean,
	OUT overall idenfy.overall_status, OUT updated_at timestamptz)
RETURNS record
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT v.decision, v.decision_reasons, v.final, v.overall, v.updated_at
	  FROM idenfy.verification v
	 WHERE v.scan_ref OPERATOR(pg_catalog.=) idenfy_decision.scan_ref
$$;
COMMENT ON FUNCTION @extschema@.idenfy_decision(text) IS
'effective decision with the reasons behind it (e.g. FACE:FACE_MISMATCH, TAG:DOC_MOBILE_PHOTO, UNKNOWN_VALUE:status.fraudTags)';

CREATE FUNCTION @extschema@.idenfy_duplicate_faces(scan_ref text)
RETURNS TABLE (other_scan_ref text, kind idenfy.face_match_kind, direction text,
			   other_client_id text, other_decision idenfy.decision, other_known boolean)
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
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
	 ORDER BY l.other, l.kind
$$;
COMMENT ON FUNCTION @extschema@.idenfy_duplicate_faces(text) IS
'other verifications whose selfie or document face matched this one, in both directions (listed: this one named the other; listed_by: the other named this one), with the other''s clientId and decision when it is stored here';

CREATE FUNCTION idenfy.face_components(OUT scan_ref text, OUT group_id text)
RETURNS SETOF record
LANGUAGE c VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'idenfy_face_components';
COMMENT ON FUNCTION idenfy.face_components() IS
'every scanRef of a duplicate-face link with the id of its connected group (its smallest scanRef): union-find over idenfy.face_link';
REVOKE EXECUTE ON FUNCTION idenfy.face_components() FROM PUBLIC;

CREATE FUNCTION @extschema@.idenfy_face_groups()
RETURNS TABLE (group_id text, size integer, scan_refs text[], client_ids text[], decisions idenfy.decision[])
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.group_id, pg_catalog.count(*)::integer,
		   pg_catalog.array_agg(c.scan_ref ORDER BY c.scan_ref COLLATE "C"),
		   pg_catalog.array_remove(pg_catalog.array_agg(DISTINCT v.client_id), NULL),
		   pg_catalog.array_agg(v.decision ORDER BY c.scan_ref COLLATE "C")
	  FROM idenfy.face_components() c
	  LEFT JOIN idenfy.verification v ON v.scan_ref OPERATOR(pg_catalog.=) c.scan_ref
	 GROUP BY c.group_id
	 ORDER BY pg_catalog.count(*) DESC, c.group_id COLLATE "C"
$$;
COMMENT ON FUNCTION @extschema@.idenfy_face_groups() IS
'connected groups of verifications linked by duplicate faces (A~B, B~C: one group), for fraud-ring hunting: group id (its smallest scanRef), size, scanRefs, distinct clientIds, decisions (NULL where not stored here)';

CREATE FUNCTION @extschema@.idenfy_document_expired(scan_ref text, as_of date DEFAULT CURRENT_DATE)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN pg_catalog.bool_or(f.expired) THEN true
				WHEN pg_catalog.count(f.expired) OPERATOR(pg_catalog.>) 0 THEN false END
	  FROM (SELECT d.doc_expiry OPERATOR(pg_catalog.<=) as_of AS expired
			  FROM idenfy.document d
			 WHERE d.scan_ref OPERATOR(pg_catalog.=) idenfy_document_expired.scan_ref
			UNION ALL
			SELECT true FROM idenfy.verification v
			 WHERE v.scan_ref OPERATOR(pg_catalog.=) idenfy_document_expired.scan_ref
			   AND COALESCE(v.manual_document, v.auto_document) OPERATOR(pg_catalog.=) 'DOC_EXPIRED'
			UNION ALL
			SELECT CASE WHEN e.document_expiration IS NOT NULL
						THEN e.document_expiration OPERATOR(pg_catalog.<=) as_of
						ELSE e.threshold OPERATOR(pg_catalog.=) 'DOCUMENT_EXPIRED' END
			  FROM idenfy.document_expiration e
			 WHERE e.scan_ref OPERATOR(pg_catalog.=) idenfy_document_expired.scan_ref) f
$$;
COMMENT ON FUNCTION @extschema@.idenfy_document_expired(text, date) IS
'true when the verification''s document expired on or before as_of (docExpiry, DOC_EXPIRED result, DOCUMENT_EXPIRATION callbacks), false when its expiry is known and later, NULL when unknown';

/* Each person's current verification: the most recent approved one, else the most recent. */
CREATE VIEW idenfy.client_current_verification AS
	SELECT DISTINCT ON (v.client_id) v.client_id, v.scan_ref
	  FROM idenfy.verification v
	 WHERE v.client_id IS NOT NULL
	 ORDER BY v.client_id, (v.decision OPERATOR(pg_catalog.=) 'APPROVED') DESC,
			  COALESCE(v.finish_time, v.first_received_at) DESC, v.scan_ref;
COMMENT ON VIEW idenfy.client_current_verification IS
'per clientId, the verification that speaks for the person: the most recent APPROVED one, else the most recent';
CREATE INDEX verification_client_recent_idx ON idenfy.verification
	(client_id, (decision = 'APPROVED') DESC, (COALESCE(finish_time, first_received_at)) DESC, scan_ref);
COMMENT ON INDEX idenfy.verification_client_recent_idx IS 'a person''s verifications, most recent approved first: serves idenfy.client_current_verification and lookups by client_id';

/*
 * The expiry facts of both listings, one pass per source with hash joins,
 * each person's current verification computed once (materialized).
 * Dates in (after, until]; after NULL: no lower bound.  with_results also
 * counts DOC_EXPIRED results and DOCUMENT_EXPIRED notices without a date.
 */
CREATE FUNCTION idenfy.document_expiry_report(after date, until date, with_results boolean,
	per_person boolean)
RETURNS TABLE (client_id text, scan_ref text, doc_type idenfy.document_type, expiry date, source text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET work_mem = '64MB'
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
	  LEFT JOIN current_verification c ON c.scan_ref OPERATOR(pg_catalog.=) f.scan_ref
	 WHERE NOT per_person OR v.client_id IS NULL OR c.scan_ref IS NOT NULL
$$;
COMMENT ON FUNCTION idenfy.document_expiry_report(date, date, boolean, boolean) IS
'documents whose expiry falls in (after, until], with the source of each fact; the body of idenfy_expired_documents and idenfy_expiring_documents';

CREATE FUNCTION @extschema@.idenfy_expired_documents(as_of date DEFAULT CURRENT_DATE,
	per_person boolean DEFAULT true)
RETURNS TABLE (client_id text, scan_ref text, doc_type idenfy.document_type, expiry date, source text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT r.* FROM idenfy.document_expiry_report(NULL, as_of, true, per_person) r
	 ORDER BY r.client_id, r.scan_ref, r.source
$$;
COMMENT ON FUNCTION @extschema@.idenfy_expired_documents(date, boolean) IS
'verifications whose document expired on or before as_of, with the source of the fact; per_person: only each clientId''s current verification (a person who re-verified with a new document is not listed)';

CREATE FUNCTION @extschema@.idenfy_expiring_documents(within interval,
	as_of date DEFAULT CURRENT_DATE, per_person boolean DEFAULT true)
RETURNS TABLE (client_id text, scan_ref text, doc_type idenfy.document_type, expiry date, source text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT r.* FROM idenfy.document_expiry_report(as_of, (as_of OPERATOR(pg_catalog.+) within)::date,
												  false, per_person) r
	 ORDER BY r.expiry, r.client_id, r.scan_ref, r.source
$$;
COMMENT ON FUNCTION @extschema@.idenfy_expiring_documents(interval, date, boolean) IS
'verifications whose document expires after as_of and within the interval, for re-verification campaigns';

/*
 * Analyst views.  No raw payloads.  Personal fields (names, document
 * numbers, personal codes, dates of birth, addresses, IPs) are masked as
 * '***' unless the reader is a member of the role idenfy_personal_data
 * (README: Personal data); the extension does not create that role.
 */
CREATE FUNCTION idenfy.reader_sees_personal_data()
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
					WHERE r.rolname OPERATOR(pg_catalog.=) 'idenfy_personal_data'
					  AND pg_catalog.pg_has_role(CURRENT_USER, r.oid, 'MEMBER'))
$$;
COMMENT ON FUNCTION idenfy.reader_sees_personal_data() IS
'true when the current user is a member of the role idenfy_personal_data (superusers are members of every role)';

CREATE FUNCTION idenfy.mask(value text, visible boolean)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN visible OR value IS NULL THEN value ELSE '***' END $$;
COMMENT ON FUNCTION idenfy.mask(text, boolean) IS 'the value when visible, else ''***'' (NULL stays NULL)';

CREATE VIEW idenfy.verifications AS
	SELECT v.scan_ref, v.client_id, v.external_ref, v.decision, v.decision_reasons, v.final,
		   v.overall, v.cancelled,
		   COALESCE(v.manual_face, v.auto_face) AS face,
		   COALESCE(v.manual_document, v.auto_document) AS document_result,
		   v.auto_face, v.manual_face, v.auto_document, v.manual_document,
		   v.additional_step_status, v.fraud_tags, v.mismatch_tags,
		   v.aml_result_class, v.peps_status, v.sanctions_status, v.adverse_media_status,
		   v.unknown_values IS NOT NULL AS has_unknown_values, v.unknown_values,
		   v.platform, v.start_time, v.finish_time, v.client_ip_country,
		   v.risk_score, v.risk_level, v.event_type,
		   d.doc_type, d.doc_issuing_country, d.doc_nationality, d.selected_country,
		   d.doc_expiry, d.doc_date_of_issue, d.age_estimate, d.ip_proxy_risk,
		   v.first_received_at, v.updated_at,
		   idenfy.mask(d.doc_first_name, r.visible) AS doc_first_name,
		   idenfy.mask(d.doc_last_name, r.visible) AS doc_last_name,
		   idenfy.mask(d.full_name, r.visible) AS full_name,
		   idenfy.mask(d.doc_number, r.visible) AS doc_number,
		   idenfy.mask(d.doc_personal_code, r.visible) AS doc_personal_code,
		   idenfy.mask(pg_catalog.to_char(d.doc_dob, 'YYYY-MM-DD'), r.visible) AS doc_dob,
		   idenfy.mask(d.address, r.visible) AS address,
		   idenfy.mask(d.birth_place, r.visible) AS birth_place,
		   idenfy.mask(pg_catalog.host(v.client_ip), r.visible) AS client_ip,
		   idenfy.mask(v.client_location, r.visible) AS client_location
	  FROM idenfy.verification v
	  LEFT JOIN idenfy.document d ON d.scan_ref OPERATOR(pg_catalog.=) v.scan_ref
	 CROSS JOIN (SELECT idenfy.reader_sees_personal_data() AS visible) r;
COMMENT ON VIEW idenfy.verifications IS
'one row per verification with its decision, statuses, tags and document facts; personal fields masked unless the reader is in role idenfy_personal_data; no payloads';

CREATE VIEW idenfy.callbacks AS
	SELECT c.id, c.scan_ref, c.received_at, c.event_type, c.event_type_raw, c.final,
		   c.has_manual, c.outcome, pg_catalog.pg_column_size(c.payload) AS payload_bytes
	  FROM idenfy.callback c;
COMMENT ON VIEW idenfy.callbacks IS 'callback history without the payloads';

CREATE VIEW idenfy.quarantined AS
	SELECT q.id, q.scan_ref, q.received_at, q.event_type_raw, q.reason, q.sqlstate, q.json_path,
		   q.message, q.detail
	  FROM idenfy.quarantine q;
COMMENT ON VIEW idenfy.quarantined IS 'quarantined callbacks and their errors, without the payloads';

/* The same entry point with the scanRef as a plain argument, so that a
 * distributed setup (Citus create_distributed_function) can route the call
 * to the node holding that scanRef.  A separate name, not an overload: with
 * untyped literals an overload (text, jsonb, text) would capture
 * idenfy_ingest('{...}', 'EVENT') calls. */
CREATE FUNCTION @extschema@.idenfy_ingest_routed(
	for_scan_ref text,
	payload jsonb,
	event_type text DEFAULT NULL,
	OUT scan_ref text,
	OUT outcome idenfy.ingest_outcome,
	OUT decision idenfy.decision,
	OUT callback_id bigint)
RETURNS record
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'idenfy_ingest_routed';
COMMENT ON FUNCTION @extschema@.idenfy_ingest_routed(text, jsonb, text) IS
'idenfy_ingest with the scanRef as its first argument (which must equal the payload''s scanRef), for routing by scanRef in a distributed setup';

/* ------------------------------------------------------------------------
 * Signed callbacks.
 * ------------------------------------------------------------------------ */
CREATE FUNCTION @extschema@.idenfy_ingest_signed(
	body bytea,
	signature text,
	event_type text DEFAULT NULL,
	OUT scan_ref text,
	OUT outcome idenfy.ingest_outcome,
	OUT decision idenfy.decision,
	OUT callback_id bigint)
RETURNS record
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'idenfy_ingest_signed';
COMMENT ON FUNCTION @extschema@.idenfy_ingest_signed(bytea, text, text) IS
'verify the Idenfy-Signature header (hex HMAC-SHA256 of the exact body bytes) against the signing keys, then parse the body and ingest it like idenfy_ingest';

CREATE FUNCTION @extschema@.idenfy_ingest_signed(
	body text,
	signature text,
	event_type text DEFAULT NULL,
	OUT scan_ref text,
	OUT outcome idenfy.ingest_outcome,
	OUT decision idenfy.decision,
	OUT callback_id bigint)
RETURNS record
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'idenfy_ingest_signed_text';
COMMENT ON FUNCTION @extschema@.idenfy_ingest_signed(text, text, text) IS
'idenfy_ingest_signed for a body passed as text (its bytes in the database encoding are what is verified)';

CREATE FUNCTION @extschema@.idenfy_signing_key_add(name text, secret text)
RETURNS void
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO idenfy.signing_key (name, secret)
	VALUES (idenfy_signing_key_add.name, pg_catalog.convert_to(idenfy_signing_key_add.secret, 'UTF8'))
	ON CONFLICT ON CONSTRAINT signing_key_pkey DO UPDATE SET secret = EXCLUDED.secret, created_at = pg_catalog.now()
$$;
COMMENT ON FUNCTION @extschema@.idenfy_signing_key_add(text, text) IS
'add (or replace) a webhook signing key; several can be active at once';

CREATE FUNCTION @extschema@.idenfy_signing_key_remove(name text)
RETURNS boolean
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	WITH d AS (DELETE FROM idenfy.signing_key k
				WHERE k.name OPERATOR(pg_catalog.=) idenfy_signing_key_remove.name RETURNING 1)
	SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 FROM d
$$;
COMMENT ON FUNCTION @extschema@.idenfy_signing_key_remove(text) IS 'remove a webhook signing key; true when it existed';

/*
 * Privileges.  The entry points and query functions run with the owner's
 * rights (SECURITY DEFINER, pinned search_path): a webhook role needs
 * EXECUTE on the ingest functions only, an analyst role SELECT on the
 * analyst views and EXECUTE on the query functions (README: Privileges).
 * Nobody gets anything by default.
 */
REVOKE ALL ON ALL TABLES IN SCHEMA idenfy FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION
	@extschema@.idenfy_ingest(jsonb, text),
	@extschema@.idenfy_ingest_routed(text, jsonb, text),
	@extschema@.idenfy_ingest_signed(bytea, text, text),
	@extschema@.idenfy_ingest_signed(text, text, text),
	@extschema@.idenfy_signing_key_add(text, text),
	@extschema@.idenfy_signing_key_remove(text),
	idenfy.recompute_decisions(text[])
FROM PUBLIC;
/* the query functions answer from tables analysts cannot read directly */
ALTER FUNCTION @extschema@.idenfy_effective_decision(text) SECURITY DEFINER;
ALTER FUNCTION @extschema@.idenfy_decision(text) SECURITY DEFINER;
ALTER FUNCTION @extschema@.idenfy_duplicate_faces(text) SECURITY DEFINER;
ALTER FUNCTION @extschema@.idenfy_face_groups() SECURITY DEFINER;
ALTER FUNCTION @extschema@.idenfy_document_expired(text, date) SECURITY DEFINER;
ALTER FUNCTION @extschema@.idenfy_expired_documents(date, boolean) SECURITY DEFINER;
ALTER FUNCTION @extschema@.idenfy_expiring_documents(interval, date, boolean) SECURITY DEFINER;
REVOKE EXECUTE ON FUNCTION
	@extschema@.idenfy_effective_decision(text),
	@extschema@.idenfy_decision(text),
	@extschema@.idenfy_duplicate_faces(text),
	@extschema@.idenfy_face_groups(),
	@extschema@.idenfy_document_expired(text, date),
	@extschema@.idenfy_expired_documents(date, boolean),
	@extschema@.idenfy_expiring_documents(interval, date, boolean),
	idenfy.document_expiry_report(date, date, boolean, boolean)
FROM PUBLIC;

/* Re-apply stored callbacks (after an upgrade adds vendor values). */
CREATE FUNCTION @extschema@.idenfy_reprocess(all_verifications boolean DEFAULT false,
	OUT reprocessed bigint, OUT decision_changed bigint, OUT still_unknown bigint, OUT failed bigint)
RETURNS record
LANGUAGE c VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'idenfy_reprocess';
COMMENT ON FUNCTION @extschema@.idenfy_reprocess(boolean) IS
're-read the current callback of every verification with unknown vendor values (all: every verification), decide again and rewrite its current state; run after ALTER EXTENSION idenfy UPDATE, in a new transaction';
REVOKE EXECUTE ON FUNCTION @extschema@.idenfy_reprocess(boolean) FROM PUBLIC;

/* ------------------------------------------------------------------------
 * Personal data lifecycle: erasure on request, retention purge.
 * ------------------------------------------------------------------------ */
CREATE INDEX document_expiration_client_id_idx ON idenfy.document_expiration (client_id);
COMMENT ON INDEX idenfy.document_expiration_client_id_idx IS 'a person''s expiration notices (idenfy_forget_client)';
CREATE INDEX verification_updated_at_idx ON idenfy.verification USING brin (updated_at);
COMMENT ON INDEX idenfy.verification_updated_at_idx IS 'retention purge candidates (BRIN: cheap to keep current)';

CREATE FUNCTION idenfy.erase_scan(target text, reason text, keep_decision boolean,
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
	DELETE FROM idenfy.file_url f WHERE f.scan_ref OPERATOR(pg_catalog.=) target;
	GET DIAGNOSTICS file_urls = ROW_COUNT;
	DELETE FROM idenfy.service_result s WHERE s.scan_ref OPERATOR(pg_catalog.=) target;
	GET DIAGNOSTICS service_results = ROW_COUNT;
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
COMMENT ON FUNCTION idenfy.erase_scan(text, text, boolean) IS
'erase every piece of personal data of one scanRef from every table, under the verification row lock ingest takes; keeps the fingerprints (callback.payload_sha256) and a row in idenfy.erasure';

CREATE FUNCTION @extschema@.idenfy_forget_scan(scan_ref text,
	OUT verifications bigint, OUT documents bigint, OUT callbacks bigint, OUT file_urls bigint,
	OUT service_results bigint, OUT face_links bigint, OUT expiration_notices bigint,
	OUT quarantined bigint)
RETURNS record
LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM idenfy.erase_scan(idenfy_forget_scan.scan_ref, 'request', false) $$;
COMMENT ON FUNCTION @extschema@.idenfy_forget_scan(text) IS
'erase a verification''s personal data everywhere (right to erasure); idempotent; returns what was removed';

CREATE FUNCTION @extschema@.idenfy_forget_client(client_id text,
	OUT scan_refs bigint, OUT verifications bigint, OUT documents bigint, OUT callbacks bigint,
	OUT file_urls bigint, OUT service_results bigint, OUT face_links bigint,
	OUT expiration_notices bigint, OUT quarantined bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s text;
	r record;
	who text := idenfy_forget_client.client_id;
	needle bytea := pg_catalog.convert_to('"' OPERATOR(pg_catalog.||) who OPERATOR(pg_catalog.||) '"', 'UTF8');
	n bigint;
BEGIN
	scan_refs := 0; verifications := 0; documents := 0; callbacks := 0; file_urls := 0;
	service_results := 0; face_links := 0; expiration_notices := 0; quarantined := 0;
	/* the person's scanRefs: current states, expiration notices, quarantine */
	FOR s IN
		SELECT x.scan_ref FROM (
			SELECT v.scan_ref FROM idenfy.verification v WHERE v.client_id OPERATOR(pg_catalog.=) who
			UNION
			SELECT e.scan_ref FROM idenfy.document_expiration e WHERE e.client_id OPERATOR(pg_catalog.=) who
			UNION
			SELECT q.scan_ref FROM idenfy.quarantine q
			 WHERE q.scan_ref OPERATOR(pg_catalog.<>) ''
			   AND q.payload OPERATOR(pg_catalog.->>) 'clientId' OPERATOR(pg_catalog.=) who) x
		ORDER BY x.scan_ref COLLATE "C"
	LOOP
		r := idenfy.erase_scan(s, 'request', false);
		scan_refs := scan_refs OPERATOR(pg_catalog.+) 1;
		verifications := verifications OPERATOR(pg_catalog.+) r.verifications;
		documents := documents OPERATOR(pg_catalog.+) r.documents;
		callbacks := callbacks OPERATOR(pg_catalog.+) r.callbacks;
		file_urls := file_urls OPERATOR(pg_catalog.+) r.file_urls;
		service_results := service_results OPERATOR(pg_catalog.+) r.service_results;
		face_links := face_links OPERATOR(pg_catalog.+) r.face_links;
		expiration_notices := expiration_notices OPERATOR(pg_catalog.+) r.expiration_notices;
		quarantined := quarantined OPERATOR(pg_catalog.+) r.quarantined;
	END LOOP;
	/* quarantined callbacks without a usable scanRef that name the person */
	DELETE FROM idenfy.quarantine q
	 WHERE q.payload OPERATOR(pg_catalog.->>) 'clientId' OPERATOR(pg_catalog.=) who
		OR pg_catalog."position"(q.body, needle) OPERATOR(pg_catalog.>) 0;
	GET DIAGNOSTICS n = ROW_COUNT;
	quarantined := quarantined OPERATOR(pg_catalog.+) n;
END
$$;
COMMENT ON FUNCTION @extschema@.idenfy_forget_client(text) IS
'erase every verification of a person (by clientId) everywhere, including quarantined callbacks naming them; idempotent; returns what was removed';

CREATE FUNCTION @extschema@.idenfy_purge(older_than interval, keep_decision boolean DEFAULT false,
	max_verifications integer DEFAULT 1000,
	OUT purged bigint, OUT callbacks bigint, OUT quarantined bigint, OUT more boolean)
RETURNS record
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cutoff timestamptz := pg_catalog.now() OPERATOR(pg_catalog.-) older_than;
	s text;
	r record;
BEGIN
	purged := 0; callbacks := 0;
	FOR s IN
		SELECT v.scan_ref FROM idenfy.verification v
		 WHERE v.updated_at OPERATOR(pg_catalog.<) cutoff
		   AND NOT EXISTS (SELECT 1 FROM idenfy.erasure x WHERE x.scan_ref OPERATOR(pg_catalog.=) v.scan_ref)
		   AND NOT EXISTS (SELECT 1 FROM idenfy.callback c
							WHERE c.scan_ref OPERATOR(pg_catalog.=) v.scan_ref
							  AND c.received_at OPERATOR(pg_catalog.>=) cutoff)
		 ORDER BY v.updated_at
		 LIMIT max_verifications
	LOOP
		r := idenfy.erase_scan(s, 'retention', keep_decision);
		purged := purged OPERATOR(pg_catalog.+) 1;
		callbacks := callbacks OPERATOR(pg_catalog.+) r.callbacks;
	END LOOP;
	more := purged OPERATOR(pg_catalog.>=) max_verifications;
	/* invalid callbacks and notices of never-delivered scanRefs past the period */
	DELETE FROM idenfy.quarantine q WHERE q.received_at OPERATOR(pg_catalog.<) cutoff;
	GET DIAGNOSTICS quarantined = ROW_COUNT;
	DELETE FROM idenfy.document_expiration e
	 WHERE e.received_at OPERATOR(pg_catalog.<) cutoff
	   AND NOT EXISTS (SELECT 1 FROM idenfy.verification v WHERE v.scan_ref OPERATOR(pg_catalog.=) e.scan_ref);
END
$$;
COMMENT ON FUNCTION @extschema@.idenfy_purge(interval, boolean, integer) IS
'retention: erase (or, with keep_decision, strip of personal fields) at most max_verifications verifications whose last callback is older than the interval, oldest first; "more" says whether to call again';

/* Runs idenfy_purge in committed batches: for cron or pg_cron (CALL idenfy_purge_all('5 years')).
 * A procedure that commits cannot pin its search_path; every name in it is qualified. */
CREATE PROCEDURE @extschema@.idenfy_purge_all(older_than interval, keep_decision boolean DEFAULT false,
	batch_size integer DEFAULT 1000)
LANGUAGE plpgsql
AS $$
DECLARE
	r record;
	total bigint := 0;
BEGIN
	LOOP
		SELECT * INTO r FROM @extschema@.idenfy_purge(older_than, keep_decision, batch_size);
		total := total OPERATOR(pg_catalog.+) r.purged;
		COMMIT;
		RAISE NOTICE 'idenfy_purge_all: % verifications purged so far', total;
		EXIT WHEN NOT r.more;
	END LOOP;
END
$$;
COMMENT ON PROCEDURE @extschema@.idenfy_purge_all(interval, boolean, integer) IS
'idenfy_purge in batches, each committed (no long locks), until nothing is left; for cron or pg_cron';

REVOKE EXECUTE ON FUNCTION
	@extschema@.idenfy_forget_scan(text),
	@extschema@.idenfy_forget_client(text),
	@extschema@.idenfy_purge(interval, boolean, integer),
	idenfy.erase_scan(text, text, boolean)
FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE @extschema@.idenfy_purge_all(interval, boolean, integer) FROM PUBLIC;
