/*
 * test/gen/gen.sql: deterministic generator of iDenfy verification callbacks.
 *
 *   \i test/gen/gen.sql
 *   SELECT * FROM idenfy_test.gen_callbacks(10000);          -- seed 1
 *   SELECT * FROM idenfy_test.gen_callbacks(10000, 42);      -- another data set
 *
 * idenfy_test.gen_callbacks(n int, seed int DEFAULT 1)
 *   RETURNS TABLE (seq int, scan_ref text, event_type text, payload jsonb)
 *
 * Yields n callbacks in delivery order (seq 1..n).  Each payload (~3 KB) has the shape of the
 * "Response example" in shared/vendor/idenfy-webhook-reference.txt: final, platform, status{...},
 * data{...}, fileUrls (FACE, FRONT, BACK except for passports, UTILITY_BILL when a utility bill
 * step was used; every URL a pre-signed S3 link ending in &Expires=<epoch>), additionalStepPdfUrls,
 * one AML element (status + data), LID (sometimes), scanRef, externalRef, clientId, startTime,
 * finishTime, clientIp (documentation ranges 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32),
 * riskAssessment (snake_case or camelCase keys, or null), additionalSteps, ...
 * event_type is the value of the Idenfy-Event-Type header the callback would arrive with.
 *
 * Determinism: the output is a pure function of (n, seed).  Every pseudo-random choice comes
 * from hashint8extended(key, seed*1000 + salt), md5(...) or sha224(...) of (seed, verification
 * number, field); nothing uses random(), setseed() or now().  Moreover gen_callbacks(n, s) is a
 * prefix of gen_callbacks(m, s) for m > n (same seq, same rows).
 *
 * Mix, per verification (a verification = one scanRef):
 *   final overall: ~70% APPROVED, ~12% DENIED, ~10% SUSPECTED, ~5% EXPIRED, ~3% REVIEWING.
 *     DENIED:    half FACE_MISMATCH, half a DOC_* failure; denyReasons = [that status].
 *     SUSPECTED: face/document checks passed, 1-2 fraudTags and/or mismatchTags from the
 *                reference lists; with AML_SUSPECTION the AML element is SUSPECTED (PEPS hit).
 *     EXPIRED:   event IDENTIFICATION_EXPIRED, final true, face/document statuses null, tag
 *                lists [], data values null (selectedCountry set when started), fileUrls {} or
 *                only FACE, AML/LID/riskAssessment/finishTime null; half never started
 *                (startTime, clientIp, clientIpCountry, clientLocation, platform null too).
 *     REVIEWING: one callback, final false (still in manual review when the stream ends),
 *                auto results only, manual results null.
 *   ~30% (of all verifications, only APPROVED/DENIED/SUSPECTED ones) are auto-then-manual pairs:
 *     first IDENTIFICATION_AUTO_FINISHED with final false and manualFace/manualDocument null
 *     (its overall is the automatic verdict: sometimes DENIED when the manual review later
 *     approves, sometimes APPROVED when the manual review later denies), then, 1-5
 *     verifications later in delivery order, IDENTIFICATION_MANUAL_FINISHED with final true and
 *     manual results.  autoFace/autoDocument, startTime and finishTime are identical in both
 *     (finishTime does not move on manual review); the fileUrls are re-signed (later Expires).
 *   the other verifications send one IDENTIFICATION_AUTO_FINISHED callback, final true, with
 *     manualFace/manualDocument equal to the auto results (as in the reference example).
 *   ~3% of the callbacks are exact duplicate deliveries: the very same payload and event_type
 *     as an earlier callback of the same scanRef, re-emitted 2-40 verifications later.
 *   ~2% list 1-2 data.duplicateFaces and/or data.duplicateDocFaces: scanRefs of earlier
 *     generated verifications, or (~30%) scanRefs that are never generated.
 *   data.docExpiry: ~3% null, ~2% the literal "YYYY-MM-DD" (docDob then too), the rest spread
 *     over 2020-01-01..2035-12-31 (some past, some future); DOC_EXPIRED denials get a past one.
 *   clientId: "client-NNNNNN"; verification v picks client floor(v*u/2.75)+1, which gives about
 *     2,000 distinct clientIds per 10,000 callbacks (people verify more than once).  The person
 *     (names, sex, date of birth, nationality, address, personal code) is a function of the
 *     clientId; the document (type, number, expiry) and the session are per verification.
 *   scanRef: a UUID-looking (version 4 layout) string from md5('scan:' || seed || ':' || v).
 *   startTime grows with the verification number (2025 epochs: ~25 s apart); finishTime is
 *   25-525 s after startTime.
 *
 * INVARIANT (tests rely on it): for each scanRef the set of its callbacks has a single winner
 * whatever the order of arrival under the rules "a final callback is never replaced by a
 * non-final one" and "at equal finality, one with manual results is never replaced by one
 * without".  Per scanRef the generator emits at most one distinct final payload, at most one
 * non-final payload (always without manual results), and exact duplicates of those.  The
 * winner is the final payload if there is one, else the single non-final one.
 * IDENTIFICATION_RESUBMITTED is never emitted.
 *
 * Measured (PostgreSQL 15, seed 1): 10k rows in ~1 s, 100k in ~11 s, 1M in ~97 s (SELECT only;
 * CREATE TABLE AS adds ~50% for TOAST compression).  avg length(payload::text) 3182,
 * avg pg_column_size of the uncompressed jsonb 3221 (about 2009 once stored, compressed).
 * Per 100k: 74.6k scanRefs, 30.0% pairs, 3.05% duplicate deliveries, 19.9k clientIds.
 *
 * Truncation: the last few verifications of a run may miss their second callback (it would come
 * after seq n); their non-final callback is then the winner.
 */

