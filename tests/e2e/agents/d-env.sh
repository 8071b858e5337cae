#!/bin/sh
# Dispatch e2e: prints the environment hookq started it with, one variable
# a line, as the kernel has it (so the shell adds nothing).
cat >/dev/null
tr '\0' '\n' <"/proc/$$/environ"
