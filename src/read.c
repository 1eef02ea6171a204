/*-------------------------------------------------------------------------
 *
 * read.c
 *		Read a callback: walk the jsonb once and check every field against
 *		the vendor's contract, filling an IdenfyCallback.
 *
 * No SPI, no catalog access, no side effects: the result is either a filled
 * struct or an IdenfyReadError that the caller raises or quarantines.  The
 * field tables below are the contract (README: "Callback fields"): JSON key,
 * kind, documented maximum length.  Where the vendor's pages disagree on a
 * limit, the larger one is used.
 *
 * Keys of a jsonb object come in a fixed order (shorter first, then
 * bytewise), so each object is read in one merge pass against its field
 * table sorted the same way.  Keys we do not know are ignored: they stay in
 * the stored payload.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "datatype/timestamp.h"

#include "idenfy.h"

#define IDENFY_IP_MAX 39
#define IDENFY_FILE_NAME_MAX 100	/* keys of fileUrls, additionalStepPdfUrls */
#define IDENFY_QUOTED_KEY_MAX 64	/* bytes of such a key quoted in a message */
#define IDENFY_LIST_TEXT_MAX 255	/* our cap on legacy reason strings */

typedef enum FieldKind
{
	K_STRING,					/* string or null, at most maxlen characters */
	K_LABEL,					/* string or null from a vendor vocabulary */
	K_COUNTRY,					/* ISO 3166-1 alpha-2 code or null */
	K_IP,						/* IPv4 or IPv6 address or null */
	K_BOOL,						/* true, false or null */
	K_EPOCH,					/* Unix seconds or null */
	K_NUMBER,					/* any number or null */
	K_JSON,						/* object, array or null, kept whole */
	K_STRING_LIST,				/* array of strings, or null */
	K_LABEL_LIST,				/* array of vocabulary strings, or null */
	K_SCAN_REF_LIST,			/* array of scanRefs, or null */
	K_OBJECT,					/* nested object read with its own table */
	K_RISK,						/* riskAssessment: kept whole, score and level read */
	K_URL_MAP,					/* object of name -> pre-signed URL, or null */
	K_SERVICES					/* AML or LID: array of service results, or null */
} FieldKind;

typedef struct FieldTable FieldTable;

typedef struct Field
{
	const char *key;
	FieldKind	kind;
	int			slot;			/* index into the destination value array */
	int			maxlen;			/* characters; 0: no documented limit */
	int			arg;			/* vocabulary, URL source or service list */
	FieldTable *object;			/* K_OBJECT: the nested table */
	bool		alias;			/* a data.* copy of a top-level field: fills only an empty slot */
} Field;

struct FieldTable
{
	const char *name;			/* path prefix, "" at the top level */
	Field	   *fields;
	int			nfields;
	bool		sorted;
};


/* status.* */
static Field status_fields[] = {
	{"overall", K_LABEL, SLOT_OVERALL, 30, VOCAB_OVERALL},
	{"autoFace", K_LABEL, SLOT_AUTO_FACE, 30, VOCAB_FACE},
	{"manualFace", K_LABEL, SLOT_MANUAL_FACE, 30, VOCAB_FACE},
	{"autoDocument", K_LABEL, SLOT_AUTO_DOCUMENT, 30, VOCAB_DOCUMENT},
	{"manualDocument", K_LABEL, SLOT_MANUAL_DOCUMENT, 30, VOCAB_DOCUMENT},
	{"additionalSteps", K_LABEL, SLOT_ADDITIONAL_STEP_STATUS, 30, VOCAB_ADDITIONAL_STEP},
	{"fraudTags", K_LABEL_LIST, SLOT_FRAUD_TAGS, IDENFY_TAG_MAX, VOCAB_FRAUD_TAG},
	{"mismatchTags", K_LABEL_LIST, SLOT_MISMATCH_TAGS, IDENFY_TAG_MAX, VOCAB_MISMATCH_TAG},
	{"suspicionReasons", K_STRING_LIST, SLOT_SUSPICION_REASONS, IDENFY_LIST_TEXT_MAX},
	{"denyReasons", K_STRING_LIST, SLOT_DENY_REASONS, IDENFY_LIST_TEXT_MAX},
	{"amlResultClass", K_LABEL, SLOT_AML_RESULT_CLASS, 30, VOCAB_AML_STATUS},
	{"pepsStatus", K_LABEL, SLOT_PEPS_STATUS, 30, VOCAB_AML_STATUS},
	{"sanctionsStatus", K_LABEL, SLOT_SANCTIONS_STATUS, 30, VOCAB_AML_STATUS},
	{"adverseMediaStatus", K_LABEL, SLOT_ADVERSE_MEDIA_STATUS, 30, VOCAB_AML_STATUS},
};

