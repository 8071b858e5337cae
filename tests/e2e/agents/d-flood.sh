#!/bin/sh
# Dispatch e2e: writes exactly 5,000,000 bytes: 500,000 numbered lines of 10.
cat >/dev/null
seq -f '%09g' 1 500000
