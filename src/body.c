/*-------------------------------------------------------------------------
 *
 * body.c
 *		The raw request body as jsonb, by the extension's own checks: the
 *		entry points that take the body as received (idenfy_ingest_body,
 *		idenfy_ingest_signed) never hand it to PostgreSQL's jsonb input
 *		unchecked.
 *
 * jsonb_in reports a fault with the text around it (its CONTEXT line
 * quotes the body) and fails on shapes that are valid JSON (nesting past
 * the stack, numbers numeric cannot hold).  So a body goes through, in
 * order: the size limit (idenfy.max_body_size), the encoding (no NUL byte,
 * valid in the database encoding), a scan for nesting depth and number
 * magnitude, and the JSON grammar (pg_parse_json, with de-escaping, so
 * that \u0000 and lone surrogates are found as jsonb_in would find them).
 * Only a body that passed all four is converted by jsonb_in, which then
 * cannot fail.  Every fault is an IdenfyReadError with a specific SQLSTATE
 * of class 22 and the line and byte where it is, never a quoted byte.
 *
 * No SPI, no side effects.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "idenfy.h"

/* nesting of objects and arrays: the contract needs 5; jsonb's stack is safe far beyond */
#define IDENFY_BODY_MAX_DEPTH 64
/* digits of a number before and after its decimal point (after the exponent) */
#define IDENFY_BODY_MAX_DIGITS 1000

int			idenfy_max_body_size = IDENFY_BODY_DEFAULT_SIZE;

static bool
IsJsonSpace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* "At line L, byte B of the line (byte N of the body)" for a 0-based offset */
static char *
Position(const char *body, int len, int offset)
{
	int			line = 1;
	int			line_start = 0;
	int			i;

	if (offset > len)
		offset = len;
	for (i = 0; i < offset; i++)
		if (body[i] == '\n')
		{
			line++;
			line_start = i + 1;
		}
	return psprintf("At line %d, byte %d of the line (byte %d of the body)",
					line, offset - line_start + 1, offset + 1);
}

static bool
BodyFault(IdenfyReadError *err, int sqlstate, const char *message, char *detail)
{
	err->sqlstate = sqlstate;
	err->path = "$";
	err->message = (char *) message;
	err->detail = detail;
	err->hint = "The body must be one JSON object as the vendor sends it; with idenfy.on_invalid = 'quarantine' it is kept byte for byte in idenfy.quarantine.";
	return false;
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
			return "a \\u escape of a character the database encoding cannot hold";
		case JSON_UNICODE_HIGH_SURROGATE:
		case JSON_UNICODE_LOW_SURROGATE:
			return "an invalid Unicode surrogate pair";
		default:
			return "invalid JSON";
	}
}

/*
 * CheckNumber: the number token at body[*i]; its magnitude within
 * IDENFY_BODY_MAX_DIGITS digits before and after the point once its
 * exponent is applied (numeric holds 131072 and 16383; no callback needs
 * more than 20).  Syntax is left to the parser: a lenient walk over
 * [-+.0-9eE].  Advances *i past the token.
 */
static bool
CheckNumber(const char *body, int len, int *i)
{
	int			p = *i;
	int64		int_digits = 0;
	int64		frac_digits = 0;
	int64		exponent = 0;
	bool		leading = true;
	bool		in_frac = false;
	bool		in_exp = false;
	bool		exp_negative = false;

	for (; p < len; p++)
	{
		char		c = body[p];

		if (c >= '0' && c <= '9')
		{
			if (in_exp)
			{
				if (exponent < 1000000000)
					exponent = exponent * 10 + (c - '0');
			}
			else if (in_frac)
				frac_digits++;
			else if (!(leading && c == '0'))
			{
				leading = false;
				int_digits++;
			}
		}
		else if (c == '.' && !in_frac && !in_exp)
			in_frac = true;
		else if ((c == 'e' || c == 'E') && !in_exp)
			in_exp = true;
		else if ((c == '-' || c == '+') && (p == *i || (in_exp && (body[p - 1] == 'e' || body[p - 1] == 'E'))))
			exp_negative = in_exp && c == '-';
		else
			break;
	}
	*i = p;
	if (exp_negative)
		exponent = -exponent;
	return int_digits + exponent <= IDENFY_BODY_MAX_DIGITS &&
		frac_digits - exponent <= IDENFY_BODY_MAX_DIGITS;
}

