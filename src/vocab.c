/*-------------------------------------------------------------------------
 *
 * vocab.c
 *		The vendor's vocabularies: vendor strings to the values of our enum
 *		types, and country codes.
 *
 * The enum types of the install script are the truth (an upgrade script
 * may add values that this library was not compiled with), so their labels
 * are read from pg_enum once per backend and kept in a sorted array per
 * type.  A change to pg_enum or pg_namespace (ALTER TYPE ... ADD VALUE,
 * DROP/CREATE EXTENSION) throws the cache away and bumps
 * idenfy_catalog_generation, which also tells store.c to prepare its plans
 * again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "utils/catcache.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "idenfy.h"

uint64		idenfy_catalog_generation = 1;

static const char *const vocab_types[VOCAB_COUNT] = {
	[VOCAB_NONE] = NULL,
	[VOCAB_OVERALL] = "overall_status",
	[VOCAB_FACE] = "face_status",
	[VOCAB_DOCUMENT] = "document_status",
	[VOCAB_FRAUD_TAG] = "fraud_tag",
	[VOCAB_MISMATCH_TAG] = "mismatch_tag",
	[VOCAB_DOC_TYPE] = "document_type",
	[VOCAB_SEX] = "sex",
	[VOCAB_PLATFORM] = "platform",
	[VOCAB_ADDITIONAL_STEP] = "additional_step_status",
	[VOCAB_AGE_ESTIMATE] = "age_estimate",
	[VOCAB_IP_PROXY_RISK] = "ip_proxy_risk",
	[VOCAB_AML_STATUS] = "aml_status",
	[VOCAB_EVENT_TYPE] = "event_type",
	[VOCAB_EXPIRATION_THRESHOLD] = "expiration_threshold",
	[VOCAB_OUTCOME] = "ingest_outcome",
	[VOCAB_DECISION] = "decision",
	[VOCAB_FACE_MATCH_KIND] = "face_match_kind",
	[VOCAB_FILE_SOURCE] = "file_source",
};

typedef struct VocabEntry
{
	char	   *label;
	Oid			oid;
} VocabEntry;

typedef struct VocabCache
{
	Oid			type;
	Oid			array_type;
	int			n;
	VocabEntry *entries;		/* sorted by label */
} VocabCache;

static MemoryContext vocab_context = NULL;
static VocabCache vocab_cache[VOCAB_COUNT];
static bool vocab_valid = false;
static bool callbacks_registered = false;

/* pg_enum or pg_namespace changed: reload the vocabularies, prepare plans again */
static void
InvalidateCallback(Datum arg, int cacheid, uint32 hashvalue)
{
	vocab_valid = false;
	idenfy_catalog_generation++;
}

static int
EntryCompare(const void *a, const void *b)
{
	return strcmp(((const VocabEntry *) a)->label, ((const VocabEntry *) b)->label);
}

/* Read every enum type of ours with its labels from the catalogs. */
static void
LoadVocabularies(void)
{
	Oid			nsp;
	MemoryContext old;
	int			v;

	if (!callbacks_registered)
	{
		CacheRegisterSyscacheCallback(ENUMOID, InvalidateCallback, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, InvalidateCallback, (Datum) 0);
		callbacks_registered = true;
	}
	if (vocab_context == NULL)
		vocab_context = AllocSetContextCreate(CacheMemoryContext, "idenfy vocabularies",
											  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(vocab_context);
	memset(vocab_cache, 0, sizeof(vocab_cache));

	nsp = get_namespace_oid(IDENFY_SCHEMA, true);
	if (!OidIsValid(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("schema \"%s\" of extension idenfy does not exist", IDENFY_SCHEMA),
				 errhint("Run CREATE EXTENSION idenfy in this database.")));

	old = MemoryContextSwitchTo(vocab_context);
	for (v = 1; v < VOCAB_COUNT; v++)
	{
		VocabCache *c = &vocab_cache[v];
		CatCList   *list;
		int			i;

		c->type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
								  CStringGetDatum(vocab_types[v]),
								  ObjectIdGetDatum(nsp));
		if (!OidIsValid(c->type))
			elog(ERROR, "type %s.%s of extension idenfy is missing",
				 IDENFY_SCHEMA, vocab_types[v]);
		c->array_type = get_array_type(c->type);

		list = SearchSysCacheList1(ENUMTYPOIDNAME, ObjectIdGetDatum(c->type));
		c->n = list->n_members;
		c->entries = palloc(sizeof(VocabEntry) * Max(c->n, 1));
		for (i = 0; i < list->n_members; i++)
		{
			Form_pg_enum en = (Form_pg_enum) GETSTRUCT(&list->members[i]->tuple);

			c->entries[i].label = pstrdup(NameStr(en->enumlabel));
			c->entries[i].oid = en->oid;
		}
		ReleaseCatCacheList(list);
		qsort(c->entries, c->n, sizeof(VocabEntry), EntryCompare);
	}
	MemoryContextSwitchTo(old);
	vocab_valid = true;
}