/* data.* */
static Field data_fields[] = {
	{"docFirstName", K_STRING, SLOT_DOC_FIRST_NAME, 100},
	{"docLastName", K_STRING, SLOT_DOC_LAST_NAME, 100},
	{"docNumber", K_STRING, SLOT_DOC_NUMBER, 100},
	{"docPersonalCode", K_STRING, SLOT_DOC_PERSONAL_CODE, 30},	/* 15 on the reference page */
	{"docExpiry", K_STRING, SLOT_DOC_EXPIRY, 100},
	{"docDob", K_STRING, SLOT_DOC_DOB, 100},
	{"docDateOfIssue", K_STRING, SLOT_DOC_DATE_OF_ISSUE, 100},
	{"docType", K_LABEL, SLOT_DOC_TYPE, 30, VOCAB_DOC_TYPE},
	{"docSex", K_LABEL, SLOT_DOC_SEX, 9, VOCAB_SEX},
	{"docNationality", K_COUNTRY, SLOT_DOC_NATIONALITY},
	{"docIssuingCountry", K_COUNTRY, SLOT_DOC_ISSUING_COUNTRY},
	{"docTemporaryAddress", K_STRING, SLOT_DOC_TEMPORARY_ADDRESS, 100},
	{"docBirthName", K_STRING, SLOT_DOC_BIRTH_NAME, 100},
	{"docPatronymic", K_STRING, SLOT_DOC_PATRONYMIC, 100},
	{"birthPlace", K_STRING, SLOT_BIRTH_PLACE, 60},
	{"authority", K_STRING, SLOT_AUTHORITY, 60},
	{"address", K_STRING, SLOT_ADDRESS, 100},
	{"mothersMaidenName", K_STRING, SLOT_MOTHERS_MAIDEN_NAME, 80},
	{"driverLicenseCategory", K_STRING, SLOT_DRIVER_LICENSE_CATEGORY, 30},
	{"manuallyDataChanged", K_BOOL, SLOT_MANUALLY_DATA_CHANGED},
	{"fullName", K_STRING, SLOT_FULL_NAME, 201},
	{"selectedCountry", K_COUNTRY, SLOT_SELECTED_COUNTRY},
	{"orgFirstName", K_STRING, SLOT_ORG_FIRST_NAME, 255},
	{"orgLastName", K_STRING, SLOT_ORG_LAST_NAME, 255},
	{"orgNationality", K_STRING, SLOT_ORG_NATIONALITY, 255},
	{"orgBirthPlace", K_STRING, SLOT_ORG_BIRTH_PLACE, 500},
	{"orgAuthority", K_STRING, SLOT_ORG_AUTHORITY, 500},
	{"orgAddress", K_STRING, SLOT_ORG_ADDRESS, 500},
	{"orgTemporaryAddress", K_STRING, SLOT_ORG_TEMPORARY_ADDRESS, 500},
	{"orgMothersMaidenName", K_STRING, SLOT_ORG_MOTHERS_MAIDEN_NAME, 500},
	{"orgPatronymic", K_STRING, SLOT_ORG_PATRONYMIC, 500},
	{"orgBirthName", K_STRING, SLOT_ORG_BIRTH_NAME, 500},
	{"ageEstimate", K_LABEL, SLOT_AGE_ESTIMATE, 10, VOCAB_AGE_ESTIMATE},
	{"clientIpProxyRiskLevel", K_LABEL, SLOT_IP_PROXY_RISK, 11, VOCAB_IP_PROXY_RISK},
	{"duplicateFaces", K_SCAN_REF_LIST, SLOT_DUPLICATE_FACES},
	{"duplicateDocFaces", K_SCAN_REF_LIST, SLOT_DUPLICATE_DOC_FACES},
	{"additionalData", K_JSON, SLOT_ADDITIONAL_DATA},
	/* some payloads carry these inside data (NOTES.md) */
	{"manualAddress", K_STRING, SLOT_MANUAL_ADDRESS, 0, 0, NULL, true},
	{"manualAddressMatch", K_BOOL, SLOT_MANUAL_ADDRESS_MATCH, 0, 0, NULL, true},
	{"registryCenterCheck", K_JSON, SLOT_REGISTRY_CENTER_CHECK, 0, 0, NULL, true},
	{"addressVerification", K_JSON, SLOT_ADDRESS_VERIFICATION, 0, 0, NULL, true},
};

static FieldTable status_table = {"status", status_fields, lengthof(status_fields)};
static FieldTable data_table = {"data", data_fields, lengthof(data_fields)};

