/*
 * bench/peer.sql: the PL/pgSQL peer of idenfy_ingest, for the benchmarks.
 *
 * What a customer would write instead of the extension: the same job in
 * plain SQL and PL/pgSQL, in its own schema "peer".  It implements
 *   - validation of the callback's fields against the vendor's contract
 *     (JSON types, documented lengths, country codes, Unix times), driven
 *     by a contract table peer.field, in one query over the payload's keys;
 *   - unknown vendor values (not in our vocabularies) kept and flagged;
 *   - duplicate detection by SHA-256 of the payload (as jsonb text) per
 *     scanRef;
 *   - the ordering rules (README: created, updated, stale, duplicate) under
 *     pg_advisory_xact_lock(hashtext(scanRef));
 *   - the decision rules with a tag policy table (peer.decide);
 *   - history (peer.callback, payload lz4), current state
 *     (peer.verification, the same kinds of columns as idenfy.verification),
 *     document data (peer.document), and child rows for file URLs, AML/LID
 *     results, duplicate-face links and DOCUMENT_EXPIRATION notices;
 *   - the query functions: effective_decision, duplicate_faces (both
 *     directions), expired_documents, face_groups; decision counts are a
 *     plain GROUP BY over peer.decide.
 *
 * Written fairly, the way a competent user would: INSERT ... ON CONFLICT,
 * jsonb operators, one contract query instead of one statement per field,
 * vocabularies as IMMUTABLE functions the planner folds to constants, no
 * exception blocks, the indexes the queries need.  Differences from the
 * extension, each noted where it is made:
 *   - the decision is not stored: the tag policy can change, and a user
 *     without the extension's recompute triggers computes it on read
 *     (peer.decide), as the decision counts and the per-person expired
 *     documents then have to;
 *   - statuses are text, not enum types;
 *   - no NOTIFY and no quarantine (the extension does both: the peer is the
 *     cheaper for it);
 *   - an invalid IP address is reported by the inet cast (SQLSTATE 22P02,
 *     as the extension) rather than by a message naming the field.
 *
 * Load with: psql -d DB -f bench/peer.sql  (drops and re-creates schema peer)
 */

DROP SCHEMA IF EXISTS peer CASCADE;
CREATE SCHEMA peer;

/* ------------------------------------------------------------------------
 * Vocabularies: the same lists as the extension's enum types.  IMMUTABLE
 * and inlinable: peer.labels('face_status') in a query is folded to a
 * constant array when the query is planned.
 * ------------------------------------------------------------------------ */
