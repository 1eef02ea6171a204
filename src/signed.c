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
 * matched before.  The verified body is read by body.c, which never
 * quotes it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hmac.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

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

	payload = IdenfyBodyToJsonb(body, len, &err);
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