/* the top level */
static Field root_fields[] = {
	{"scanRef", K_STRING, SLOT_SCAN_REF, IDENFY_SCAN_REF_MAX},
	{"final", K_BOOL, SLOT_FINAL},
	{"platform", K_LABEL, SLOT_PLATFORM, 30, VOCAB_PLATFORM},
	{"status", K_OBJECT, -1, 0, 0, &status_table},
	{"data", K_OBJECT, -1, 0, 0, &data_table},
	{"fileUrls", K_URL_MAP, -1, 0, 0},
	{"additionalStepPdfUrls", K_URL_MAP, -1, 0, 1},
	{"AML", K_SERVICES, -1, 0, 0},
	{"LID", K_SERVICES, -1, 0, 1},
	{"externalRef", K_STRING, SLOT_EXTERNAL_REF, 40},
	{"clientId", K_STRING, SLOT_CLIENT_ID, 100},
	{"startTime", K_EPOCH, SLOT_START_TIME},
	{"finishTime", K_EPOCH, SLOT_FINISH_TIME},
	{"clientIp", K_IP, SLOT_CLIENT_IP, IDENFY_IP_MAX},
	{"clientIpCountry", K_COUNTRY, SLOT_CLIENT_IP_COUNTRY},
	{"clientLocation", K_STRING, SLOT_CLIENT_LOCATION, 100},
	{"manualAddress", K_STRING, SLOT_MANUAL_ADDRESS, 0},
	{"manualAddressMatch", K_BOOL, SLOT_MANUAL_ADDRESS_MATCH},
	{"addressVerification", K_JSON, SLOT_ADDRESS_VERIFICATION},
	{"registryCenterCheck", K_JSON, SLOT_REGISTRY_CENTER_CHECK},
	{"questionnaireAnswers", K_JSON, SLOT_QUESTIONNAIRE_ANSWERS},
	{"companyId", K_STRING, SLOT_COMPANY_ID, 0},
	{"beneficiaryId", K_STRING, SLOT_BENEFICIARY_ID, 0},
	{"additionalSteps", K_JSON, SLOT_ADDITIONAL_STEPS},
	{"riskAssessment", K_RISK, SLOT_RISK_ASSESSMENT},
	/* DOCUMENT_EXPIRATION body */
	{"expirationThreshold", K_LABEL, SLOT_EXPIRATION_THRESHOLD, 60, VOCAB_EXPIRATION_THRESHOLD},
	{"documentExpiration", K_STRING, SLOT_DOCUMENT_EXPIRATION, 100},
};

static FieldTable root_table = {"", root_fields, lengthof(root_fields)};

/* riskAssessment.*: both spellings (NOTES.md) */
static Field risk_fields[] = {
	{"riskScore", K_NUMBER, SLOT_RISK_SCORE},
	{"risk_score", K_NUMBER, SLOT_RISK_SCORE},
	{"riskLevel", K_STRING, SLOT_RISK_LEVEL, 30},
	{"risk_level", K_STRING, SLOT_RISK_LEVEL, 30},
};
static FieldTable risk_table = {"riskAssessment", risk_fields, lengthof(risk_fields)};

/* AML[i].* and LID[i].*: slots of a local value array */
enum
{
	SV_NAME, SV_GROUP, SV_UID, SV_ERROR, SV_DATA, SV_STATUS,
	SV_SUSPECTED, SV_USED, SV_FOUND, SV_SUCCESSFUL, SV_OVERALL, SV_COUNT
};
static Field service_status_fields[] = {
	{"serviceSuspected", K_BOOL, SV_SUSPECTED},
	{"serviceUsed", K_BOOL, SV_USED},
	{"serviceFound", K_BOOL, SV_FOUND},
	{"checkSuccessful", K_BOOL, SV_SUCCESSFUL},
	{"overallStatus", K_STRING, SV_OVERALL, 100},
};
static FieldTable service_status_table = {"status", service_status_fields, lengthof(service_status_fields)};
static Field service_fields[] = {
	{"status", K_OBJECT, SV_STATUS, 0, 0, &service_status_table},
	{"data", K_JSON, SV_DATA},
	{"serviceName", K_STRING, SV_NAME, 255},
	{"serviceGroupType", K_STRING, SV_GROUP, 100},
	{"uid", K_STRING, SV_UID, 255},
	{"errorMessage", K_STRING, SV_ERROR, 0},
};
static FieldTable service_table = {"", service_fields, lengthof(service_fields)};

static const char *const service_lists[] = {"AML", "LID"};

/* Reading state: the callback, the error, and where we are. */
typedef struct ReadState
{
	IdenfyCallback *cb;
	IdenfyReadError *err;
} ReadState;

static bool ReadObject(ReadState *rs, JsonbContainer *container,
					   FieldTable *table, const char *path, IdenfyValue *dest);

/* ------------------------------------------------------------------------
 * Errors.  Messages name the JSON path and the received JSON type, never a
 * value: callback values may be personal data.
 * ------------------------------------------------------------------------ */
static const char *
JsonTypeName(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "an array" : "an object";
		case jbvArray:
			return "an array";
		case jbvObject:
			return "an object";
		default:
			return "an unknown JSON value";
	}
}

static bool
Fail(ReadState *rs, int sqlstate, const char *path, char *message, char *detail)
{
	IdenfyReadError *err = rs->err;

	err->sqlstate = sqlstate;
	err->path = pstrdup(path);
	err->message = message;
	err->detail = detail;
	err->hint = pstrdup("Check the callback against the vendor's webhook reference; "
						"with idenfy.on_invalid = 'quarantine' invalid callbacks are kept instead of rejected.");
	return false;
}

