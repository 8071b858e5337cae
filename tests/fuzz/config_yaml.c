/* Fuzz target: the YAML configuration loader and validation. */
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	struct config_error err;
	config_init(&c);
	if (config_load_yaml(&c, (const char *)data, size, "fuzz.yaml", &err) == 0)
		(void)config_validate(&c, &err);
	config_release(&c);
	return 0;
}