/*
 * ScanBody: nesting depth and number magnitude, outside strings.  A
 * lenient walk: the grammar is checked by the parser afterwards, so a
 * broken body just has to end the walk without harm.
 */
static bool
ScanBody(const char *body, int len, IdenfyReadError *err)
{
	int			depth = 0;
	int			i = 0;

	while (i < len)
	{
		char		c = body[i];

		if (c == '"')
		{
			for (i++; i < len && body[i] != '"'; i++)
				if (body[i] == '\\')
					i++;
			i++;
		}
		else if (c == '{' || c == '[')
		{
			if (++depth > IDENFY_BODY_MAX_DEPTH)
				return BodyFault(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
								 "callback body is nested too deeply",
								 psprintf("%s: more than %d objects and arrays are open.",
										  Position(body, len, i), IDENFY_BODY_MAX_DEPTH));
			i++;
		}
		else if (c == '}' || c == ']')
		{
			depth--;
			i++;
		}
		else if (c == '-' || (c >= '0' && c <= '9'))
		{
			int			start = i;

			if (!CheckNumber(body, len, &i))
				return BodyFault(err, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
								 "callback body has a number out of range",
								 psprintf("%s: a number with more than %d digits before or after its decimal point.",
										  Position(body, len, start), IDENFY_BODY_MAX_DIGITS));
		}
		else
			i++;
	}
	return true;
}

/*
 * IdenfyBodyToJsonb: the body as jsonb, or NULL with *err filled (the
 * checks of the file header, in that order).
 */
Jsonb *
IdenfyBodyToJsonb(const char *body, int len, IdenfyReadError *err)
{
	JsonLexContext *lex;
	JsonParseErrorType e;
	char	   *cstr;
	int			valid;
	int			i;

	if (len > idenfy_max_body_size)
	{
		BodyFault(err, ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
				  "callback body is too large",
				  psprintf("The body has %d bytes; the limit (idenfy.max_body_size) is %d bytes.",
						   len, idenfy_max_body_size));
		return NULL;
	}

	/* the first NUL byte or invalid sequence ends the valid prefix */
	valid = pg_encoding_verifymbstr(GetDatabaseEncoding(), body, len);
	if (valid < len)
	{
		BodyFault(err, ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
				  "callback body is not valid text",
				  psprintf("%s: a NUL byte or a byte sequence invalid in encoding %s.",
						   Position(body, len, valid), GetDatabaseEncodingName()));
		return NULL;
	}

	for (i = 0; i < len && IsJsonSpace(body[i]); i++)
		;
	if (i == len)
	{
		BodyFault(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
				  "callback body is empty",
				  len == 0 ? pstrdup("The body has 0 bytes.") :
				  psprintf("The body has %d bytes, all of them white space.", len));
		return NULL;
	}

	if (!ScanBody(body, len, err))
		return NULL;

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
		/* at the end of the input the lexer leaves token_start NULL */
		const char *at = lex->token_start;
		const char *problem;

		if (at == NULL || at < cstr || at > cstr + len)
			at = cstr + len;
		/* a token cut off by the end of the body (a truncated string or word) */
		if (e == JSON_INVALID_TOKEN && lex->token_terminator != NULL &&
			lex->token_terminator >= cstr + len)
			problem = "the input ends inside this token (e.g. an unterminated string)";
		else
			problem = JsonProblem(e);
		BodyFault(err, ERRCODE_INVALID_TEXT_REPRESENTATION,
				  "callback body is not valid JSON",
				  psprintf("%s: %s.", Position(body, len, (int) (at - cstr)), problem));
		return NULL;
	}
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(cstr)));
}