static bool
FailType(ReadState *rs, const char *path, const JsonbValue *v, const char *expected)
{
	return Fail(rs, ERRCODE_INVALID_PARAMETER_VALUE, path,
				psprintf("callback field \"%s\" has the wrong JSON type", path),
				psprintf("Expected %s; received %s.", expected, JsonTypeName(v)));
}

static char *
ChildPath(const char *parent, const char *key)
{
	if (parent[0] == '\0')
		return pstrdup(key);
	return psprintf("%s.%s", parent, key);
}

/*
 * QuotedKey: a key of the callback's own (a file name) as it may appear in
 * a JSON path of a message: control characters, quotes and backslashes
 * escaped as in JSON, at most IDENFY_QUOTED_KEY_MAX bytes, then "...".
 */
static char *
QuotedKey(const char *key)
{
	StringInfoData buf;
	const char *p;

	initStringInfo(&buf);
	for (p = key; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (buf.len >= IDENFY_QUOTED_KEY_MAX)
		{
			/* cut on a character boundary */
			buf.len = pg_mbcliplen(buf.data, buf.len, IDENFY_QUOTED_KEY_MAX);
			buf.data[buf.len] = '\0';
			appendStringInfoString(&buf, "...");
			break;
		}
		if (c == '"' || c == '\\')
			appendStringInfo(&buf, "\\%c", c);
		else if (c == '\n')
			appendStringInfoString(&buf, "\\n");
		else if (c == '\t')
			appendStringInfoString(&buf, "\\t");
		else if (c < 0x20 || c == 0x7f)
			appendStringInfo(&buf, "\\u%04x", c);
		else
			appendStringInfoChar(&buf, c);
	}
	return buf.data;
}

static char *
ElementPath(const char *parent, const char *key, int i)
{
	if (parent[0] == '\0')
		return psprintf("%s[%d]", key, i);
	return psprintf("%s.%s[%d]", parent, key, i);
}

/* ------------------------------------------------------------------------
 * Scalar checks.
 * ------------------------------------------------------------------------ */

/* A string of at most maxlen characters (0: no limit), returned NUL-terminated. */
static bool
RequireString(ReadState *rs, const JsonbValue *v, int maxlen, const char *path,
			  char **out)
{
	if (v->type != jbvString)
		return FailType(rs, path, v, "a string or null");
	if (maxlen > 0 && v->val.string.len > maxlen)
	{
		int			nchars = pg_mbstrlen_with_len(v->val.string.val, v->val.string.len);

		if (nchars > maxlen)
			return Fail(rs, ERRCODE_STRING_DATA_RIGHT_TRUNCATION, path,
						psprintf("callback field \"%s\" is too long", path),
						psprintf("The value has %d characters; the limit is %d.",
								 nchars, maxlen));
	}
	*out = pnstrdup(v->val.string.val, v->val.string.len);
	return true;
}

static bool
RequireCountry(ReadState *rs, const JsonbValue *v, const char *path, char **out)
{
	if (v->type != jbvString)
		return FailType(rs, path, v, "a string or null");
	if (!IdenfyIsCountryCode(v->val.string.val, v->val.string.len))
		return Fail(rs, ERRCODE_INVALID_PARAMETER_VALUE, path,
					psprintf("callback field \"%s\" is not a country code", path),
					psprintf("Expected an ISO 3166-1 alpha-2 code (two upper-case letters, e.g. \"LT\"); received a string of %d bytes.",
							 v->val.string.len));
	*out = pnstrdup(v->val.string.val, v->val.string.len);
	return true;
}

static bool
RequireIp(ReadState *rs, const JsonbValue *v, const char *path, char **out)
{
	char		buf[IDENFY_IP_MAX + 1];
	unsigned char addr[16];
	int			len;

	if (v->type != jbvString)
		return FailType(rs, path, v, "a string or null");
	len = v->val.string.len;
	if (len > 0 && len <= IDENFY_IP_MAX)
	{
		memcpy(buf, v->val.string.val, len);
		buf[len] = '\0';
		if (inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1)
		{
			*out = pstrdup(buf);
			return true;
		}
	}
	return Fail(rs, ERRCODE_INVALID_TEXT_REPRESENTATION, path,
				psprintf("callback field \"%s\" is not an IP address", path),
				psprintf("Expected an IPv4 or IPv6 address of at most %d characters; received a string of %d bytes.",
						 IDENFY_IP_MAX, len));
}

/*
 * RequireEpoch: Unix seconds, whole or with a fraction (the vendor sent
 * "startTime": 1554726960.324056 until April 2019), from 0 to
 * IDENFY_EPOCH_MAX; the fraction is kept to the microsecond (rounded
 * half up, as timestamptz input rounds).
 */