CREATE FUNCTION peer.labels(kind text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE kind
	WHEN 'overall_status' THEN '{APPROVED,DENIED,SUSPECTED,REVIEWING,EXPIRED,ACTIVE,DELETED,ARCHIVED}'::text[]
	WHEN 'face_status' THEN '{FACE_MATCH,FACE_MISMATCH,NO_FACE_FOUND,TOO_MANY_FACES,FACE_TOO_BLURRY,FACE_GLARED,FACE_UNCERTAIN,FACE_NOT_ANALYSED,FACE_NOT_CHECKED,FACE_ERROR,AUTO_UNVERIFIABLE,FAKE_FACE}'::text[]
	WHEN 'document_status' THEN '{DOC_VALIDATED,DOC_INFO_MISMATCH,DOC_NOT_FOUND,DOC_NOT_FULLY_VISIBLE,DOC_NOT_SUPPORTED,DOC_FACE_NOT_FOUND,DOC_TOO_BLURRY,DOC_GLARED,DOC_FACE_GLARED,MRZ_NOT_FOUND,MRZ_OCR_READING_ERROR,BARCODE_NOT_FOUND,DOC_EXPIRED,COUNTRY_MISMATCH,DOC_TYPE_MISMATCH,DOC_SIDE_MISMATCH,DOC_DAMAGED,DOC_FAKE,DOC_ERROR,AUTO_UNVERIFIABLE,DOC_NOT_ANALYSED,DOC_NAME_ERROR,DOC_SURNAME_ERROR,DOC_EXPIRY_ERROR,DOC_DOB_ERROR,DOC_PERSONAL_NUMBER_ERROR,DOC_NUMBER_ERROR,DOC_DATE_OF_ISSUE_ERROR,DOC_SEX_ERROR,DOC_NATIONALITY_ERROR,COUNTRY_NOT_SUPPORTED,DOC_PERSONAL_CODE_INVALID,DOC_SPOOF_DETECTED,MRZ_INVALID,DOC_NOT_ALLOWED,NFC_INIT_FAILED,NFC_FAILLED,NFC_TIMEOUT,DOC_SUBTYPE_MISMATCH,EID_FAILED,NFC_FAILED}'::text[]
	WHEN 'fraud_tag' THEN '{FACE_SUSPECTED,FACE_BLACKLISTED,DOC_FACE_BLACKLISTED,DOC_MOBILE_PHOTO,DEV_TOOLS_OPENED,DOC_PRINT_SPOOFED,FAKE_PHOTO,AML_SUSPECTION,AML_FAILED,LID_SUSPECTION,LID_FAILED,RC_FAILED,UTILITY_ADDRESS_CHECK_FAILURE,VIRTUAL_CAMERA,FACE_IN_BLACKLIST,DOC_FACE_IN_BLACKLIST,DUPLICATE_FACE,DUPLICATE_DOC_FACE,CRIMINAL_SUSPECTED,CRIMINAL_CHECK_FAILED,DL_FAILED,DATA_BLACKLISTED,DATA_IN_BLACKLIST,DUPLICATE_PERSONAL_DATA,ADDRESS_UNVERIFIED,PORTRAIT_SUBSTITUTION,SANCTIONS_SUSPECTION,SANCTIONS_FAILED,AUTO_UNVERIFIABLE}'::text[]
	WHEN 'mismatch_tag' THEN '{NAME,SURNAME,DOCUMENT_NUMBER,PERSONAL_CODE,EXPIRY_DATE,DATE_OF_BIRTH,DATE_OF_ISSUE,FULL_NAME,UNDER_AGE,OVER_AGE,UNKNOWN_AGE,SEX,NATIONALITY,INVALID_ADDITIONAL_STEP,ADDITIONAL_STEP_NOT_FOUND,DOC_INFO_MISMATCH,ADDITIONAL_STEP_INFORMATION_MISMATCH,EXPIRED_ADDITIONAL_STEP_INFORMATION,REGISTRY_CENTER_INFO_MISMATCH,DRIVER_LICENSE_INFO_MISMATCH,UTILITY_ADDRESS,UTILITY_NAME,EXPIRED_UTILITY_BILL,NOT_SUPPORTED_POA_DOCUMENT_TYPE,NOT_SUPPORTED_POA_DOCUMENT_COUNTRY,POA_COUNTRIES_MISMATCH,POA_SCREENSHOT_DETECTED}'::text[]
	WHEN 'document_type' THEN '{ID_CARD,PASSPORT,RESIDENCE_PERMIT,DRIVER_LICENSE,PAN_CARD,AADHAAR,VISA,NATIONAL_PASSPORT,PROVISIONAL_DRIVER_LICENSE,OLD_ID_CARD,MILITARY_CARD,BANK_ID_SE,ADDRESS_CARD,OTHER,SMART_ID,YOTI_ID,WORK_PERMIT,BANK_ID_NO,BANK_ID_CZ,CLEAR,ONE_ID,MIT_ID,VERIMI,SPID,ITSME,FTN,BORDER_CROSSING,ASYLUM,PHOTO_CARD,PROOF_OF_AGE_CARD,TRAVEL_CARD,VOTER_CARD,DIPLOMATIC_ID,TRAVEL_PASSPORT}'::text[]
	WHEN 'sex' THEN '{MALE,FEMALE,UNDEFINED}'::text[]
	WHEN 'platform' THEN '{PC,MOBILE,TABLET,MOBILE_APP,MOBILE_SDK,OTHER}'::text[]
	WHEN 'additional_step_status' THEN '{VALID,INVALID,NOT_FOUND}'::text[]
	WHEN 'age_estimate' THEN '{UNDER_8,OVER_8,UNDER_13,OVER_13,OVER_16,OVER_18,OVER_21,OVER_22,OVER_25,OVER_30}'::text[]
	WHEN 'ip_proxy_risk' THEN '{VERY_LOW,LOW,MEDIUM,HIGH,VERY_HIGH,NOT_CHECKED}'::text[]
	WHEN 'aml_status' THEN '{NOT_CHECKED,NO_FLAGS,FALSE_POSITIVE,TRUE_POSITIVE,FLAGS_FOUND}'::text[]
	WHEN 'event_type' THEN '{IDENTIFICATION,IDENTIFICATION_AUTO_FINISHED,IDENTIFICATION_MANUAL_FINISHED,IDENTIFICATION_RESUBMITTED,IDENTIFICATION_CANCELLED,IDENTIFICATION_EXPIRED,DOCUMENT_EXPIRATION}'::text[]
	WHEN 'expiration_threshold' THEN '{DOCUMENT_EXPIRES_WITHIN_30_DAYS,DOCUMENT_EXPIRES_WITHIN_7_DAYS,DOCUMENT_EXPIRES_WITHIN_1_DAY,DOCUMENT_EXPIRED}'::text[]
	WHEN 'country' THEN '{AD,AE,AF,AG,AI,AL,AM,AO,AQ,AR,AS,AT,AU,AW,AX,AZ,BA,BB,BD,BE,BF,BG,BH,BI,BJ,BL,BM,BN,BO,BQ,BR,BS,BT,BV,BW,BY,BZ,CA,CC,CD,CF,CG,CH,CI,CK,CL,CM,CN,CO,CR,CU,CV,CW,CX,CY,CZ,DE,DJ,DK,DM,DO,DZ,EC,EE,EG,EH,ER,ES,ET,FI,FJ,FK,FM,FO,FR,GA,GB,GD,GE,GF,GG,GH,GI,GL,GM,GN,GP,GQ,GR,GS,GT,GU,GW,GY,HK,HM,HN,HR,HT,HU,ID,IE,IL,IM,IN,IO,IQ,IR,IS,IT,JE,JM,JO,JP,KE,KG,KH,KI,KM,KN,KP,KR,KW,KY,KZ,LA,LB,LC,LI,LK,LR,LS,LT,LU,LV,LY,MA,MC,MD,ME,MF,MG,MH,MK,ML,MM,MN,MO,MP,MQ,MR,MS,MT,MU,MV,MW,MX,MY,MZ,NA,NC,NE,NF,NG,NI,NL,NO,NP,NR,NU,NZ,OM,PA,PE,PF,PG,PH,PK,PL,PM,PN,PR,PS,PT,PW,PY,QA,RE,RO,RS,RU,RW,SA,SB,SC,SD,SE,SG,SH,SI,SJ,SK,SL,SM,SN,SO,SR,SS,ST,SV,SX,SY,SZ,TC,TD,TF,TG,TH,TJ,TK,TL,TM,TN,TO,TR,TT,TV,TW,TZ,UA,UG,UM,US,UY,UZ,VA,VC,VE,VG,VI,VN,VU,WF,WS,YE,YT,ZA,ZM,ZW,XK}'::text[]
END
$$;

/* The event type header in its canonical spelling (fast path: already canonical). */
CREATE FUNCTION peer.canonical_event_type(raw text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
	WHEN raw = ANY (peer.labels('event_type')) THEN raw
	ELSE regexp_replace(regexp_replace(regexp_replace(regexp_replace(
			regexp_replace(upper(btrim(raw, E' _-\t')), E'[ _\t-]+', '_', 'g'),
			'^(ID_VERIFICATION|VERIFICATION)(_|$)', 'IDENTIFICATION\2'),
			'_CANCELED$', '_CANCELLED'), '_FINISH$', '_FINISHED'), '_RESUBMIT$', '_RESUBMITTED')
END
$$;

/*
 * "YYYY-MM-DD" naming a real date, else NULL (no exception block needed).
 * Built with make_date, not a ::date cast: the cast is only STABLE (it reads
 * DateStyle), and an IMMUTABLE SQL function with a STABLE call inside is not
 * inlined, which would cost a parse of this body per call.
 */
CREATE FUNCTION peer.iso_date(s text) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN s ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$' AND substr(s, 1, 4) <> '0000' THEN
	CASE WHEN substr(s, 9, 2)::int <= extract(day FROM make_date(substr(s, 1, 4)::int, substr(s, 6, 2)::int, 1)
													 + interval '1 month' - interval '1 day')
		 THEN make_date(substr(s, 1, 4)::int, substr(s, 6, 2)::int, substr(s, 9, 2)::int) END END
$$;

/* ------------------------------------------------------------------------
 * The contract: one row per known field, as in the extension's read.c.
 * parent: '' (top level), status, data, riskAssessment, service (an AML or
 * LID element), service.status.  maxlen 0: no limit.
 * ------------------------------------------------------------------------ */
CREATE TABLE peer.field (
	parent text NOT NULL,
	key text NOT NULL,
	kind text NOT NULL,
	maxlen int NOT NULL DEFAULT 0,
	vocab text,
	PRIMARY KEY (parent, key)
);
INSERT INTO peer.field (parent, key, kind, maxlen, vocab) VALUES
	('', 'scanRef', 'string', 40, NULL), ('', 'final', 'bool', 0, NULL),
	('', 'platform', 'string', 30, 'platform'), ('', 'status', 'object', 0, NULL),
	('', 'data', 'object', 0, NULL), ('', 'fileUrls', 'url_map', 0, NULL),
	('', 'additionalStepPdfUrls', 'url_map', 0, NULL), ('', 'AML', 'services', 0, NULL),
	('', 'LID', 'services', 0, NULL), ('', 'externalRef', 'string', 40, NULL),
	('', 'clientId', 'string', 100, NULL), ('', 'startTime', 'epoch', 0, NULL),
	('', 'finishTime', 'epoch', 0, NULL), ('', 'clientIp', 'string', 39, NULL),
	('', 'clientIpCountry', 'country', 0, NULL), ('', 'clientLocation', 'string', 100, NULL),
	('', 'manualAddress', 'string', 0, NULL), ('', 'manualAddressMatch', 'bool', 0, NULL),
	('', 'addressVerification', 'json', 0, NULL), ('', 'registryCenterCheck', 'json', 0, NULL),
	('', 'questionnaireAnswers', 'json', 0, NULL), ('', 'companyId', 'string', 0, NULL),
	('', 'beneficiaryId', 'string', 0, NULL), ('', 'additionalSteps', 'json', 0, NULL),
	('', 'riskAssessment', 'object', 0, NULL),
	('', 'expirationThreshold', 'string', 60, 'expiration_threshold'),
	('', 'documentExpiration', 'string', 100, NULL),
	('status', 'overall', 'string', 30, 'overall_status'),
	('status', 'autoFace', 'string', 30, 'face_status'),
	('status', 'manualFace', 'string', 30, 'face_status'),
	('status', 'autoDocument', 'string', 30, 'document_status'),
	('status', 'manualDocument', 'string', 30, 'document_status'),
	('status', 'additionalSteps', 'string', 30, 'additional_step_status'),
	('status', 'fraudTags', 'list', 100, 'fraud_tag'),
	('status', 'mismatchTags', 'list', 100, 'mismatch_tag'),
	('status', 'suspicionReasons', 'list', 255, NULL),
	('status', 'denyReasons', 'list', 255, NULL),
	('status', 'amlResultClass', 'string', 30, 'aml_status'),
	('status', 'pepsStatus', 'string', 30, 'aml_status'),
	('status', 'sanctionsStatus', 'string', 30, 'aml_status'),
	('status', 'adverseMediaStatus', 'string', 30, 'aml_status'),
	('data', 'docFirstName', 'string', 100, NULL), ('data', 'docLastName', 'string', 100, NULL),
	('data', 'docNumber', 'string', 100, NULL), ('data', 'docPersonalCode', 'string', 30, NULL),
	('data', 'docExpiry', 'string', 100, NULL), ('data', 'docDob', 'string', 100, NULL),
	('data', 'docDateOfIssue', 'string', 100, NULL),
	('data', 'docType', 'string', 30, 'document_type'), ('data', 'docSex', 'string', 9, 'sex'),
	('data', 'docNationality', 'country', 0, NULL), ('data', 'docIssuingCountry', 'country', 0, NULL),
	('data', 'docTemporaryAddress', 'string', 100, NULL), ('data', 'docBirthName', 'string', 100, NULL),
	('data', 'docPatronymic', 'string', 100, NULL), ('data', 'birthPlace', 'string', 60, NULL),
	('data', 'authority', 'string', 60, NULL), ('data', 'address', 'string', 100, NULL),
	('data', 'mothersMaidenName', 'string', 80, NULL),
	('data', 'driverLicenseCategory', 'string', 30, NULL),
	('data', 'manuallyDataChanged', 'bool', 0, NULL), ('data', 'fullName', 'string', 201, NULL),
	('data', 'selectedCountry', 'country', 0, NULL),
	('data', 'orgFirstName', 'string', 255, NULL), ('data', 'orgLastName', 'string', 255, NULL),
	('data', 'orgNationality', 'string', 255, NULL), ('data', 'orgBirthPlace', 'string', 500, NULL),
	('data', 'orgAuthority', 'string', 500, NULL), ('data', 'orgAddress', 'string', 500, NULL),
	('data', 'orgTemporaryAddress', 'string', 500, NULL),
	('data', 'orgMothersMaidenName', 'string', 500, NULL),
	('data', 'orgPatronymic', 'string', 500, NULL), ('data', 'orgBirthName', 'string', 500, NULL),
	('data', 'ageEstimate', 'string', 10, 'age_estimate'),
	('data', 'clientIpProxyRiskLevel', 'string', 11, 'ip_proxy_risk'),
	('data', 'duplicateFaces', 'list', 40, 'scan_ref'),
	('data', 'duplicateDocFaces', 'list', 40, 'scan_ref'),
	('data', 'additionalData', 'json', 0, NULL), ('data', 'manualAddress', 'string', 0, NULL),
	('data', 'manualAddressMatch', 'bool', 0, NULL), ('data', 'registryCenterCheck', 'json', 0, NULL),
	('data', 'addressVerification', 'json', 0, NULL),
	('riskAssessment', 'riskScore', 'number', 0, NULL), ('riskAssessment', 'risk_score', 'number', 0, NULL),
	('riskAssessment', 'riskLevel', 'string', 30, NULL), ('riskAssessment', 'risk_level', 'string', 30, NULL),
	('service', 'status', 'object', 0, NULL), ('service', 'data', 'json', 0, NULL),
	('service', 'serviceName', 'string', 255, NULL), ('service', 'serviceGroupType', 'string', 100, NULL),
	('service', 'uid', 'string', 255, NULL), ('service', 'errorMessage', 'string', 0, NULL),
	('service.status', 'serviceSuspected', 'bool', 0, NULL),
	('service.status', 'serviceUsed', 'bool', 0, NULL),
	('service.status', 'serviceFound', 'bool', 0, NULL),
	('service.status', 'checkSuccessful', 'bool', 0, NULL),
	('service.status', 'overallStatus', 'string', 100, NULL);

/* ------------------------------------------------------------------------
 * Tables: the same kinds of columns as the extension's (statuses as text).
 * ------------------------------------------------------------------------ */
CREATE TABLE peer.callback (
	scan_ref text NOT NULL,
	payload_sha256 bytea NOT NULL,
	id bigint GENERATED ALWAYS AS IDENTITY,
	received_at timestamptz NOT NULL DEFAULT now(),
	event_type text,
	event_type_raw text,
	final boolean,
	has_manual boolean,
	outcome text NOT NULL,
	payload jsonb,
	PRIMARY KEY (scan_ref, payload_sha256)
);
ALTER TABLE peer.callback ALTER COLUMN payload SET COMPRESSION lz4;

/* No decision column: see the header (computed by peer.decide on read). */
CREATE TABLE peer.verification (
	scan_ref text PRIMARY KEY,
	client_id text,
	external_ref text,
	final boolean NOT NULL,
	has_manual boolean NOT NULL,
	cancelled boolean NOT NULL DEFAULT false,
	platform text,
	overall text,
	auto_face text,
	manual_face text,
	auto_document text,
	manual_document text,
	additional_step_status text,
	fraud_tags text[] NOT NULL DEFAULT '{}',
	mismatch_tags text[] NOT NULL DEFAULT '{}',
	suspicion_reasons text[],
	deny_reasons text[],
	aml_result_class text,
	peps_status text,
	sanctions_status text,
	adverse_media_status text,
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
	event_type text,
	callback_id bigint NOT NULL,
	first_received_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL
);
CREATE INDEX ON peer.verification (client_id);
CREATE INDEX ON peer.verification (scan_ref)
	WHERE COALESCE(manual_document, auto_document) = 'DOC_EXPIRED';

CREATE TABLE peer.document (
	scan_ref text PRIMARY KEY,
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
	doc_type text,
	doc_sex text,
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
	age_estimate text,
	ip_proxy_risk text,
	manual_address text,
	additional_data jsonb
);
CREATE INDEX ON peer.document (doc_expiry) WHERE doc_expiry IS NOT NULL;

CREATE TABLE peer.face_link (
	scan_ref text NOT NULL,
	kind text NOT NULL,
	other_scan_ref text NOT NULL,
	PRIMARY KEY (scan_ref, kind, other_scan_ref)
);
CREATE INDEX ON peer.face_link (other_scan_ref);

CREATE TABLE peer.document_expiration (
	scan_ref text NOT NULL,
	threshold_raw text NOT NULL,
	client_id text,
	document_expiration_raw text,
	document_expiration date,
	callback_id bigint NOT NULL,
	received_at timestamptz NOT NULL,
	PRIMARY KEY (scan_ref, threshold_raw)
);

CREATE TABLE peer.tag_policy (
	tag text PRIMARY KEY,
	policy text NOT NULL CHECK (policy IN ('APPROVED', 'REVIEW', 'DENIED'))
);

/* ------------------------------------------------------------------------
 * The decision rules (README), on the columns of a verification.
 * ------------------------------------------------------------------------ */
CREATE FUNCTION peer.decide(final boolean, cancelled boolean, overall text, face text,
							document text, has_unknown boolean, tags text[])
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
	any_denied boolean;
	all_approved boolean;
BEGIN
	IF final IS NULL THEN
		RETURN NULL;			/* no verification */
	END IF;
	IF NOT final THEN
		RETURN 'PENDING';
	END IF;
	IF cancelled OR overall = 'EXPIRED' THEN
		RETURN 'EXPIRED';
	END IF;
	IF face IS DISTINCT FROM 'FACE_MATCH' OR document IS DISTINCT FROM 'DOC_VALIDATED' THEN
		RETURN 'DENIED';
	END IF;
	IF overall = 'DENIED' THEN
		RETURN 'DENIED';
	END IF;
	IF has_unknown THEN
		RETURN 'REVIEW';
	END IF;
	IF cardinality(tags) > 0 THEN
		SELECT bool_or(p.policy = 'DENIED'), bool_and(p.policy IS NOT DISTINCT FROM 'APPROVED')
		  INTO any_denied, all_approved
		  FROM unnest(tags) AS t(tag) LEFT JOIN peer.tag_policy p ON p.tag = t.tag;
		IF any_denied THEN
			RETURN 'DENIED';
		ELSIF all_approved THEN
			RETURN 'APPROVED';
		END IF;
		RETURN 'REVIEW';
	END IF;
	IF overall = 'SUSPECTED' THEN
		RETURN 'REVIEW';
	END IF;
	IF overall = 'APPROVED' THEN
		RETURN 'APPROVED';
	END IF;
	RETURN 'PENDING';
END
$$;

CREATE FUNCTION peer.effective_decision(scan_ref text) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT peer.decide(v.final, v.cancelled, v.overall, COALESCE(v.manual_face, v.auto_face),
					   COALESCE(v.manual_document, v.auto_document), v.unknown_values IS NOT NULL,
					   v.fraud_tags || v.mismatch_tags)
	  FROM peer.verification v
	 WHERE v.scan_ref = effective_decision.scan_ref
$$;

/* ------------------------------------------------------------------------
 * Ingest one callback.
 * ------------------------------------------------------------------------ */
CREATE FUNCTION peer.ingest(payload jsonb, event_type text DEFAULT NULL,
							OUT scan_ref text, OUT outcome text, OUT decision text,
							OUT callback_id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	sr text;
	ev text;
	st jsonb;
	d jsonb;
	ra jsonb;
	fin boolean;
	manual boolean;
	is_cancelled boolean;
	notice boolean;
	sha bytea;
	bad_path text;
	bad text[];
	unknown jsonb;
	tags text[];
	s_final boolean;
	s_manual boolean;
	oc text;
	cid bigint;
BEGIN
	IF payload IS NULL THEN
		RAISE EXCEPTION 'callback is null' USING ERRCODE = '22004';
	END IF;
	IF jsonb_typeof(payload) <> 'object' THEN
		RAISE EXCEPTION 'callback is not a JSON object' USING ERRCODE = '22023';
	END IF;

	/* 1. every present field against the contract, and the unknown vendor values, in one pass */
	WITH keys AS (
		SELECT '' AS parent, '' AS prefix, e.key, e.value FROM jsonb_each(payload) e
		UNION ALL
		SELECT x.parent, x.parent || '.', e.key, e.value
		  FROM (VALUES ('status'), ('data'), ('riskAssessment')) x(parent),
			   jsonb_each(CASE WHEN jsonb_typeof(payload -> x.parent) = 'object' THEN payload -> x.parent END) e
		UNION ALL
		SELECT 'service', l.list || '[' || (a.i - 1) || '].', e.key, e.value
		  FROM (VALUES ('AML'), ('LID')) l(list),
			   jsonb_array_elements(CASE WHEN jsonb_typeof(payload -> l.list) = 'array' THEN payload -> l.list END)
				   WITH ORDINALITY a(elem, i),
			   jsonb_each(CASE WHEN jsonb_typeof(a.elem) = 'object' THEN a.elem END) e
		UNION ALL
		SELECT 'service.status', l.list || '[' || (a.i - 1) || '].status.', e.key, e.value
		  FROM (VALUES ('AML'), ('LID')) l(list),
			   jsonb_array_elements(CASE WHEN jsonb_typeof(payload -> l.list) = 'array' THEN payload -> l.list END)
				   WITH ORDINALITY a(elem, i),
			   jsonb_each(CASE WHEN jsonb_typeof(a.elem -> 'status') = 'object' THEN a.elem -> 'status' END) e
	), checked AS MATERIALIZED (
		SELECT k.prefix || k.key AS path, f.vocab, k.value, t,
			   CASE
				   WHEN t = 'null' THEN NULL
				   WHEN f.kind = 'string' THEN
					   CASE WHEN t <> 'string' THEN 'type'
							WHEN f.maxlen > 0 AND length(k.value #>> '{}') > f.maxlen THEN 'length' END
				   WHEN f.kind = 'country' THEN
					   CASE WHEN t <> 'string' THEN 'type'
							WHEN NOT (k.value #>> '{}') = ANY (peer.labels('country')) THEN 'country' END
				   WHEN f.kind = 'bool' THEN CASE WHEN t <> 'boolean' THEN 'type' END
				   WHEN f.kind = 'number' THEN CASE WHEN t <> 'number' THEN 'type' END
				   WHEN f.kind = 'epoch' THEN
					   CASE WHEN t <> 'number' THEN 'type'
							WHEN k.value::numeric <> trunc(k.value::numeric)
								 OR k.value::numeric NOT BETWEEN 0 AND 253402300799 THEN 'epoch' END
				   WHEN f.kind = 'json' THEN CASE WHEN t NOT IN ('object', 'array') THEN 'type' END
				   WHEN f.kind = 'object' THEN CASE WHEN t <> 'object' THEN 'type' END
				   WHEN f.kind = 'url_map' THEN
					   CASE WHEN t <> 'object' THEN 'type'
							WHEN jsonb_path_exists(k.value, '$.* ? (@.type() != "string" && @.type() != "null")') THEN 'type'
							WHEN EXISTS (SELECT 1 FROM jsonb_object_keys(k.value) n WHERE length(n) NOT BETWEEN 1 AND 100) THEN 'length' END
				   WHEN f.kind = 'services' THEN
					   CASE WHEN t <> 'array' THEN 'type'
							WHEN jsonb_path_exists(k.value, '$[*] ? (@.type() != "object")') THEN 'type' END
				   WHEN f.kind = 'list' THEN
					   CASE WHEN t <> 'array' THEN 'type'
							WHEN jsonb_path_exists(k.value, '$[*] ? (@.type() != "string")') THEN 'type'
							WHEN EXISTS (SELECT 1 FROM jsonb_array_elements_text(k.value) x
										  WHERE length(x) > f.maxlen OR (f.vocab = 'scan_ref' AND x = '')) THEN 'length' END
			   END AS problem
		  FROM keys k
		  JOIN peer.field f ON f.parent = k.parent AND f.key = k.key
		  CROSS JOIN LATERAL jsonb_typeof(k.value) t
	)
	SELECT (SELECT ARRAY[c.path, c.problem] FROM checked c WHERE c.problem IS NOT NULL LIMIT 1),
		   (SELECT jsonb_object_agg(u.path, u.vals)
			  FROM (SELECT c.path, jsonb_agg(x.v) AS vals
					  FROM checked c
					  CROSS JOIN LATERAL (SELECT c.value #>> '{}' WHERE c.t = 'string'
										  UNION ALL
										  SELECT jsonb_array_elements_text(c.value) WHERE c.t = 'array') x(v)
					 WHERE c.vocab IS NOT NULL AND c.vocab <> 'scan_ref'
					   AND NOT x.v = ANY (peer.labels(c.vocab))
					 GROUP BY c.path) u)
	  INTO bad, unknown;
	IF bad IS NOT NULL THEN
		bad_path := bad[1];
		CASE bad[2]
			WHEN 'type' THEN
				RAISE EXCEPTION 'callback field "%" has the wrong JSON type', bad_path USING ERRCODE = '22023';
			WHEN 'length' THEN
				RAISE EXCEPTION 'callback field "%" is too long', bad_path USING ERRCODE = '22001';
			WHEN 'country' THEN
				RAISE EXCEPTION 'callback field "%" is not a country code', bad_path USING ERRCODE = '22023';
			ELSE
				RAISE EXCEPTION 'callback field "%" is not a Unix timestamp', bad_path USING ERRCODE = '22008';
		END CASE;
	END IF;
	sr := payload ->> 'scanRef';
	IF sr IS NULL THEN
		RAISE EXCEPTION 'callback field "scanRef" is missing' USING ERRCODE = '22023';
	ELSIF sr = '' THEN
		RAISE EXCEPTION 'callback field "scanRef" is empty' USING ERRCODE = '22023';
	END IF;

	/* 2. derived facts: event type, finality, manual results, expiration notice */
	ev := peer.canonical_event_type(event_type);
	st := nullif(payload -> 'status', 'null');
	d := nullif(payload -> 'data', 'null');
	ra := nullif(payload -> 'riskAssessment', 'null');
	is_cancelled := ev IS NOT DISTINCT FROM 'IDENTIFICATION_CANCELLED';
	fin := COALESCE((payload ->> 'final')::boolean,
					ev IN ('IDENTIFICATION_CANCELLED', 'IDENTIFICATION_EXPIRED'), false);
	manual := st ->> 'manualFace' IS NOT NULL OR st ->> 'manualDocument' IS NOT NULL;
	notice := ev IS NOT DISTINCT FROM 'DOCUMENT_EXPIRATION'
		OR (payload ->> 'expirationThreshold' IS NOT NULL AND d IS NULL
			AND st ->> 'overall' IS NULL AND payload ->> 'final' IS NULL);
	IF notice AND payload ->> 'expirationThreshold' IS NULL THEN
		RAISE EXCEPTION 'callback field "expirationThreshold" is missing' USING ERRCODE = '22023';
	END IF;
	IF NOT ev = ANY (peer.labels('event_type')) THEN
		ev := NULL;				/* unknown: kept in event_type_raw only */
	END IF;
	sha := sha256(convert_to(payload::text, 'UTF8'));

	/* 3. one callback of a scanRef at a time */
	PERFORM pg_advisory_xact_lock(hashtext(sr));

	/* 4. ordering rules */
	SELECT c.id INTO cid FROM peer.callback c WHERE c.scan_ref = sr AND c.payload_sha256 = sha;
	IF FOUND THEN
		scan_ref := sr;
		outcome := 'duplicate';
		decision := peer.effective_decision(sr);
		callback_id := cid;
		RETURN;
	END IF;

	IF notice THEN
		oc := CASE WHEN EXISTS (SELECT 1 FROM peer.document_expiration e
								 WHERE e.scan_ref = sr AND e.threshold_raw = payload ->> 'expirationThreshold')
				   THEN 'updated' ELSE 'created' END;
	ELSE
		SELECT v.final, v.has_manual INTO s_final, s_manual FROM peer.verification v WHERE v.scan_ref = sr;
		oc := CASE WHEN NOT FOUND THEN 'created'
				   WHEN ev IS NOT DISTINCT FROM 'IDENTIFICATION_RESUBMITTED' THEN 'updated'
				   WHEN s_final AND NOT fin THEN 'stale'
				   WHEN s_final = fin AND s_manual AND NOT manual THEN 'stale'
				   ELSE 'updated' END;
	END IF;

	/* 5. history */
	INSERT INTO peer.callback (scan_ref, payload_sha256, event_type, event_type_raw, final,
							   has_manual, outcome, payload)
	VALUES (sr, sha, ev, event_type, CASE WHEN NOT notice THEN fin END,
			CASE WHEN NOT notice THEN manual END, oc, payload)
	RETURNING id INTO cid;

	scan_ref := sr;
	outcome := oc;
	callback_id := cid;

	IF notice THEN
		INSERT INTO peer.document_expiration AS t (scan_ref, threshold_raw, client_id,
			document_expiration_raw, document_expiration, callback_id, received_at)
		VALUES (sr, payload ->> 'expirationThreshold', payload ->> 'clientId',
				payload ->> 'documentExpiration', peer.iso_date(payload ->> 'documentExpiration'), cid, now())
		ON CONFLICT (scan_ref, threshold_raw) DO UPDATE
		   SET client_id = EXCLUDED.client_id, document_expiration_raw = EXCLUDED.document_expiration_raw,
			   document_expiration = EXCLUDED.document_expiration, callback_id = EXCLUDED.callback_id,
			   received_at = EXCLUDED.received_at;
		decision := peer.effective_decision(sr);
		RETURN;
	END IF;
	IF oc = 'stale' THEN
		decision := peer.effective_decision(sr);
		RETURN;
	END IF;

	/* 6. current state */
	INSERT INTO peer.verification AS t (scan_ref, client_id, external_ref, final, has_manual, cancelled,
		platform, overall, auto_face, manual_face, auto_document, manual_document,
		additional_step_status, fraud_tags, mismatch_tags, suspicion_reasons, deny_reasons,
		aml_result_class, peps_status, sanctions_status, adverse_media_status, start_time,
		finish_time, client_ip, client_ip_country, client_location, risk_score, risk_level,
		risk_assessment, company_id, beneficiary_id, manual_address_match, additional_steps,
		address_verification, registry_center_check, questionnaire_answers, unknown_values,
		event_type, callback_id, first_received_at, updated_at)
	VALUES (sr, payload ->> 'clientId', payload ->> 'externalRef', fin, manual, is_cancelled,
		payload ->> 'platform', st ->> 'overall', st ->> 'autoFace', st ->> 'manualFace',
		st ->> 'autoDocument', st ->> 'manualDocument', st ->> 'additionalSteps',
		COALESCE(ARRAY(SELECT jsonb_array_elements_text(nullif(st -> 'fraudTags', 'null'))), '{}'),
		COALESCE(ARRAY(SELECT jsonb_array_elements_text(nullif(st -> 'mismatchTags', 'null'))), '{}'),
		CASE WHEN jsonb_typeof(st -> 'suspicionReasons') = 'array'
			 THEN ARRAY(SELECT jsonb_array_elements_text(st -> 'suspicionReasons')) END,
		CASE WHEN jsonb_typeof(st -> 'denyReasons') = 'array'
			 THEN ARRAY(SELECT jsonb_array_elements_text(st -> 'denyReasons')) END,
		st ->> 'amlResultClass', st ->> 'pepsStatus', st ->> 'sanctionsStatus', st ->> 'adverseMediaStatus',
		to_timestamp((payload ->> 'startTime')::float8), to_timestamp((payload ->> 'finishTime')::float8),
		(payload ->> 'clientIp')::inet, payload ->> 'clientIpCountry', payload ->> 'clientLocation',
		COALESCE(ra ->> 'risk_score', ra ->> 'riskScore')::numeric,
		COALESCE(ra ->> 'risk_level', ra ->> 'riskLevel'), ra,
		payload ->> 'companyId', payload ->> 'beneficiaryId',
		COALESCE(payload ->> 'manualAddressMatch', d ->> 'manualAddressMatch')::boolean,
		nullif(payload -> 'additionalSteps', 'null'),
		COALESCE(nullif(payload -> 'addressVerification', 'null'), nullif(d -> 'addressVerification', 'null')),
		COALESCE(nullif(payload -> 'registryCenterCheck', 'null'), nullif(d -> 'registryCenterCheck', 'null')),
		nullif(payload -> 'questionnaireAnswers', 'null'), unknown, ev, cid, now(), now())
	ON CONFLICT (scan_ref) DO UPDATE SET
		client_id = EXCLUDED.client_id, external_ref = EXCLUDED.external_ref, final = EXCLUDED.final,
		has_manual = EXCLUDED.has_manual, cancelled = EXCLUDED.cancelled, platform = EXCLUDED.platform,
		overall = EXCLUDED.overall, auto_face = EXCLUDED.auto_face, manual_face = EXCLUDED.manual_face,
		auto_document = EXCLUDED.auto_document, manual_document = EXCLUDED.manual_document,
		additional_step_status = EXCLUDED.additional_step_status, fraud_tags = EXCLUDED.fraud_tags,
		mismatch_tags = EXCLUDED.mismatch_tags, suspicion_reasons = EXCLUDED.suspicion_reasons,
		deny_reasons = EXCLUDED.deny_reasons, aml_result_class = EXCLUDED.aml_result_class,
		peps_status = EXCLUDED.peps_status, sanctions_status = EXCLUDED.sanctions_status,
		adverse_media_status = EXCLUDED.adverse_media_status, start_time = EXCLUDED.start_time,
		finish_time = EXCLUDED.finish_time, client_ip = EXCLUDED.client_ip,
		client_ip_country = EXCLUDED.client_ip_country, client_location = EXCLUDED.client_location,
		risk_score = EXCLUDED.risk_score, risk_level = EXCLUDED.risk_level,
		risk_assessment = EXCLUDED.risk_assessment, company_id = EXCLUDED.company_id,
		beneficiary_id = EXCLUDED.beneficiary_id, manual_address_match = EXCLUDED.manual_address_match,
		additional_steps = EXCLUDED.additional_steps, address_verification = EXCLUDED.address_verification,
		registry_center_check = EXCLUDED.registry_center_check,
		questionnaire_answers = EXCLUDED.questionnaire_answers, unknown_values = EXCLUDED.unknown_values,
		event_type = EXCLUDED.event_type, callback_id = EXCLUDED.callback_id,
		updated_at = EXCLUDED.updated_at;

	/* an update replaces the children of the previous callback */
	IF oc = 'updated' THEN
		IF d IS NULL THEN
			DELETE FROM peer.document t WHERE t.scan_ref = sr;
		END IF;
		DELETE FROM peer.face_link t WHERE t.scan_ref = sr;
	END IF;

	IF d IS NOT NULL THEN
		INSERT INTO peer.document AS t (scan_ref, doc_first_name, doc_last_name, doc_number,
			doc_personal_code, doc_expiry_raw, doc_expiry, doc_dob_raw, doc_dob, doc_date_of_issue_raw,
			doc_date_of_issue, doc_type, doc_sex, doc_nationality, doc_issuing_country,
			doc_temporary_address, doc_birth_name, doc_patronymic, birth_place, authority, address,
			mothers_maiden_name, driver_license_category, manually_data_changed, full_name,
			selected_country, org_first_name, org_last_name, org_nationality, org_birth_place,
			org_authority, org_address, org_temporary_address, org_mothers_maiden_name, org_patronymic,
			org_birth_name, age_estimate, ip_proxy_risk, manual_address, additional_data)
		VALUES (sr, d ->> 'docFirstName', d ->> 'docLastName', d ->> 'docNumber', d ->> 'docPersonalCode',
			d ->> 'docExpiry', peer.iso_date(d ->> 'docExpiry'), d ->> 'docDob', peer.iso_date(d ->> 'docDob'),
			d ->> 'docDateOfIssue', peer.iso_date(d ->> 'docDateOfIssue'), d ->> 'docType', d ->> 'docSex',
			d ->> 'docNationality', d ->> 'docIssuingCountry', d ->> 'docTemporaryAddress',
			d ->> 'docBirthName', d ->> 'docPatronymic', d ->> 'birthPlace', d ->> 'authority',
			d ->> 'address', d ->> 'mothersMaidenName', d ->> 'driverLicenseCategory',
			(d ->> 'manuallyDataChanged')::boolean, d ->> 'fullName', d ->> 'selectedCountry',
			d ->> 'orgFirstName', d ->> 'orgLastName', d ->> 'orgNationality', d ->> 'orgBirthPlace',
			d ->> 'orgAuthority', d ->> 'orgAddress', d ->> 'orgTemporaryAddress',
			d ->> 'orgMothersMaidenName', d ->> 'orgPatronymic', d ->> 'orgBirthName',
			d ->> 'ageEstimate', d ->> 'clientIpProxyRiskLevel',
			COALESCE(payload ->> 'manualAddress', d ->> 'manualAddress'),
			nullif(d -> 'additionalData', 'null'))
		ON CONFLICT (scan_ref) DO UPDATE SET
			doc_first_name = EXCLUDED.doc_first_name, doc_last_name = EXCLUDED.doc_last_name,
			doc_number = EXCLUDED.doc_number, doc_personal_code = EXCLUDED.doc_personal_code,
			doc_expiry_raw = EXCLUDED.doc_expiry_raw, doc_expiry = EXCLUDED.doc_expiry,
			doc_dob_raw = EXCLUDED.doc_dob_raw, doc_dob = EXCLUDED.doc_dob,
			doc_date_of_issue_raw = EXCLUDED.doc_date_of_issue_raw,
			doc_date_of_issue = EXCLUDED.doc_date_of_issue, doc_type = EXCLUDED.doc_type,
			doc_sex = EXCLUDED.doc_sex, doc_nationality = EXCLUDED.doc_nationality,
			doc_issuing_country = EXCLUDED.doc_issuing_country,
			doc_temporary_address = EXCLUDED.doc_temporary_address,
			doc_birth_name = EXCLUDED.doc_birth_name, doc_patronymic = EXCLUDED.doc_patronymic,
			birth_place = EXCLUDED.birth_place, authority = EXCLUDED.authority, address = EXCLUDED.address,
			mothers_maiden_name = EXCLUDED.mothers_maiden_name,
			driver_license_category = EXCLUDED.driver_license_category,
			manually_data_changed = EXCLUDED.manually_data_changed, full_name = EXCLUDED.full_name,
			selected_country = EXCLUDED.selected_country, org_first_name = EXCLUDED.org_first_name,
			org_last_name = EXCLUDED.org_last_name, org_nationality = EXCLUDED.org_nationality,
			org_birth_place = EXCLUDED.org_birth_place, org_authority = EXCLUDED.org_authority,
			org_address = EXCLUDED.org_address, org_temporary_address = EXCLUDED.org_temporary_address,
			org_mothers_maiden_name = EXCLUDED.org_mothers_maiden_name,
			org_patronymic = EXCLUDED.org_patronymic, org_birth_name = EXCLUDED.org_birth_name,
			age_estimate = EXCLUDED.age_estimate, ip_proxy_risk = EXCLUDED.ip_proxy_risk,
			manual_address = EXCLUDED.manual_address, additional_data = EXCLUDED.additional_data;
	END IF;

	/* child rows: face links (file URLs and AML/LID results are views of the current callback) */
	IF d IS NOT NULL AND (jsonb_typeof(d -> 'duplicateFaces') = 'array'
						  OR jsonb_typeof(d -> 'duplicateDocFaces') = 'array') THEN
		INSERT INTO peer.face_link (scan_ref, kind, other_scan_ref)
		SELECT sr, 'selfie', o FROM jsonb_array_elements_text(nullif(d -> 'duplicateFaces', 'null')) o
		UNION ALL
		SELECT sr, 'document', o FROM jsonb_array_elements_text(nullif(d -> 'duplicateDocFaces', 'null')) o
		ON CONFLICT DO NOTHING;
	END IF;

	/* 7. the decision of the new current state */
	tags := COALESCE(ARRAY(SELECT jsonb_array_elements_text(nullif(st -> 'fraudTags', 'null'))), '{}')
		 || COALESCE(ARRAY(SELECT jsonb_array_elements_text(nullif(st -> 'mismatchTags', 'null'))), '{}');
	decision := peer.decide(fin, is_cancelled, st ->> 'overall',
							COALESCE(st ->> 'manualFace', st ->> 'autoFace'),
							COALESCE(st ->> 'manualDocument', st ->> 'autoDocument'),
							unknown IS NOT NULL, tags);
END
$$;

/* ------------------------------------------------------------------------
 * Queries: the peer's equivalents of the extension's query functions.
 * ------------------------------------------------------------------------ */

/* Other verifications whose faces matched this one, in both directions. */
CREATE FUNCTION peer.duplicate_faces(scan_ref text)
RETURNS TABLE (other_scan_ref text, kind text, direction text, other_client_id text,
			   other_decision text, other_known boolean)
LANGUAGE sql STABLE AS $$
	SELECT l.other, l.kind,
		   CASE WHEN bool_or(l.listed) AND bool_or(NOT l.listed) THEN 'both'
				WHEN bool_or(l.listed) THEN 'listed' ELSE 'listed_by' END,
		   v.client_id,
		   peer.decide(v.final, v.cancelled, v.overall, COALESCE(v.manual_face, v.auto_face),
					   COALESCE(v.manual_document, v.auto_document), v.unknown_values IS NOT NULL,
					   v.fraud_tags || v.mismatch_tags),
		   v.scan_ref IS NOT NULL
	  FROM (SELECT f.other_scan_ref AS other, f.kind, true AS listed
			  FROM peer.face_link f WHERE f.scan_ref = duplicate_faces.scan_ref
			UNION ALL
			SELECT f.scan_ref, f.kind, false
			  FROM peer.face_link f WHERE f.other_scan_ref = duplicate_faces.scan_ref) l
	  LEFT JOIN peer.verification v ON v.scan_ref = l.other
	 WHERE l.other <> duplicate_faces.scan_ref
	 GROUP BY l.other, l.kind, v.scan_ref
	 ORDER BY l.other, l.kind
$$;

/* Verifications whose document expired on or before as_of; per person, only the current one. */
CREATE FUNCTION peer.expired_documents(as_of date DEFAULT CURRENT_DATE)
RETURNS TABLE (client_id text, scan_ref text, doc_type text, expiry date, source text)
LANGUAGE sql STABLE AS $$
	WITH facts AS (
		SELECT d.scan_ref, d.doc_expiry AS expiry, 'docExpiry' AS source
		  FROM peer.document d WHERE d.doc_expiry <= as_of
		UNION ALL
		SELECT v.scan_ref, NULL::date, 'DOC_EXPIRED'
		  FROM peer.verification v WHERE COALESCE(v.manual_document, v.auto_document) = 'DOC_EXPIRED'
		UNION ALL
		SELECT e.scan_ref, e.document_expiration, 'DOCUMENT_EXPIRATION'
		  FROM peer.document_expiration e
		 WHERE CASE WHEN e.document_expiration IS NOT NULL THEN e.document_expiration <= as_of
					ELSE e.threshold_raw = 'DOCUMENT_EXPIRED' END
	)
	SELECT v.client_id, f.scan_ref, d.doc_type, f.expiry, f.source
	  FROM facts f
	  LEFT JOIN peer.verification v ON v.scan_ref = f.scan_ref
	  LEFT JOIN peer.document d ON d.scan_ref = f.scan_ref
	 WHERE v.client_id IS NULL
		OR f.scan_ref = (SELECT c.scan_ref FROM peer.verification c
						  WHERE c.client_id = v.client_id
						  ORDER BY peer.decide(c.final, c.cancelled, c.overall,
											   COALESCE(c.manual_face, c.auto_face),
											   COALESCE(c.manual_document, c.auto_document),
											   c.unknown_values IS NOT NULL,
											   c.fraud_tags || c.mismatch_tags) = 'APPROVED' DESC,
								   COALESCE(c.finish_time, c.first_received_at) DESC, c.scan_ref
						  LIMIT 1)
	 ORDER BY v.client_id, f.scan_ref, f.source
$$;

/* Connected groups of verifications linked by duplicate faces (a recursive CTE). */
CREATE FUNCTION peer.face_groups()
RETURNS TABLE (group_id text, size integer, scan_refs text[], client_ids text[], decisions text[])
LANGUAGE sql STABLE AS $$
	WITH RECURSIVE edge AS (
		SELECT f.scan_ref AS a, f.other_scan_ref AS b FROM peer.face_link f WHERE f.scan_ref <> f.other_scan_ref
		UNION
		SELECT f.other_scan_ref, f.scan_ref FROM peer.face_link f WHERE f.scan_ref <> f.other_scan_ref
	), reach (node, root) AS (
		SELECT DISTINCT e.a, e.a FROM edge e
		UNION
		SELECT e.b, r.root FROM reach r JOIN edge e ON e.a = r.node
	), label AS (
		SELECT r.node, min(r.root COLLATE "C") AS label FROM reach r GROUP BY r.node
	)
	SELECT l.label, count(*)::integer,
		   array_agg(l.node ORDER BY l.node COLLATE "C"),
		   array_remove(array_agg(DISTINCT v.client_id), NULL),
		   array_agg(peer.decide(v.final, v.cancelled, v.overall, COALESCE(v.manual_face, v.auto_face),
								 COALESCE(v.manual_document, v.auto_document), v.unknown_values IS NOT NULL,
								 v.fraud_tags || v.mismatch_tags) ORDER BY l.node COLLATE "C")
	  FROM label l
	  LEFT JOIN peer.verification v ON v.scan_ref = l.node
	 GROUP BY l.label
	 ORDER BY count(*) DESC, l.label COLLATE "C"
$$;

/*
 * File URLs and AML/LID results of the current callback: views over its
 * stored payload, as idenfy 1.2.0 has them (neither copies them at ingest).
 */
CREATE VIEW peer.file_url AS
	SELECT v.scan_ref, s.source, u.key AS name, u.value AS url,
		   CASE WHEN x.e::bigint <= 253402300799 THEN to_timestamp(x.e::bigint) END AS expires_at
	  FROM peer.verification v
	  JOIN peer.callback c ON c.scan_ref = v.scan_ref AND c.id = v.callback_id,
		   (VALUES ('fileUrls'), ('additionalStepPdfUrls')) s(source),
		   jsonb_each_text(nullif(c.payload -> s.source, 'null')) u,
		   LATERAL substring(u.value FROM '[?&]Expires=([0-9]{1,12})(?:[&#]|$)') x(e)
	 WHERE u.value IS NOT NULL;

CREATE VIEW peer.service_result AS
	SELECT v.scan_ref, l.list, (a.i - 1)::int AS ord, a.e ->> 'serviceName' AS service_name,
		   a.e ->> 'serviceGroupType' AS service_group_type, a.e ->> 'uid' AS uid,
		   a.e -> 'status' ->> 'overallStatus' AS overall_status,
		   (a.e -> 'status' ->> 'serviceSuspected')::boolean AS service_suspected,
		   (a.e -> 'status' ->> 'serviceUsed')::boolean AS service_used,
		   (a.e -> 'status' ->> 'serviceFound')::boolean AS service_found,
		   (a.e -> 'status' ->> 'checkSuccessful')::boolean AS check_successful,
		   a.e ->> 'errorMessage' AS error_message, nullif(a.e -> 'data', 'null') AS data
	  FROM peer.verification v
	  JOIN peer.callback c ON c.scan_ref = v.scan_ref AND c.id = v.callback_id,
		   (VALUES ('AML'), ('LID')) l(list),
		   jsonb_array_elements(nullif(c.payload -> l.list, 'null')) WITH ORDINALITY a(e, i);
