/*-------------------------------------------------------------------------
 *
 * signed.c
 *		Signed callbacks: check the Idenfy-Signature header (lowercase hex
 *		HMAC-SHA256 of the exact request body bytes) against the signing
 *		keys, then parse the body and ingest it like idenfy_ingest.
 *
 * The keys live in idenfy.signing_key, readable by the owner only; the
 * entry points are SECURITY DEFINER.  Every key is tried (rotation: several
 * may be active) and every comparison runs in constant time, whatever
 * matched before.  Nothing of the body is ever quoted in a message: a body
 * that is not JSON is reported by line and byte offset only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/hmac.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/resowner.h"

#include "idenfy.h"

#define SIGNATURE_HEX_LEN (2 * IDENFY_SHA256_LEN)

static SPIPlanPtr keys_plan = NULL;
static uint64 keys_plan_generation = 0;

static int
HexValue(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The header as 32 bytes; false when it is not 64 hex digits. */
static bool
DecodeSignature(const char *hex, uint8 *out)
{
	int			i;

	if (hex == NULL || strlen(hex) != SIGNATURE_HEX_LEN)
		return false;
	for (i = 0; i < IDENFY_SHA256_LEN; i++)
	{
		int			hi = HexValue(hex[2 * i]);
		int			lo = HexValue(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8) (hi << 4 | lo);
	}
	return true;
}

static void
Hmac(const uint8 *key, size_t keylen, const uint8 *body, size_t len, uint8 *out)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);

	if (ctx == NULL ||
		pg_hmac_init(ctx, key, keylen) < 0 ||
		pg_hmac_update(ctx, body, len) < 0 ||
		pg_hmac_final(ctx, out, IDENFY_SHA256_LEN) < 0)
		elog(ERROR, "idenfy: could not compute HMAC-SHA256: %s", pg_hmac_error(ctx));
	pg_hmac_free(ctx);
}

/*
 * SignatureMatches: does any signing key sign these bytes with this
 * signature?  Reads every key and compares in constant time.
 */
static bool
SignatureMatches(const uint8 *body, size_t len, const uint8 *signature, int *nkeys)
{
	uint64		i;
	bool		match = false;

	/* prepared once per backend (and again when our catalogs change) */
	if (keys_plan == NULL || keys_plan_generation != idenfy_catalog_generation)
	{
		if (keys_plan != NULL)
			SPI_freeplan(keys_plan);
		keys_plan = SPI_prepare("SELECT k.secret FROM " IDENFY_SCHEMA ".signing_key k", 0, NULL);
		if (keys_plan == NULL || SPI_keepplan(keys_plan) != 0)
			elog(ERROR, "idenfy: could not prepare the signing key query");
		keys_plan_generation = idenfy_catalog_generation;
	}
	if (SPI_execute_plan(keys_plan, NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "idenfy: could not read the signing keys");
	*nkeys = (int) SPI_processed;
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		bytea	   *secret = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));
		uint8		mac[IDENFY_SHA256_LEN];
		uint8		diff = 0;
		int			k;

		if (isnull)
			continue;
		Hmac((uint8 *) VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret), body, len, mac);
		for (k = 0; k < IDENFY_SHA256_LEN; k++)
			diff |= mac[k] ^ signature[k];
		match |= (diff == 0);
	}
	return match;
}