static bool
RequireEpoch(ReadState *rs, const JsonbValue *v, const char *path, int64 *secs, int32 *usecs)
{
	char	   *digits;
	int64		value = 0;
	int64		frac = 0;
	int			nfrac = 0;
	char	   *p;

	if (v->type != jbvNumeric)
		return FailType(rs, path, v, "a number of seconds or null");
	if (numeric_is_nan(v->val.numeric))
		goto bad;
	/* numeric_normalize drops trailing fractional zeros: "12.0" -> "12" */
	digits = numeric_normalize(v->val.numeric);
	for (p = digits; *p >= '0' && *p <= '9' && p - digits <= 12; p++)
		value = value * 10 + (*p - '0');
	if (p == digits || p - digits > 12)
		goto bad;
	if (*p == '.')
	{
		for (p++; *p >= '0' && *p <= '9'; p++, nfrac++)
		{
			if (nfrac < 6)
				frac = frac * 10 + (*p - '0');
			else if (nfrac == 6 && *p >= '5')
				frac++;			/* round half up to the microsecond */
		}
		if (nfrac == 0)
			goto bad;
		for (; nfrac < 6; nfrac++)
			frac *= 10;
		if (frac == USECS_PER_SEC)
		{
			value++;
			frac = 0;
		}
	}
	if (*p != '\0' || value > IDENFY_EPOCH_MAX)
		goto bad;
	*secs = value;
	*usecs = (int32) frac;
	return true;

bad:
	return Fail(rs, ERRCODE_DATETIME_FIELD_OVERFLOW, path,
				psprintf("callback field \"%s\" is not a Unix timestamp", path),
				psprintf("Expected a number of seconds from 0 to " INT64_FORMAT " (UTC), whole or with a fraction, or null.",
						 IDENFY_EPOCH_MAX));
}

/* ------------------------------------------------------------------------
 * Containers.
 * ------------------------------------------------------------------------ */

/* Iterate over the elements of an array value; NULL and an empty list when null. */
static bool
ReadStringArray(ReadState *rs, const JsonbValue *v, const char *parent,
				const char *key, int maxlen, bool scan_refs, List **out)
{
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	int			i = 0;

	*out = NIL;
	if (v->type == jbvNull)
		return true;
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		return FailType(rs, ChildPath(parent, key), v,
						scan_refs ? "an array of scanRefs or null" : "an array of strings or null");

	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		char	   *s;

		if (tok != WJB_ELEM)
			continue;
		if (elem.type != jbvString)
			return FailType(rs, ElementPath(parent, key, i), &elem, "a string");
		if (!RequireString(rs, &elem, maxlen, ElementPath(parent, key, i), &s))
			return false;
		if (scan_refs && s[0] == '\0')
			return Fail(rs, ERRCODE_INVALID_PARAMETER_VALUE, ElementPath(parent, key, i),
						psprintf("callback field \"%s\" is empty", ElementPath(parent, key, i)),
						pstrdup("Each element names another verification by its scanRef, a string of 1 to 40 characters."));
		*out = lappend(*out, s);
		i++;
	}
	return true;
}

/*
 * IdenfyUrlExpiry: Unix seconds from the Expires= query parameter of a
 * pre-signed link (the first one; at most 12 digits); false when there is
 * none, or when it is beyond IDENFY_EPOCH_MAX.  Also SQL's idenfy.url_expiry,
 * behind the idenfy.file_url view.
 */
bool
IdenfyUrlExpiry(const char *url, int64 *expires)
{
	const char *q = strchr(url, '?');

	while (q != NULL)
	{
		q++;
		if (strncmp(q, "Expires=", 8) == 0)
		{
			int64		value = 0;
			const char *p = q + 8;
			int			n = 0;

			while (*p >= '0' && *p <= '9' && n < 12)
			{
				value = value * 10 + (*p - '0');
				p++, n++;
			}
			if (n == 0 || (*p != '\0' && *p != '&' && *p != '#') || value > IDENFY_EPOCH_MAX)
				return false;
			*expires = value;
			return true;
		}
		q = strchr(q, '&');
	}
	return false;
}

static bool
ReadUrlMap(ReadState *rs, const JsonbValue *v, const char *key, int source)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	val;
	JsonbIteratorToken tok;

	if (v->type == jbvNull)
		return true;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		return FailType(rs, key, v, "an object of file URLs or null");

	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		IdenfyFileUrl *f;
		char	   *name;
		int			nchars;

		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &val, true);
		Assert(tok == WJB_VALUE);
		nchars = pg_mbstrlen_with_len(k.val.string.val, k.val.string.len);
		if (nchars == 0 || nchars > IDENFY_FILE_NAME_MAX)
			return Fail(rs, ERRCODE_INVALID_PARAMETER_VALUE, key,
						psprintf("callback field \"%s\" has a file name of %d characters", key, nchars),
						psprintf("File names (FRONT, FACE, UTILITY_BILL, ...) have 1 to %d characters.",
								 IDENFY_FILE_NAME_MAX));
		if (val.type == jbvNull)
			continue;
		name = pnstrdup(k.val.string.val, k.val.string.len);
		f = palloc0(sizeof(IdenfyFileUrl));
		f->source = source;
		f->name = name;
		if (!RequireString(rs, &val, 0, ChildPath(key, QuotedKey(name)), &f->url))
			return false;
		f->has_expiry = IdenfyUrlExpiry(f->url, &f->expires);
		rs->cb->file_urls = lappend(rs->cb->file_urls, f);
	}
	return true;
}

