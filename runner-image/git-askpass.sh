#!/bin/sh
# GIT_ASKPASS helper: git runs it with the prompt as $1 and reads the answer from stdout.
# The token comes from the environment only, so it never appears in a URL, argv or log line.
case "$1" in
  Username*) printf '%s\n' "${GIT_USERNAME:-x-access-token}" ;;
  *) printf '%s\n' "$GIT_TOKEN" ;;
esac