CREATE SCHEMA IF NOT EXISTS idenfy_test;

-- uniform double in [0,1) from (key, seed, salt)
CREATE OR REPLACE FUNCTION idenfy_test._u(k bigint, seed int, salt int) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ((hashint8extended(k, seed::bigint * 1000 + salt) >> 11) & 9007199254740991)::float8
          / 9007199254740992.0 $$;

-- uniform integer in [0, m)
CREATE OR REPLACE FUNCTION idenfy_test._i(k bigint, seed int, salt int, m bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT floor(idenfy_test._u(k, seed, salt) * m)::bigint $$;

-- one element of a non-empty array
CREATE OR REPLACE FUNCTION idenfy_test._pick(a text[], k bigint, seed int, salt int) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT a[1 + idenfy_test._i(k, seed, salt, cardinality(a))] $$;

-- 32 hex digits -> UUID-looking string (version 4 / variant 1 layout)
CREATE OR REPLACE FUNCTION idenfy_test._uuid(h text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-'
          || substr('89ab', 1 + get_byte(decode(substr(h, 17, 2), 'hex'), 0) % 4, 1)
          || substr(h, 18, 3) || '-' || substr(h, 21, 12) $$;

-- scanRef of verification v
CREATE OR REPLACE FUNCTION idenfy_test._scan_ref(v bigint, seed int) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT idenfy_test._uuid(md5('scan:' || seed || ':' || v)) $$;

-- final overall status of verification v
CREATE OR REPLACE FUNCTION idenfy_test._outcome(v bigint, seed int) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT CASE WHEN u < 0.70 THEN 'APPROVED' WHEN u < 0.82 THEN 'DENIED'
               WHEN u < 0.92 THEN 'SUSPECTED' WHEN u < 0.97 THEN 'EXPIRED' ELSE 'REVIEWING' END
   FROM (SELECT idenfy_test._u(v, seed, 1) AS u) s $$;

-- auto-then-manual pair?  (0.326 of the 92% APPROVED/DENIED/SUSPECTED = 30% of all)
CREATE OR REPLACE FUNCTION idenfy_test._is_pair(v bigint, seed int) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT idenfy_test._u(v, seed, 1) < 0.92 AND idenfy_test._u(v, seed, 2) < 0.326 $$;

-- a scanRef for data.duplicateFaces / duplicateDocFaces of verification v: an earlier generated
-- verification (within 5,000), or ~30% of the time one that is never generated
CREATE OR REPLACE FUNCTION idenfy_test._dup_ref(v bigint, seed int, salt int) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT CASE WHEN v = 1 OR idenfy_test._u(v, seed, salt) < 0.3
               THEN idenfy_test._uuid(md5('ghost:' || seed || ':' || v || ':' || salt))
               ELSE idenfy_test._scan_ref(v - 1 - idenfy_test._i(v, seed, salt + 1, least(v - 1, 5000)), seed)
          END $$;

-- pre-signed S3 URL of one file
CREATE OR REPLACE FUNCTION idenfy_test._file_url(user_hash text, kind text, sig_key text, expires bigint)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT 'https://s3.eu-west-1.amazonaws.com/production.users.storage/users_storage/users/'
          || user_hash || '/' || kind || '.png?AWSAccessKeyId=AKIAJEE33B4FZLU73WMA&Signature='
          || replace(replace(replace(encode(substring(sha224(convert_to(sig_key || kind || expires, 'UTF8')) FROM 1 FOR 20), 'base64'),
                                     '+', '%2B'), '/', '%2F'), '=', '%3D')
          || '&Expires=' || expires $$;

-- one callback: record rec (1 = first callback of the verification, 2 = manual one of a pair)
CREATE OR REPLACE FUNCTION idenfy_test._callback(v bigint, rec int, seed int)
RETURNS TABLE (scan_ref text, event_type text, payload jsonb)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT b.sref,
       CASE WHEN rec = 2 THEN 'IDENTIFICATION_MANUAL_FINISHED'
            WHEN b.outcome = 'EXPIRED' THEN 'IDENTIFICATION_EXPIRED'
            ELSE 'IDENTIFICATION_AUTO_FINISHED' END,
       jsonb_build_object(
         'final', r.is_final,
         'platform', t.platform,
         'status', jsonb_build_object(
             'overall', r.overall,
             'suspicionReasons', '[]'::jsonb,
             'denyReasons', CASE WHEN r.overall = 'DENIED'
                                 THEN jsonb_build_array(CASE WHEN r.face_res <> 'FACE_MATCH' THEN r.face_res ELSE r.doc_res END)
                                 ELSE '[]'::jsonb END,
             'fraudTags', to_jsonb(st.fraud_tags),
             'mismatchTags', to_jsonb(st.mismatch_tags),
             'autoFace', st.a_face,
             'manualFace', CASE WHEN r.has_manual THEN st.m_face END,
             'autoDocument', st.a_doc,
             'manualDocument', CASE WHEN r.has_manual THEN st.m_doc END,
             'additionalSteps', m.status_add_steps,
             'amlResultClass', CASE WHEN m.aml_hit THEN CASE WHEN r.has_manual THEN 'TRUE_POSITIVE' ELSE 'FLAGS_FOUND' END
                                    WHEN m.aml_flags THEN 'NO_FLAGS' END,
             'pepsStatus', CASE WHEN m.aml_hit THEN 'FLAGS_FOUND' WHEN m.aml_flags THEN 'NO_FLAGS' END,
             'sanctionsStatus', CASE WHEN m.aml_hit OR m.aml_flags THEN 'NO_FLAGS' END,
             'adverseMediaStatus', CASE WHEN m.aml_hit OR m.aml_flags THEN 'NO_FLAGS' END),
         'data', CASE WHEN b.outcome = 'EXPIRED' THEN jsonb_build_object(
             'docFirstName', NULL, 'docLastName', NULL, 'docNumber', NULL, 'docPersonalCode', NULL,
             'docExpiry', NULL, 'docDob', NULL, 'docDateOfIssue', NULL, 'docType', NULL, 'docSex', NULL,
             'docNationality', NULL, 'docIssuingCountry', NULL, 'birthPlace', NULL, 'authority', NULL,
             'address', NULL, 'docTemporaryAddress', NULL, 'mothersMaidenName', NULL, 'docBirthName', NULL,
             'driverLicenseCategory', NULL, 'manuallyDataChanged', false, 'fullName', NULL,
             'selectedCountry', CASE WHEN t.started THEN pc.country END,
             'orgFirstName', NULL, 'orgLastName', NULL, 'orgNationality', NULL, 'orgBirthPlace', NULL,
             'orgAuthority', NULL, 'orgAddress', NULL, 'orgTemporaryAddress', NULL,
             'orgMothersMaidenName', NULL, 'orgBirthName', NULL, 'ageEstimate', NULL,
             'clientIpProxyRiskLevel', NULL, 'duplicateFaces', NULL, 'duplicateDocFaces', NULL,
             'additionalData', NULL)
           ELSE jsonb_build_object(
             'docFirstName', pe.first_name,
             'docLastName', pe.last_name,
             'docNumber', d.doc_number,
             'docPersonalCode', pc.personal_code,
             'docExpiry', d.doc_expiry,
             'docDob', CASE WHEN d.literal_dates THEN 'YYYY-MM-DD' ELSE to_char(pe.dob, 'YYYY-MM-DD') END,
             'docDateOfIssue', d.doc_issue,
             'docType', d.doc_type,
             'docSex', CASE WHEN pe.female THEN 'FEMALE' ELSE 'MALE' END,
             'docNationality', pc.country,
             'docIssuingCountry', d.issuing_country,
             'birthPlace', pc.birth_place,
             'authority', d.authority,
             'address', CASE WHEN d.doc_type <> 'PASSPORT' THEN pc.address END,
             'docTemporaryAddress', NULL,
             'mothersMaidenName', NULL,
             'docBirthName', NULL,
             'driverLicenseCategory', d.dl_category,
             'manuallyDataChanged', rec = 2 AND idenfy_test._u(v, seed, 70) < 0.05,
             'fullName', pe.first_name || ' ' || pe.last_name,
             'selectedCountry', d.issuing_country,
             'orgFirstName', pe.first_name,
             'orgLastName', pe.last_name,
             'orgNationality', pc.org_nationality,
             'orgBirthPlace', pc.birth_place,
             'orgAuthority', d.authority,
             'orgAddress', CASE WHEN d.doc_type <> 'PASSPORT' THEN pc.address END,
             'orgTemporaryAddress', NULL,
             'orgMothersMaidenName', NULL,
             'orgBirthName', NULL,
             'ageEstimate', CASE WHEN idenfy_test._u(v, seed, 71) < 0.3 THEN NULL
                                 WHEN pe.age >= 30 THEN 'OVER_30' WHEN pe.age >= 25 THEN 'OVER_25'
                                 WHEN pe.age >= 22 THEN 'OVER_22' ELSE 'OVER_18' END,
             'clientIpProxyRiskLevel', CASE WHEN r.overall = 'APPROVED' THEN
                                          idenfy_test._pick('{VERY_LOW,VERY_LOW,VERY_LOW,LOW,LOW,MEDIUM,HIGH,NOT_CHECKED}', v, seed, 72) END,
             'duplicateFaces', m.dup_faces,
             'duplicateDocFaces', m.dup_doc_faces,
             'additionalData', CASE WHEN m.utility THEN
                                 '{"UTILITY_BILL": {"address": {"status": "NO_DATA"}}}'::jsonb ELSE '{}'::jsonb END)
           END,
         'fileUrls', CASE
             WHEN b.outcome = 'EXPIRED' THEN
               CASE WHEN t.started AND idenfy_test._u(v, seed, 73) < 0.6
                    THEN jsonb_build_object('FACE', idenfy_test._file_url(t.user_hash, 'FACE', t.sig_key, t.expires)) ELSE '{}'::jsonb END
             ELSE jsonb_build_object(
               'FACE', idenfy_test._file_url(t.user_hash, 'FACE', t.sig_key, t.expires),
               'FRONT', idenfy_test._file_url(t.user_hash, 'FRONT', t.sig_key, t.expires))
               || CASE WHEN d.doc_type <> 'PASSPORT'
                       THEN jsonb_build_object('BACK', idenfy_test._file_url(t.user_hash, 'BACK', t.sig_key, t.expires))
                       ELSE '{}'::jsonb END
               || CASE WHEN m.utility
                       THEN jsonb_build_object('UTILITY_BILL', idenfy_test._file_url(t.user_hash, 'UTILITY_BILL', t.sig_key, t.expires))
                       ELSE '{}'::jsonb END
           END,
         'additionalStepPdfUrls', '{}'::jsonb,
         'AML', CASE WHEN b.outcome = 'EXPIRED' THEN NULL
                     ELSE jsonb_build_array(jsonb_build_object(
                       'status', jsonb_build_object('serviceSuspected', m.aml_hit, 'serviceUsed', true,
                                                    'serviceFound', true, 'checkSuccessful', true,
                                                    'overallStatus', CASE WHEN m.aml_hit THEN 'SUSPECTED' ELSE 'NOT_SUSPECTED' END),
                       'data', CASE WHEN m.aml_hit THEN jsonb_build_array(jsonb_build_object(
                                  'name', pe.first_name, 'surname', pe.last_name,
                                  'nationality', upper(pc.country_name), 'dob', to_char(pe.dob, 'YYYY'),
                                  'suspicion', 'PEPS', 'reason', upper(pc.country_name) || ': GOVERNMENT - MUNICIPAL COUNCIL MEMBER',
                                  'listNumber', NULL, 'listName', NULL,
                                  'score', 80 + idenfy_test._i(v, seed, 74, 21),
                                  'lastUpdate', to_char(date '2023-01-01' + idenfy_test._i(v, seed, 75, 700)::int, 'YYYY-MM-DD'),
                                  'isPerson', true, 'isActive', true, 'checkDate', t.check_date))
                               ELSE jsonb_build_array(jsonb_build_object(
                                  'name', NULL, 'surname', NULL, 'nationality', NULL, 'dob', NULL,
                                  'suspicion', NULL, 'reason', NULL, 'listNumber', NULL, 'listName', NULL,
                                  'score', NULL, 'lastUpdate', NULL, 'isPerson', NULL, 'isActive', NULL,
                                  'checkDate', t.check_date)) END,
                       'serviceName', CASE WHEN m.aml_hit THEN 'PilotApiAmlV2' ELSE 'PilotApiAmlV2NameCheck' END,
                       'serviceGroupType', 'AML',
                       'uid', b.sref,
                       'errorMessage', NULL)) END,
         'LID', CASE WHEN b.outcome <> 'EXPIRED' AND idenfy_test._u(v, seed, 76) < 0.2 THEN
                  jsonb_build_array(jsonb_build_object(
                    'status', jsonb_build_object('serviceSuspected', false, 'serviceUsed', true, 'serviceFound', true,
                                                 'checkSuccessful', true, 'overallStatus', 'NOT_SUSPECTED'),
                    'data', '[]'::jsonb, 'serviceName', 'IrdInvalidPapers', 'serviceGroupType', 'LID',
                    'uid', upper(substr(md5('lid:' || seed || ':' || v), 1, 25)), 'errorMessage', NULL)) END,
         'scanRef', b.sref,
         'externalRef', CASE WHEN idenfy_test._u(v, seed, 77) < 0.5 THEN 'ext-' || lpad(v::text, 8, '0') END,
         'clientId', 'client-' || lpad(b.cno::text, 6, '0'),
         'startTime', CASE WHEN t.started THEN t.t_start END,
         'finishTime', CASE WHEN b.outcome <> 'EXPIRED' THEN t.t_finish END,
         'clientIp', CASE WHEN t.started THEN t.client_ip END,
         'clientIpCountry', CASE WHEN t.started THEN t.ip_country END,
         'clientLocation', CASE WHEN t.started THEN t.ip_location END,
         'manualAddress', NULL,
         'manualAddressMatch', false,
         'registryCenterCheck', NULL,
         'addressVerification', NULL,
         'questionnaireAnswers', NULL,
         'companyId', NULL,
         'beneficiaryId', NULL,
         'riskAssessment', CASE WHEN b.outcome = 'EXPIRED' OR m.u_risk >= 0.8 THEN NULL
                                WHEN m.u_risk < 0.6 THEN jsonb_build_object('risk_score', m.risk_score, 'risk_level', m.risk_level)
                                ELSE jsonb_build_object('riskScore', m.risk_score, 'riskLevel', m.risk_level) END,
         'additionalSteps', CASE WHEN m.utility THEN '{"UTILITY_BILL": "COMPARE"}'::jsonb END)
FROM
  -- verification basics
  (SELECT idenfy_test._scan_ref(v, seed) AS sref,
          idenfy_test._outcome(v, seed) AS outcome,
          idenfy_test._is_pair(v, seed) AS is_pair,
          floor(v * idenfy_test._u(v, seed, 10) / 2.75)::bigint + 1 AS cno
    OFFSET 0  -- evaluate once per row (no flattening into the outer query)
  ) b
  -- the person behind the clientId
  CROSS JOIN LATERAL (
    SELECT f AS female,
           CASE WHEN f THEN idenfy_test._pick('{ANNA,LAURA,MARIA,EVA,SOFIA,ELENA,JULIA,IEVA,KATRIN,SARA,CLARA,INES,AGNIESZKA,EMMA,CHIARA,LUCIA,OLIVIA,CAMILLE,LIGA,ELSA}', b.cno, seed, 102)
                ELSE idenfy_test._pick('{JONAS,MARTIN,LUKAS,PETER,ANDREAS,TOMAS,MARCO,JAN,DAVID,PAUL,ERIK,JOAO,PIOTR,KARL,MATTEO,PABLO,OLIVER,HUGO,ARTURS,MARKUS}', b.cno, seed, 102)
           END AS first_name,
           idenfy_test._pick(ARRAY['KAZLAUSKAS','PETRAUSKAS','BERZINS','OZOLS','TAMM','SAAR','NOWAK','KOWALSKI','MULLER','SCHMIDT',
                                   'JANSEN','DE VRIES','MARTIN','DUBOIS','GARCIA','FERNANDEZ','ROSSI','BIANCHI','SMITH','JONES',
                                   'LINDQVIST','JOHANSSON','SILVA','SANTOS','WEBER','VAN DIJK','LAMBERT','ROMERO','RICCI','TAYLOR'],
                             b.cno, seed, 103) AS last_name,
           1 + idenfy_test._i(b.cno, seed, 104, 12)::int AS ci,
           dob,
           extract(year FROM age(date '2025-06-30', dob))::int AS age
    FROM (SELECT idenfy_test._u(b.cno, seed, 101) < 0.5 AS f,
                 date '1950-01-01' + idenfy_test._i(b.cno, seed, 105, 20454)::int AS dob OFFSET 0) x
    OFFSET 0
  ) pe
  CROSS JOIN LATERAL (
    SELECT (ARRAY['LT','LV','EE','PL','DE','NL','FR','ES','IT','GB','SE','PT'])[pe.ci] AS country,
           (ARRAY['Lithuania','Latvia','Estonia','Poland','Germany','Netherlands','France','Spain','Italy',
                  'United Kingdom','Sweden','Portugal'])[pe.ci] AS country_name,
           (ARRAY['LIETUVOS','LATVIJAS','EESTI','POLSKIE','DEUTSCH','NEDERLANDSE','FRANÇAISE','ESPAÑOLA','ITALIANA',
                  'BRITISH CITIZEN','SVENSK','PORTUGUESA'])[pe.ci] AS org_nationality,
           CASE WHEN idenfy_test._u(b.cno, seed, 106) < 0.6
                THEN (ARRAY['VILNIUS','RIGA','TALLINN','WARSZAWA','BERLIN','AMSTERDAM','PARIS','MADRID','ROMA','LONDON','STOCKHOLM','LISBOA'])[pe.ci]
                ELSE (ARRAY['KAUNAS','DAUGAVPILS','TARTU','KRAKOW','HAMBURG','ROTTERDAM','LYON','SEVILLA','MILANO','MANCHESTER','GOTEBORG','PORTO'])[pe.ci]
           END AS birth_place,
           (ARRAY['GEDIMINO PR.','BRIVIBAS IELA','NARVA MNT','UL. DLUGA','HAUPTSTRASSE','KERKSTRAAT','RUE DE LA PAIX',
                  'CALLE MAYOR','VIA ROMA','HIGH STREET','STORGATAN','RUA AUGUSTA'])[pe.ci]
             || ' ' || (1 + idenfy_test._i(b.cno, seed, 107, 180)) || '-' || (1 + idenfy_test._i(b.cno, seed, 108, 60)) || ', '
             || (ARRAY['VILNIUS','RIGA','TALLINN','WARSZAWA','BERLIN','AMSTERDAM','PARIS','MADRID','ROMA','LONDON','STOCKHOLM','LISBOA'])[pe.ci]
             AS address,
           CASE pe.ci
             WHEN 1 THEN CASE WHEN pe.female THEN '4' ELSE '3' END || to_char(pe.dob, 'YYMMDD') || lpad(idenfy_test._i(b.cno, seed, 109, 10000)::text, 4, '0')
             WHEN 3 THEN CASE WHEN pe.female THEN '4' ELSE '3' END || to_char(pe.dob, 'YYMMDD') || lpad(idenfy_test._i(b.cno, seed, 109, 10000)::text, 4, '0')
             WHEN 2 THEN to_char(pe.dob, 'DDMMYY') || '-' || lpad(idenfy_test._i(b.cno, seed, 109, 100000)::text, 5, '0')
             WHEN 4 THEN to_char(pe.dob, 'YYMMDD') || lpad(idenfy_test._i(b.cno, seed, 109, 100000)::text, 5, '0')
             WHEN 11 THEN to_char(pe.dob, 'YYYYMMDD') || '-' || lpad(idenfy_test._i(b.cno, seed, 109, 10000)::text, 4, '0')
           END AS personal_code
    OFFSET 0
  ) pc
  -- the session
  CROSS JOIN LATERAL (
    SELECT x.*,
           x.t_start + 25 + idenfy_test._i(v, seed, 31, 500) AS t_finish,
           to_char(to_timestamp(x.t_start + 27 + idenfy_test._i(v, seed, 31, 500)) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS check_date,
           x.t_start + 25 + idenfy_test._i(v, seed, 31, 500) + 3600
             + CASE WHEN rec = 2 THEN 120 + idenfy_test._i(v, seed, 32, 3000) ELSE 0 END AS expires
    FROM (SELECT 1735689600 + v * 25 + idenfy_test._i(v, seed, 30, 20) AS t_start,
                 b.outcome <> 'EXPIRED' OR idenfy_test._u(v, seed, 50) < 0.5 AS started,
                 CASE WHEN b.outcome = 'EXPIRED' AND idenfy_test._u(v, seed, 50) >= 0.5 THEN NULL
                      ELSE idenfy_test._pick('{PC,PC,PC,PC,PC,PC,PC,MOBILE,MOBILE,MOBILE,MOBILE,MOBILE,MOBILE,MOBILE_APP,MOBILE_APP,MOBILE_APP,MOBILE_SDK,MOBILE_SDK,TABLET,OTHER}', v, seed, 33)
                 END AS platform,
                 CASE WHEN idenfy_test._u(v, seed, 34) < 0.1
                      THEN '2001:db8::' || to_hex(1 + idenfy_test._i(v, seed, 35, 65535)::int) || ':' || to_hex(idenfy_test._i(v, seed, 36, 65536)::int)
                      ELSE idenfy_test._pick('{192.0.2.,198.51.100.,203.0.113.}', v, seed, 35) || (1 + idenfy_test._i(v, seed, 36, 254))
                 END AS client_ip,
                 CASE WHEN idenfy_test._u(v, seed, 37) < 0.9 THEN pc.country ELSE 'GB' END AS ip_country,
                 CASE WHEN idenfy_test._u(v, seed, 37) < 0.9
                      THEN initcap((ARRAY['VILNIUS','RIGA','TALLINN','WARSZAWA','BERLIN','AMSTERDAM','PARIS','MADRID','ROMA','LONDON','STOCKHOLM','LISBOA'])[pe.ci]) || ', ' || pc.country_name
                      ELSE 'London, United Kingdom' END AS ip_location,
                 replace(replace(replace(encode(decode(md5('user:' || seed || ':' || v) || md5('user2:' || seed || ':' || v), 'hex'), 'base64'),
                                         '+', '-'), '/', '_'), '=', '%3D') AS user_hash,
                 seed || ':' || v || ':' || rec || ':' AS sig_key
          OFFSET 0
         ) x
    OFFSET 0
  ) t
  -- the document
  CROSS JOIN LATERAL (
    SELECT y.*,
           CASE WHEN y.literal_dates THEN 'YYYY-MM-DD' ELSE to_char(y.exp_date, 'YYYY-MM-DD') END AS doc_expiry,
           to_char(coalesce(y.exp_date - CASE WHEN y.doc_type = 'RESIDENCE_PERMIT' THEN interval '5 years' ELSE interval '10 years' END
                                       + interval '1 day',
                            date '2012-01-01' + idenfy_test._i(v, seed, 27, 4500)::int), 'YYYY-MM-DD') AS doc_issue,
           CASE WHEN y.doc_type = 'PASSPORT'
                THEN chr(65 + idenfy_test._i(v, seed, 21, 26)::int) || chr(65 + idenfy_test._i(v, seed, 22, 26)::int)
                     || lpad(idenfy_test._i(v, seed, 23, 10000000)::text, 7, '0')
                WHEN y.doc_type = 'DRIVER_LICENSE'
                THEN y.issuing_country || lpad(idenfy_test._i(v, seed, 23, 100000000)::text, 8, '0')
                ELSE lpad(idenfy_test._i(v, seed, 23, 100000000)::text, 8, '0')
           END AS doc_number,
           CASE WHEN y.doc_type = 'DRIVER_LICENSE' THEN idenfy_test._pick(ARRAY['B','AM, B','A, B','B, BE','AM, A1, B, C1'], v, seed, 28) END AS dl_category,
           CASE WHEN y.doc_type = 'RESIDENCE_PERMIT' THEN 'MIGRATION OFFICE'
                ELSE (ARRAY['MIGRACIJOS DEPARTAMENTAS','PMLP','POLITSEI- JA PIIRIVALVEAMET','PREZYDENT MIASTA','STADT BERLIN',
                            'BURGEMEESTER VAN AMSTERDAM','PREFECTURE DE POLICE','DGP','COMUNE DI ROMA','HMPO','POLISMYNDIGHETEN','IRN'])[pe.ci]
           END AS authority
    FROM (SELECT z.doc_type, z.issuing_country, z.literal_dates,
                 CASE WHEN z.literal_dates OR z.u_exp < 0.03 THEN NULL
                      WHEN st0.doc_fail = 'DOC_EXPIRED' THEN date '2020-01-01' + idenfy_test._i(v, seed, 25, 1800)::int
                      ELSE date '2020-01-01' + idenfy_test._i(v, seed, 25, 5844)::int
                 END AS exp_date
          FROM (SELECT CASE WHEN u < 0.45 THEN 'ID_CARD' WHEN u < 0.80 THEN 'PASSPORT'
                            WHEN u < 0.92 THEN 'DRIVER_LICENSE' ELSE 'RESIDENCE_PERMIT' END AS doc_type,
                       CASE WHEN u >= 0.92 THEN (ARRAY['LT','LV','EE','PL','DE','NL','FR','ES','IT','GB','SE','PT'])[1 + (pe.ci % 12)]
                            ELSE pc.country END AS issuing_country,
                       u_exp >= 0.03 AND u_exp < 0.05 AS literal_dates,
                       u_exp
                FROM (SELECT idenfy_test._u(v, seed, 20) AS u, idenfy_test._u(v, seed, 24) AS u_exp) w OFFSET 0) z,
               LATERAL (SELECT CASE WHEN b.outcome = 'DENIED' AND idenfy_test._u(v, seed, 41) >= 0.5
                                    THEN idenfy_test._pick('{DOC_NOT_FULLY_VISIBLE,DOC_EXPIRED,DOC_FAKE,DOC_TOO_BLURRY,DOC_NOT_SUPPORTED,DOC_DAMAGED,DOC_GLARED,DOC_FACE_NOT_FOUND,DOC_INFO_MISMATCH,DOC_SPOOF_DETECTED}', v, seed, 42)
                               END AS doc_fail OFFSET 0) st0
          OFFSET 0
         ) y
    OFFSET 0
  ) d
  -- verification-level statuses
  CROSS JOIN LATERAL (
    SELECT s.*,
           CASE WHEN b.outcome = 'SUSPECTED' AND s.mode IN (0, 1, 4)
                THEN CASE WHEN s.mode = 1 THEN ARRAY[s.fraud[1 + s.fi1], s.fraud[1 + (s.fi1 + 1 + s.fj) % 10]] ELSE ARRAY[s.fraud[1 + s.fi1]] END
                ELSE '{}'::text[] END AS fraud_tags,
           CASE WHEN b.outcome = 'SUSPECTED' AND s.mode IN (2, 3, 4)
                THEN CASE WHEN s.mode = 3 THEN ARRAY[s.mism[1 + s.mi1], s.mism[1 + (s.mi1 + 1 + s.mj) % 10]] ELSE ARRAY[s.mism[1 + s.mi1]] END
                ELSE '{}'::text[] END AS mismatch_tags
    FROM (SELECT
            -- auto results (identical in both callbacks of a pair)
            CASE b.outcome
              WHEN 'APPROVED' THEN CASE WHEN b.is_pair AND q.u43 < 0.25 AND q.u44 < 0.5 THEN 'FACE_UNCERTAIN' ELSE 'FACE_MATCH' END
              WHEN 'DENIED' THEN CASE WHEN b.is_pair AND q.u43 < 0.4 THEN 'FACE_MATCH'
                                      WHEN q.face_fail THEN 'FACE_MISMATCH' ELSE 'FACE_MATCH' END
              WHEN 'SUSPECTED' THEN 'FACE_MATCH'
              WHEN 'REVIEWING' THEN CASE WHEN q.u44 < 0.5 THEN 'FACE_UNCERTAIN' ELSE 'FACE_MATCH' END
            END AS a_face,
            CASE b.outcome
              WHEN 'APPROVED' THEN CASE WHEN b.is_pair AND q.u43 < 0.25 AND q.u44 >= 0.5
                                        THEN idenfy_test._pick('{DOC_TOO_BLURRY,AUTO_UNVERIFIABLE,DOC_GLARED,MRZ_OCR_READING_ERROR}', v, seed, 45)
                                        ELSE 'DOC_VALIDATED' END
              WHEN 'DENIED' THEN CASE WHEN b.is_pair AND q.u43 < 0.4 THEN 'DOC_VALIDATED'
                                      WHEN q.face_fail THEN 'DOC_VALIDATED' ELSE q.doc_fail END
              WHEN 'SUSPECTED' THEN 'DOC_VALIDATED'
              WHEN 'REVIEWING' THEN CASE WHEN q.u44 < 0.5 THEN 'DOC_VALIDATED' ELSE 'AUTO_UNVERIFIABLE' END
            END AS a_doc,
            -- final (manual) results
            CASE WHEN b.outcome IN ('APPROVED', 'SUSPECTED') THEN 'FACE_MATCH'
                 WHEN b.outcome = 'DENIED' THEN CASE WHEN q.face_fail THEN 'FACE_MISMATCH' ELSE 'FACE_MATCH' END
            END AS m_face,
            CASE WHEN b.outcome IN ('APPROVED', 'SUSPECTED') THEN 'DOC_VALIDATED'
                 WHEN b.outcome = 'DENIED' THEN CASE WHEN q.face_fail THEN 'DOC_VALIDATED' ELSE q.doc_fail END
            END AS m_doc,
            -- overall of the non-final auto callback of a pair
            CASE WHEN b.outcome = 'SUSPECTED' THEN 'SUSPECTED'
                 WHEN b.outcome = 'APPROVED' AND b.is_pair AND q.u43 < 0.25 THEN 'DENIED'
                 WHEN b.outcome = 'DENIED' AND b.is_pair AND q.u43 < 0.4 THEN 'APPROVED'
                 ELSE b.outcome END AS a_overall,
            q.mode, q.fi1, q.fj, q.mi1, q.mj,
            ARRAY['FACE_SUSPECTED','DOC_MOBILE_PHOTO','DEV_TOOLS_OPENED','DOC_PRINT_SPOOFED','FAKE_PHOTO',
                  'AML_SUSPECTION','VIRTUAL_CAMERA','DUPLICATE_FACE','DUPLICATE_DOC_FACE','LID_SUSPECTION'] AS fraud,
            ARRAY['NAME','SURNAME','DOCUMENT_NUMBER','PERSONAL_CODE','EXPIRY_DATE','DATE_OF_BIRTH','FULL_NAME',
                  'SEX','NATIONALITY','DATE_OF_ISSUE'] AS mism
          FROM (SELECT idenfy_test._u(v, seed, 41) < 0.5 AS face_fail,
                       idenfy_test._pick('{DOC_NOT_FULLY_VISIBLE,DOC_EXPIRED,DOC_FAKE,DOC_TOO_BLURRY,DOC_NOT_SUPPORTED,DOC_DAMAGED,DOC_GLARED,DOC_FACE_NOT_FOUND,DOC_INFO_MISMATCH,DOC_SPOOF_DETECTED}', v, seed, 42) AS doc_fail,
                       idenfy_test._u(v, seed, 43) AS u43,
                       idenfy_test._u(v, seed, 44) AS u44,
                       CASE WHEN uu < 0.35 THEN 0 WHEN uu < 0.50 THEN 1 WHEN uu < 0.75 THEN 2 WHEN uu < 0.85 THEN 3 ELSE 4 END AS mode,
                       idenfy_test._i(v, seed, 46, 10)::int AS fi1,
                       idenfy_test._i(v, seed, 47, 9)::int AS fj,
                       idenfy_test._i(v, seed, 48, 10)::int AS mi1,
                       idenfy_test._i(v, seed, 49, 9)::int AS mj
                FROM (SELECT idenfy_test._u(v, seed, 40) AS uu OFFSET 0) o OFFSET 0) q
          OFFSET 0
         ) s
    OFFSET 0
  ) st
  -- record-level view
  CROSS JOIN LATERAL (
    SELECT fin AS is_final,
           hm AS has_manual,
           CASE WHEN rec = 1 AND b.is_pair THEN st.a_overall ELSE b.outcome END AS overall,
           CASE WHEN hm THEN st.m_face ELSE st.a_face END AS face_res,
           CASE WHEN hm THEN st.m_doc ELSE st.a_doc END AS doc_res
    FROM (SELECT CASE WHEN rec = 2 THEN true WHEN b.is_pair THEN false
                      WHEN b.outcome = 'REVIEWING' THEN false ELSE true END AS fin,
                 rec = 2 OR (NOT b.is_pair AND b.outcome IN ('APPROVED', 'DENIED', 'SUSPECTED')) AS hm OFFSET 0) f
    OFFSET 0
  ) r
  -- miscellany
  CROSS JOIN LATERAL (
    SELECT idenfy_test._u(v, seed, 60) < 0.15 AND b.outcome <> 'EXPIRED' AS utility,
           CASE WHEN b.outcome = 'EXPIRED' THEN NULL
                WHEN idenfy_test._u(v, seed, 60) < 0.15 THEN CASE WHEN idenfy_test._u(v, seed, 61) < 0.9 THEN 'VALID' ELSE 'INVALID' END
                WHEN idenfy_test._u(v, seed, 61) < 0.5 THEN 'NOT_FOUND' END AS status_add_steps,
           'AML_SUSPECTION' = ANY (st.fraud_tags) AS aml_hit,
           idenfy_test._u(v, seed, 62) < 0.35 AS aml_flags,
           idenfy_test._u(v, seed, 63) AS u_risk,
           rs AS risk_score,
           CASE WHEN rs < 30 THEN 'LOW' WHEN rs < 60 THEN 'MEDIUM' ELSE 'HIGH' END AS risk_level,
           CASE WHEN dupsel AND dupkind < 0.85
                THEN CASE WHEN idenfy_test._u(v, seed, 66) < 0.7
                          THEN jsonb_build_array(idenfy_test._dup_ref(v, seed, 80))
                          ELSE jsonb_build_array(idenfy_test._dup_ref(v, seed, 80), idenfy_test._dup_ref(v, seed, 82)) END
           END AS dup_faces,
           CASE WHEN dupsel AND dupkind >= 0.6
                THEN CASE WHEN idenfy_test._u(v, seed, 67) < 0.7
                          THEN jsonb_build_array(idenfy_test._dup_ref(v, seed, 84))
                          ELSE jsonb_build_array(idenfy_test._dup_ref(v, seed, 84), idenfy_test._dup_ref(v, seed, 86)) END
           END AS dup_doc_faces
    FROM (SELECT CASE b.outcome WHEN 'APPROVED' THEN 5 + idenfy_test._i(v, seed, 64, 50)
                                WHEN 'DENIED' THEN 40 + idenfy_test._i(v, seed, 64, 56)
                                WHEN 'SUSPECTED' THEN 55 + idenfy_test._i(v, seed, 64, 45)
                                ELSE 20 + idenfy_test._i(v, seed, 64, 40) END AS rs,
                 idenfy_test._u(v, seed, 65) < 0.02 AS dupsel,
                 idenfy_test._u(v, seed, 68) AS dupkind OFFSET 0) g
    OFFSET 0
  ) m
$fn$;

-- the generator: n callbacks in delivery order
CREATE OR REPLACE FUNCTION idenfy_test.gen_callbacks(n int, seed int DEFAULT 1)
RETURNS TABLE (seq int, scan_ref text, event_type text, payload jsonb)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
WITH cls AS (
  -- verifications 1..n+1 always suffice: the first callback of verification k sorts at k*100,
  -- so the n smallest positions all belong to verifications <= n
  SELECT v,
         idenfy_test._is_pair(v, seed) AS is_pair,
         idenfy_test._u(v, seed, 3) < 0.0402 AS has_dup,
         1 + idenfy_test._i(v, seed, 4, 5) AS pair_gap,
         2 + idenfy_test._i(v, seed, 5, 39) AS dup_gap,
         idenfy_test._u(v, seed, 6) < 0.5 AS dup_second
  FROM generate_series(1::bigint, greatest(n, 0)::bigint + 1) AS v
), skel AS (
  SELECT v, 1 AS rec, v * 100 AS pos FROM cls                       -- first callback
  UNION ALL
  SELECT v, 2, (v + pair_gap) * 100 + 50 FROM cls WHERE is_pair     -- manual callback of a pair
  UNION ALL
  SELECT v, CASE WHEN is_pair AND dup_second THEN 2 ELSE 1 END,      -- exact duplicate delivery
         (v + CASE WHEN is_pair AND dup_second THEN pair_gap ELSE 0 END + dup_gap) * 100 + 70
  FROM cls WHERE has_dup
), picked AS (
  SELECT v, rec, pos, (row_number() OVER (ORDER BY pos, v))::int AS seq
  FROM skel
  ORDER BY pos, v
  LIMIT greatest(n, 0)
)
SELECT p.seq, c.scan_ref, c.event_type, c.payload
FROM picked p CROSS JOIN LATERAL idenfy_test._callback(p.v, p.rec, seed) c
ORDER BY p.pos, p.v   -- = ORDER BY seq, without sorting the payloads
$fn$;