static inline VocabCache *
Vocab(IdenfyVocab vocab)
{
	if (!vocab_valid)
		LoadVocabularies();
	return &vocab_cache[vocab];
}

Oid
IdenfyVocabType(IdenfyVocab vocab)
{
	return Vocab(vocab)->type;
}

Oid
IdenfyVocabArrayType(IdenfyVocab vocab)
{
	return Vocab(vocab)->array_type;
}

/* The enum value of label, InvalidOid when the type does not know it. */
Oid
IdenfyVocabLookup(IdenfyVocab vocab, const char *label)
{
	VocabCache *c = Vocab(vocab);
	VocabEntry	key;
	VocabEntry *hit;

	key.label = (char *) label;
	hit = bsearch(&key, c->entries, c->n, sizeof(VocabEntry), EntryCompare);
	return hit ? hit->oid : InvalidOid;
}

/* ------------------------------------------------------------------------
 * Resolving a callback's labels.
 * ------------------------------------------------------------------------ */
static void
AddUnknown(IdenfyCallback *cb, const IdenfyValue *v, const char *value)
{
	IdenfyUnknown *u = palloc(sizeof(IdenfyUnknown));

	u->path = v->parent[0] ? psprintf("%s.%s", v->parent, v->key) : v->key;
	u->value = value;
	cb->unknown = lappend(cb->unknown, u);
}

/*
 * IdenfyResolveVocab: every vendor string to our enum value; unknown values
 * are listed in cb->unknown (kept verbatim, never an error).  Then the
 * derived facts the rules use: effective finality, manual results, cancel
 * and resubmission.
 */
void
IdenfyResolveVocab(IdenfyCallback *cb)
{
	int			s;
	bool		terminal_event = false;

	for (s = 0; s < SLOT_COUNT; s++)
	{
		IdenfyValue *v = &cb->v[s];

		if (!v->present || v->vocab == VOCAB_NONE)
			continue;
		if (v->list == NIL && v->label.raw != NULL)
		{
			v->label.oid = IdenfyVocabLookup(v->vocab, v->label.raw);
			if (!OidIsValid(v->label.oid))
				AddUnknown(cb, v, v->label.raw);
		}
		else if (v->list != NIL)
		{
			ListCell   *lc;
			int			i = 0;

			v->oids = palloc(sizeof(Oid) * list_length(v->list));
			foreach(lc, v->list)
			{
				char	   *label = lfirst(lc);

				v->oids[i] = IdenfyVocabLookup(v->vocab, label);
				if (!OidIsValid(v->oids[i]))
					AddUnknown(cb, v, label);
				i++;
			}
		}
	}

	/* The header: an unknown event type stays in callback.event_type_raw. */
	if (cb->event_type.raw != NULL)
	{
		const char *e = cb->event_type.raw;

		cb->event_type.oid = IdenfyVocabLookup(VOCAB_EVENT_TYPE, e);
		cb->cancelled = strcmp(e, "IDENTIFICATION_CANCELLED") == 0;
		cb->resubmitted = strcmp(e, "IDENTIFICATION_RESUBMITTED") == 0;
		terminal_event = cb->cancelled || strcmp(e, "IDENTIFICATION_EXPIRED") == 0;
	}

	/*
	 * A missing "final" is false, except on a cancelled or expired session,
	 * which is over by definition (README: ordering rules).
	 */
	if (cb->v[SLOT_FINAL].present)
		cb->final = cb->v[SLOT_FINAL].boolean;
	else
		cb->final = terminal_event;
	cb->has_manual = cb->v[SLOT_MANUAL_FACE].present ||
		cb->v[SLOT_MANUAL_DOCUMENT].present;
}

/* ------------------------------------------------------------------------
 * Country codes: ISO 3166-1 alpha-2, officially assigned, plus XK (Kosovo,
 * user-assigned but used by issuers of identity documents).
 * ------------------------------------------------------------------------ */
static const char country_codes[] =
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI "
	"BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN "
	"CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK "
	"FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM "
	"HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
	"KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK "
	"ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP "
	"NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW "
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF "
	"TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
	"VN VU WF WS YE YT ZA ZM ZW XK";

bool
IdenfyIsCountryCode(const char *s, int len)
{
	static bool table[26][26];
	static bool built = false;

	if (!built)
	{
		const char *p;

		for (p = country_codes; p[0] && p[1]; p += 3)
		{
			table[p[0] - 'A'][p[1] - 'A'] = true;
			if (p[2] == '\0')
				break;
		}
		built = true;
	}
	if (len != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z')
		return false;
	return table[s[0] - 'A'][s[1] - 'A'];
}