static int
TriState(const IdenfyValue *v)
{
	return v->present ? (v->boolean ? 1 : 0) : -1;
}

static bool
ReadServices(ReadState *rs, const JsonbValue *v, int which)
{
	const char *key = service_lists[which];
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	int			i = 0;

	if (v->type == jbvNull)
		return true;
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		return FailType(rs, key, v, "an array of service results or null");

	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		IdenfyValue sv[SV_COUNT];
		IdenfyService *s;
		char	   *path;

		if (tok != WJB_ELEM)
			continue;
		path = ElementPath("", key, i);
		if (elem.type != jbvBinary || !JsonContainerIsObject(elem.val.binary.data))
			return FailType(rs, path, &elem, "an object");
		memset(sv, 0, sizeof(sv));
		if (!ReadObject(rs, elem.val.binary.data, &service_table, path, sv))
			return false;

		s = palloc0(sizeof(IdenfyService));
		s->list = key;
		s->ord = i;
		s->service_name = sv[SV_NAME].str;
		s->service_group_type = sv[SV_GROUP].str;
		s->uid = sv[SV_UID].str;
		s->error_message = sv[SV_ERROR].str;
		s->data = sv[SV_DATA].json;
		s->overall_status = sv[SV_OVERALL].str;
		s->suspected = TriState(&sv[SV_SUSPECTED]);
		s->used = TriState(&sv[SV_USED]);
		s->found = TriState(&sv[SV_FOUND]);
		s->check_successful = TriState(&sv[SV_SUCCESSFUL]);
		rs->cb->services = lappend(rs->cb->services, s);
		i++;
	}
	return true;
}

/* A container value kept whole as its own jsonb. */
static Jsonb *
ContainerToJsonb(const JsonbValue *v)
{
	return JsonbValueToJsonb((JsonbValue *) v);
}

/* ------------------------------------------------------------------------
 * One field of an object.
 * ------------------------------------------------------------------------ */
static bool
ReadField(ReadState *rs, const Field *f, const JsonbValue *v, const char *parent,
		  IdenfyValue *dest)
{
	IdenfyValue *slot = f->slot >= 0 ? &dest[f->slot] : NULL;
	IdenfyValue tmp;
	char	   *path;

	/* An alias only fills a slot the top level left empty. */
	if (f->alias && slot->present)
		return true;

	/* Containers that handle null themselves. */
	switch (f->kind)
	{
		case K_URL_MAP:
			return ReadUrlMap(rs, v, f->key, f->arg);
		case K_SERVICES:
			return ReadServices(rs, v, f->arg);
		case K_STRING_LIST:
		case K_LABEL_LIST:
		case K_SCAN_REF_LIST:
			memset(&tmp, 0, sizeof(tmp));
			if (!ReadStringArray(rs, v, parent, f->key,
								 f->kind == K_SCAN_REF_LIST ? IDENFY_SCAN_REF_MAX : f->maxlen,
								 f->kind == K_SCAN_REF_LIST, &tmp.list))
				return false;
			tmp.present = (v->type != jbvNull);
			if (f->kind == K_LABEL_LIST)
			{
				tmp.vocab = f->arg;
				tmp.parent = parent;
				tmp.key = f->key;
			}
			*slot = tmp;
			return true;
		default:
			break;
	}

	if (v->type == jbvNull)
		return true;			/* present but null: the slot stays empty */

	memset(&tmp, 0, sizeof(tmp));
	tmp.present = true;
	path = NULL;

#define PATH() (path ? path : (path = ChildPath(parent, f->key)))

	switch (f->kind)
	{
		case K_STRING:
			if (!RequireString(rs, v, f->maxlen, PATH(), &tmp.str))
				return false;
			break;
		case K_LABEL:
			if (!RequireString(rs, v, f->maxlen, PATH(), &tmp.str))
				return false;
			tmp.label.raw = tmp.str;
			tmp.vocab = f->arg;
			tmp.parent = parent;
			tmp.key = f->key;
			break;
		case K_COUNTRY:
			if (!RequireCountry(rs, v, PATH(), &tmp.str))
				return false;
			break;
		case K_IP:
			if (!RequireIp(rs, v, PATH(), &tmp.str))
				return false;
			break;
		case K_BOOL:
			if (v->type != jbvBool)
				return FailType(rs, PATH(), v, "true, false or null");
			tmp.boolean = v->val.boolean;
			break;
		case K_EPOCH:
			if (!RequireEpoch(rs, v, PATH(), &tmp.epoch, &tmp.epoch_usec))
				return false;
			break;
		case K_NUMBER:
			if (v->type != jbvNumeric)
				return FailType(rs, PATH(), v, "a number or null");
			tmp.numeric = NumericGetDatum(v->val.numeric);
			break;
		case K_JSON:
			if (v->type != jbvBinary)
				return FailType(rs, PATH(), v, "an object, an array or null");
			tmp.json = ContainerToJsonb(v);
			break;
		case K_OBJECT:
			if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
				return FailType(rs, PATH(), v, "an object or null");
			if (f->object == &data_table)
				rs->cb->has_data = true;
			if (!ReadObject(rs, v->val.binary.data, f->object, PATH(), dest))
				return false;
			if (slot)
				*slot = tmp;
			return true;
		case K_RISK:
			if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
				return FailType(rs, PATH(), v, "an object or null");
			tmp.json = ContainerToJsonb(v);
			if (!ReadObject(rs, v->val.binary.data, &risk_table, PATH(), dest))
				return false;
			break;
		default:
			elog(ERROR, "unexpected field kind %d", (int) f->kind);
	}
#undef PATH

	*slot = tmp;
	return true;
}

