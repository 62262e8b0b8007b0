#!/bin/sh
# The image's entry point. With no arguments it serves the project on $PORT (default 8080) on
# every interface, giving requests in flight 8 s to finish on SIGTERM (before the usual 10 s
# stop timeout); with arguments it runs that command (`docker run IMAGE doctor`).
set -eu
if [ "$#" -gt 0 ]; then
  exec /usr/local/bin/demo "$@"
fi
exec /usr/local/bin/demo serve --host 0.0.0.0 --port "${PORT:-8080}" --grace 8
