#include "util/parse.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "util/error.h"

/* Reads the leading decimal digits of s into *v; returns the rest. */
static const char *parse_digits(const char *s, uint64_t *v, bool *ok)
{
	uint64_t n = 0;
	const char *p = s;
	*ok = false;
	while (*p >= '0' && *p <= '9') {
		unsigned d = (unsigned)(*p - '0');
		if (n > (UINT64_MAX - d) / 10)
			return s;
		n = n * 10 + d;
		p++;
	}
	if (p == s)
		return s;
	*ok = true;
	*v = n;
	return p;
}

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	uint64_t v;
	bool ok;
	if (!s)
		return HQ_E_INVAL;
	const char *end = parse_digits(s, &v, &ok);
	if (!ok || *end != '\0' || v < min || v > max)
		return HQ_E_INVAL;
	*ret = v;
	return 0;
}

int parse_port(const char *s, uint16_t *ret)
{
	uint64_t v;
	if (parse_u64(s, 1, 65535, &v) < 0)
		return HQ_E_INVAL;
	*ret = (uint16_t)v;
	return 0;
}

int parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };
	if (!s)
		return HQ_E_INVAL;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return HQ_E_INVAL;
}

struct unit {
	const char *name;
	uint64_t mult;
};

static int parse_with_units(const char *s, const struct unit *units, size_t n,
			    uint64_t bare_mult, uint64_t *ret)
{
	uint64_t v;
	bool ok;
	if (!s)
		return HQ_E_INVAL;
	const char *rest = parse_digits(s, &v, &ok);
	if (!ok)
		return HQ_E_INVAL;
	uint64_t mult = 0;
	if (*rest == '\0') {
		mult = bare_mult;
	} else {
		for (size_t i = 0; i < n; i++) {
			if (strcmp(rest, units[i].name) == 0) {
				mult = units[i].mult;
				break;
			}
		}
	}
	if (mult == 0 || (v != 0 && v > UINT64_MAX / mult))
		return HQ_E_INVAL;
	*ret = v * mult;
	return 0;
}

int parse_duration_ms(const char *s, uint64_t *ret)
{
	static const struct unit units[] = {
		{ "ms", 1 },	       { "s", 1000 },	      { "m", 60000 },
		{ "h", 3600000 },      { "d", 86400000 },
	};
	return parse_with_units(s, units, sizeof(units) / sizeof(units[0]), 1000,
				ret);
}

int parse_size(const char *s, uint64_t *ret)
{
	static const struct unit units[] = {
		{ "B", 1 },
		{ "K", 1024 },
		{ "KiB", 1024 },
		{ "KB", 1000 },
		{ "M", 1024 * 1024 },
		{ "MiB", 1024 * 1024 },
		{ "MB", 1000 * 1000 },
		{ "G", 1024ull * 1024 * 1024 },
		{ "GiB", 1024ull * 1024 * 1024 },
		{ "GB", 1000ull * 1000 * 1000 },
	};
	return parse_with_units(s, units, sizeof(units) / sizeof(units[0]), 1, ret);
}