/* Order of keys in a jsonb object: shorter first, then bytewise. */
static int
KeyCompare(const char *a, int alen, const char *b, int blen)
{
	if (alen != blen)
		return alen > blen ? 1 : -1;
	return memcmp(a, b, alen);
}

static int
FieldCompare(const void *a, const void *b)
{
	const Field *fa = (const Field *) a;
	const Field *fb = (const Field *) b;

	return KeyCompare(fa->key, strlen(fa->key), fb->key, strlen(fb->key));
}

/*
 * Read one object against its field table in a single merge pass: both the
 * jsonb keys and the (sorted) table are in jsonb key order.
 */
static bool
ReadObject(ReadState *rs, JsonbContainer *container, FieldTable *table,
		   const char *path, IdenfyValue *dest)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			cursor = 0;

	if (!table->sorted)
	{
		qsort(table->fields, table->nfields, sizeof(Field), FieldCompare);
		table->sorted = true;
	}

	it = JsonbIteratorInit(container);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		int			cmp = 1;

		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);

		while (cursor < table->nfields &&
			   (cmp = KeyCompare(table->fields[cursor].key,
								 strlen(table->fields[cursor].key),
								 k.val.string.val, k.val.string.len)) < 0)
			cursor++;
		if (cursor < table->nfields && cmp == 0)
		{
			if (!ReadField(rs, &table->fields[cursor], &v, path, dest))
				return false;
		}
	}
	return true;
}

/* ------------------------------------------------------------------------
 * Entry points.
 * ------------------------------------------------------------------------ */

/*
 * CanonicalEventType: the Idenfy-Event-Type header in the spelling of
 * our enum type.  Spellings drift (NOTES.md): case, spaces or hyphens for
 * underscores, CANCELED or CANCELLED, FINISH or FINISHED, and the prefixes
 * IDENTIFICATION_, ID_VERIFICATION_ and VERIFICATION_ all name one event.
 * An unknown result is kept verbatim by the caller.
 */
static char *
CanonicalEventType(const char *raw)
{
	static const struct
	{
		const char *from;
		const char *to;
	}			prefixes[] = {
		{"ID_VERIFICATION_", "IDENTIFICATION_"},
		{"VERIFICATION_", "IDENTIFICATION_"},
	}, suffixes[] = {
		{"_CANCELED", "_CANCELLED"},
		{"_FINISH", "_FINISHED"},
		{"_RESUBMIT", "_RESUBMITTED"},
	};
	StringInfoData buf;
	char	   *s;
	char	   *p;
	int			len;
	int			i;

	/* upper case, runs of spaces, hyphens and underscores to one underscore */
	s = palloc(strlen(raw) + 1);
	p = s;
	for (; *raw; raw++)
	{
		char		c = *raw;

		if (c == ' ' || c == '-' || c == '_' || c == '\t')
		{
			if (p > s && p[-1] != '_')
				*p++ = '_';
			continue;
		}
		*p++ = pg_ascii_toupper((unsigned char) c);
	}
	while (p > s && p[-1] == '_')
		p--;
	*p = '\0';

	if (strcmp(s, "VERIFICATION") == 0 || strcmp(s, "ID_VERIFICATION") == 0)
		return pstrdup("IDENTIFICATION");

	initStringInfo(&buf);
	p = s;
	for (i = 0; i < (int) lengthof(prefixes); i++)
	{
		if (strncmp(s, prefixes[i].from, strlen(prefixes[i].from)) == 0)
		{
			appendStringInfoString(&buf, prefixes[i].to);
			p = s + strlen(prefixes[i].from);
			break;
		}
	}
	appendStringInfoString(&buf, p);
	len = buf.len;
	for (i = 0; i < (int) lengthof(suffixes); i++)
	{
		int			flen = strlen(suffixes[i].from);

		if (len >= flen && strcmp(buf.data + len - flen, suffixes[i].from) == 0)
		{
			buf.data[len - flen] = '\0';
			buf.len = len - flen;
			appendStringInfoString(&buf, suffixes[i].to);
			break;
		}
	}
	return buf.data;
}