static const char *
JsonProblem(JsonParseErrorType e)
{
	switch (e)
	{
		case JSON_ESCAPING_INVALID:
			return "an invalid escape sequence";
		case JSON_ESCAPING_REQUIRED:
			return "a control character that must be escaped";
		case JSON_EXPECTED_ARRAY_FIRST:
		case JSON_EXPECTED_ARRAY_NEXT:
			return "an array element or \"]\" was expected";
		case JSON_EXPECTED_COLON:
			return "\":\" was expected";
		case JSON_EXPECTED_END:
			return "the JSON value ends and more follows";
		case JSON_EXPECTED_JSON:
			return "a JSON value was expected";
		case JSON_EXPECTED_MORE:
			return "the input ends too early";
		case JSON_EXPECTED_OBJECT_FIRST:
		case JSON_EXPECTED_STRING:
			return "a string (an object key) or \"}\" was expected";
		case JSON_EXPECTED_OBJECT_NEXT:
			return "\",\" or \"}\" was expected";
		case JSON_INVALID_TOKEN:
			return "an invalid token (e.g. an unquoted word)";
		case JSON_UNICODE_CODE_POINT_ZERO:
			return "\\u0000, which PostgreSQL cannot store";
		case JSON_UNICODE_ESCAPE_FORMAT:
			return "a malformed \\u escape";
		case JSON_UNICODE_HIGH_ESCAPE:
		case JSON_UNICODE_HIGH_SURROGATE:
		case JSON_UNICODE_LOW_SURROGATE:
			return "an invalid Unicode surrogate pair";
		default:
			return "invalid JSON";
	}
}

/*
 * BodyToJsonb: the verified body as jsonb, or *err filled.  The body must be
 * valid in the database encoding, contain no NUL byte, and be JSON.
 */
static Jsonb *
BodyToJsonb(const char *body, int len, IdenfyReadError *err)
{
	JsonLexContext *lex;
	JsonParseErrorType e;
	char	   *cstr;

	if (memchr(body, '\0', len) != NULL ||
		!pg_verify_mbstr(GetDatabaseEncoding(), body, len, true))
	{
		err->sqlstate = ERRCODE_CHARACTER_NOT_IN_REPERTOIRE;
		err->path = "$";
		err->message = "callback body is not valid text";
		err->detail = psprintf("The body of %d bytes has a NUL byte or a byte sequence invalid in encoding %s.",
							   len, GetDatabaseEncodingName());
		return NULL;
	}
	cstr = pnstrdup(body, len);
#if PG_VERSION_NUM >= 170000
	/* PostgreSQL 17: the context to fill comes first (NULL: a new one) */
	lex = makeJsonLexContextCstringLen(NULL, cstr, len, GetDatabaseEncoding(), true);
#else
	lex = makeJsonLexContextCstringLen(cstr, len, GetDatabaseEncoding(), true);
#endif
	e = pg_parse_json(lex, &nullSemAction);
	if (e != JSON_SUCCESS)
	{
		err->sqlstate = ERRCODE_INVALID_TEXT_REPRESENTATION;
		err->path = "$";
		err->message = "callback body is not valid JSON";
		err->detail = psprintf("At line %d, byte %d of the line (byte %d of the body): %s.",
							   lex->line_number,
							   (int) (lex->token_start - lex->line_start) + 1,
							   (int) (lex->token_start - cstr) + 1,
							   JsonProblem(e));
		return NULL;
	}
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(cstr)));
}

/*
 * ParseBody: BodyToJsonb, and with idenfy.on_invalid = 'quarantine' also
 * any error the conversion raises (a body nested too deeply, a number out
 * of numeric's range: SQLSTATE classes 22 and 54) becomes an IdenfyReadError,
 * inside a subtransaction; any other error (out of memory, a cancel) is
 * raised as usual.
 * The error's own text is not kept: it could quote the body.
 */
