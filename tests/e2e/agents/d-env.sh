#!/bin/sh
# Dispatch e2e: prints the environment hookq started it with (NUL-separated
# as the kernel has it, so the shell adds nothing).
cat >/dev/null
cat "/proc/$$/environ"