/*
 * IdenfyReadCallback: fill *cb from payload and the event type header, or
 * fill *err and return false.
 */
bool
IdenfyReadCallback(Jsonb *payload, const char *event_type, IdenfyCallback *cb,
				   IdenfyReadError *err)
{
	ReadState	rs;
	IdenfyValue *scan_ref;

	rs.cb = cb;
	rs.err = err;
	cb->payload = payload;
	if (event_type != NULL)
	{
		cb->event_type_raw = pstrdup(event_type);
		cb->event_type.raw = CanonicalEventType(event_type);
	}

	if (!JB_ROOT_IS_OBJECT(payload) || JB_ROOT_IS_SCALAR(payload))
	{
		err->sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
		err->path = pstrdup("$");
		err->message = pstrdup("callback is not a JSON object");
		err->detail = psprintf("Received %s.",
							   JB_ROOT_IS_SCALAR(payload) ? "a JSON scalar" : "a JSON array");
		err->hint = pstrdup("Pass the webhook's request body, a JSON object, as jsonb.");
		return false;
	}

	if (!ReadObject(&rs, &payload->root, &root_table, "", cb->v))
		return false;

	scan_ref = &cb->v[SLOT_SCAN_REF];
	if (!scan_ref->present)
		return Fail(&rs, ERRCODE_INVALID_PARAMETER_VALUE, "scanRef",
					pstrdup("callback field \"scanRef\" is missing"),
					pstrdup("Every callback names its verification by scanRef, a string of 1 to 40 characters."));
	if (scan_ref->str[0] == '\0')
		return Fail(&rs, ERRCODE_INVALID_PARAMETER_VALUE, "scanRef",
					pstrdup("callback field \"scanRef\" is empty"),
					pstrdup("Every callback names its verification by scanRef, a string of 1 to 40 characters."));

	/*
	 * A DOCUMENT_EXPIRATION body: said by the header, or recognised by its
	 * shape (an expirationThreshold and no status or data).
	 */
	cb->expiration_notice =
		(cb->event_type.raw != NULL && strcmp(cb->event_type.raw, "DOCUMENT_EXPIRATION") == 0) ||
		(cb->v[SLOT_EXPIRATION_THRESHOLD].present && !cb->has_data &&
		 !cb->v[SLOT_OVERALL].present && !cb->v[SLOT_FINAL].present);
	if (cb->expiration_notice && !cb->v[SLOT_EXPIRATION_THRESHOLD].present)
		return Fail(&rs, ERRCODE_INVALID_PARAMETER_VALUE, "expirationThreshold",
					pstrdup("callback field \"expirationThreshold\" is missing"),
					pstrdup("A DOCUMENT_EXPIRATION callback carries expirationThreshold, e.g. \"DOCUMENT_EXPIRES_WITHIN_30_DAYS\"."));
	return true;
}

void
IdenfyRaiseReadError(const IdenfyReadError *err)
{
	ereport(ERROR,
			(errcode(err->sqlstate),
			 errmsg_internal("%s", err->message),
			 err->detail ? errdetail_internal("%s", err->detail) : 0,
			 err->hint ? errhint("%s", err->hint) : 0));
	pg_unreachable();
}

/* The scanRef of a payload that failed validation, when usable; else "". */
char *
IdenfyPayloadScanRef(Jsonb *payload)
{
	JsonbValue *v;

	if (payload == NULL || !JB_ROOT_IS_OBJECT(payload) || JB_ROOT_IS_SCALAR(payload))
		return NULL;
	v = getKeyJsonValueFromContainer(&payload->root, "scanRef", 7, NULL);
	if (v == NULL || v->type != jbvString || v->val.string.len == 0 ||
		v->val.string.len > IDENFY_SCAN_REF_MAX)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * IdenfyParseIsoDate: "YYYY-MM-DD" naming a real calendar date.  Anything
 * else (the literal "YYYY-MM-DD" of published fixtures, "30 AUG 1954", ...)
 * does not parse: the raw string is kept and the date is NULL.
 */
bool
IdenfyParseIsoDate(const char *s, int *year, int *month, int *day)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			i;
	int			y,
				m,
				d,
				limit;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1 || m < 1 || m > 12 || d < 1)
		return false;
	limit = mdays[m - 1];
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		limit = 29;
	if (d > limit)
		return false;
	*year = y;
	*month = m;
	*day = d;
	return true;
}