static Jsonb *
ParseBody(const char *body, int len, IdenfyReadError *err)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	Jsonb	   *result = NULL;

	if (idenfy_on_invalid != IDENFY_ON_INVALID_QUARANTINE)
		return BodyToJsonb(body, len, err);

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		result = BodyToJsonb(body, len, err);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;

		/* only a fault of the body is quarantined; out of memory, a cancel, ... are raised */
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION &&
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_PROGRAM_LIMIT_EXCEEDED)
			ReThrowError(edata);

		err->sqlstate = edata->sqlerrcode;
		err->path = "$";
		err->message = "callback body could not be converted to jsonb";
		err->detail = psprintf("The conversion failed with SQLSTATE %s (%s).",
							   unpack_sql_state(edata->sqlerrcode),
							   edata->sqlerrcode == ERRCODE_STATEMENT_TOO_COMPLEX ? "nested too deeply" :
							   edata->sqlerrcode == ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE ? "a number out of range" :
							   edata->sqlerrcode == ERRCODE_PROGRAM_LIMIT_EXCEEDED ? "a size limit" : "other");
		FreeErrorData(edata);
		result = NULL;
	}
	PG_END_TRY();
	return result;
}

static Datum
IngestSigned(FunctionCallInfo fcinfo, const char *body, int len)
{
	char	   *signature = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *event_type = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	uint8		sig[IDENFY_SHA256_LEN] = {0};
	IdenfyReadError err;
	Jsonb	   *payload;
	int			nkeys = 0;
	bool		ok;

	memset(&err, 0, sizeof(err));
	if (body == NULL)
	{
		err.sqlstate = ERRCODE_NULL_VALUE_NOT_ALLOWED;
		err.path = "$";
		err.message = "callback is null";
		err.detail = "idenfy_ingest_signed needs the webhook's request body.";
		return IdenfyReject(fcinfo, NULL, NULL, 0, event_type, "invalid", &err);
	}

	SPI_connect();
	ok = DecodeSignature(signature, sig);
	if (ok)
		ok = SignatureMatches((const uint8 *) body, len, sig, &nkeys);
	else
		(void) SignatureMatches((const uint8 *) body, len, sig, &nkeys);
	SPI_finish();

	if (nkeys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no signing key is configured"),
				 errhint("Add the webhook's signing key with idenfy_signing_key_add(name, secret).")));
	if (!ok)
	{
		err.sqlstate = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
		err.path = "Idenfy-Signature";
		if (signature == NULL || signature[0] == '\0')
		{
			err.message = "callback signature is missing";
			err.detail = "The Idenfy-Signature header must carry the hex HMAC-SHA256 of the body.";
		}
		else if (strlen(signature) != SIGNATURE_HEX_LEN)
		{
			err.message = "callback signature is malformed";
			err.detail = psprintf("Expected 64 hexadecimal digits; received %d characters.", (int) strlen(signature));
		}
		else
		{
			err.message = "callback signature does not match";
			err.detail = psprintf("No signing key of the %d configured signs this body with this signature.", nkeys);
		}
		err.hint = "Check the signing key configured for this webhook in the vendor's dashboard; the signature covers the exact body bytes.";
		return IdenfyReject(fcinfo, NULL, body, len, event_type, "signature", &err);
	}

	payload = ParseBody(body, len, &err);
	if (payload == NULL)
		return IdenfyReject(fcinfo, NULL, body, len, event_type, "invalid", &err);
	return IdenfyIngest(fcinfo, payload, event_type, NULL);
}

/* idenfy_ingest_signed(body bytea, signature text, event_type text) */
PG_FUNCTION_INFO_V1(idenfy_ingest_signed);
Datum
idenfy_ingest_signed(PG_FUNCTION_ARGS)
{
	bytea	   *body = PG_ARGISNULL(0) ? NULL : PG_GETARG_BYTEA_PP(0);

	return IngestSigned(fcinfo, body ? VARDATA_ANY(body) : NULL,
						body ? VARSIZE_ANY_EXHDR(body) : 0);
}

/* idenfy_ingest_signed(body text, signature text, event_type text) */
PG_FUNCTION_INFO_V1(idenfy_ingest_signed_text);
Datum
idenfy_ingest_signed_text(PG_FUNCTION_ARGS)
{
	text	   *body = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);

	return IngestSigned(fcinfo, body ? VARDATA_ANY(body) : NULL,
						body ? VARSIZE_ANY_EXHDR(body) : 0);
}
