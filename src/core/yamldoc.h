/* yamldoc: a YAML document being read into one of hookq's tables (routes,
 * agents), with the helpers those readers share: node lookup, mapping
 * keys checked against a list, and "file:line:column: where: what"
 * errors. Pure: the YAML text comes in. */
#ifndef HOOKQ_CORE_YAMLDOC_H
#define HOOKQ_CORE_YAMLDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

struct yamldoc {
	yaml_document_t doc;
	const char *file; /* the name errors start with */
	char *err;
	size_t err_size;
	bool loaded;
};

/* Parses text (len bytes) into d->doc; errors name file and go to err
 * (the caller's buffer, kept in d for yamldoc_fail()). HQ_E_CONFIG with
 * "file:line:column: problem" in err when text is not YAML, HQ_E_NOMEM;
 * nothing is left to release then. */
int yamldoc_load(struct yamldoc *d, const char *text, size_t len, const char *file, char *err,
		 size_t err_size);
/* Frees the document; accepts a document that did not load. */
void yamldoc_release(struct yamldoc *d);

/* Writes "file:line:column: where: what" (or "file: where: what" without
 * a node) to the error buffer, what from fmt. Returns HQ_E_CONFIG. */
int yamldoc_fail(struct yamldoc *d, const yaml_node_t *node, const char *where, const char *fmt,
		 ...) __attribute__((format(printf, 4, 5)));

/* The node at index, or NULL. */
yaml_node_t *yamldoc_node(struct yamldoc *d, int index);

/* The value of key in a mapping (the first when it is there twice), or
 * NULL. */
yaml_node_t *yamldoc_map_get(struct yamldoc *d, yaml_node_t *map, const char *key);

/* Every key of map must be a plain name, one of known (NULL-terminated),
 * and there once; otherwise yamldoc_fail() says which key is wrong. */
int yamldoc_map_keys(struct yamldoc *d, yaml_node_t *map, const char *where,
		     const char *const *known);

#endif
