#include "core/yamldoc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

int yamldoc_load(struct yamldoc *d, const char *text, size_t len, const char *file, char *err,
		 size_t err_size)
{
	d->file = file;
	d->err = err;
	d->err_size = err_size;
	d->loaded = false;
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		return HQ_E_NOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &d->doc)) {
		snprintf(err, err_size, "%s:%zu:%zu: %s", file, parser.problem_mark.line + 1,
			 parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		return HQ_E_CONFIG;
	}
	yaml_parser_delete(&parser);
	d->loaded = true;
	return 0;
}

void yamldoc_release(struct yamldoc *d)
{
	if (!d || !d->loaded)
		return;
	yaml_document_delete(&d->doc);
	d->loaded = false;
}

int yamldoc_fail(struct yamldoc *d, const yaml_node_t *node, const char *where, const char *fmt,
		 ...)
{
	/* Room for the longest message of route.c and agent.c: what they
	 * quote from the file is cut (%.64s) or bounded by its checks. */
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (n < 0)
		what[0] = '\0';
	if (node)
		snprintf(d->err, d->err_size, "%s:%zu:%zu: %s: %s", d->file,
			 node->start_mark.line + 1, node->start_mark.column + 1, where, what);
	else
		snprintf(d->err, d->err_size, "%s: %s: %s", d->file, where, what);
	return HQ_E_CONFIG;
}

yaml_node_t *yamldoc_node(struct yamldoc *d, int index)
{
	return yaml_document_get_node(&d->doc, index);
}

yaml_node_t *yamldoc_map_get(struct yamldoc *d, yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yamldoc_node(d, p->key);
		if (k && k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, key) == 0)
			return yamldoc_node(d, p->value);
	}
	return NULL;
}

int yamldoc_map_keys(struct yamldoc *d, yaml_node_t *map, const char *where,
		     const char *const *known)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yamldoc_node(d, p->key);
		if (!k || k->type != YAML_SCALAR_NODE)
			return yamldoc_fail(d, k, where, "keys must be plain names");
		const char *name = (const char *)k->data.scalar.value;
		bool ok = false;
		for (const char *const *q = known; *q && !ok; q++)
			ok = strcmp(*q, name) == 0;
		if (!ok) {
			char list[256] = "";
			for (const char *const *q = known; *q; q++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 q == known ? "" : ", ", *q);
			return yamldoc_fail(d, k, where, "unknown key '%.64s' (expected %s)", name,
					    list);
		}
		for (yaml_node_pair_t *o = map->data.mapping.pairs.start; o < p; o++) {
			yaml_node_t *other = yamldoc_node(d, o->key);
			if (other && other->type == YAML_SCALAR_NODE &&
			    strcmp((const char *)other->data.scalar.value, name) == 0)
				return yamldoc_fail(d, k, where, "duplicate key '%.64s'", name);
		}
	}
	return 0;
}
